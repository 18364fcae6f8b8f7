package checks

import (
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Scope is what a check sees while it evaluates one account-region: the
// policy, the clock, the region and its account. It also caches facts that
// several checks derive from the same data (a role's SSM permissions, a
// subnet's path to the endpoints), so each is worked out once per region.
type Scope struct {
	Config  *Config
	Now     time.Time
	Window  time.Duration
	Account *inventory.Account
	Region  *inventory.Region
}

func newScope(cfg *Config, snap *inventory.Snapshot, acct *inventory.Account, region *inventory.Region) *Scope {
	return &Scope{Config: cfg, Now: cfg.Now, Window: snap.MetricWindow, Account: acct, Region: region}
}
