package checks

import (
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Scope is what a check sees while it evaluates one account-region: the
// policy, the clock, the region and its account. It also caches facts that
// several checks derive from the same data (a role's SSM permissions, a
// subnet's path to the endpoints), so each is worked out once per region.
//
// The caches are filled lazily by the first check that asks. A Scope belongs
// to one evaluation of one region and is not safe for concurrent use.
type Scope struct {
	Config  *Config
	Now     time.Time
	Window  time.Duration
	Account *inventory.Account
	Region  *inventory.Region

	// Credentials (credentials.go): IAM is read once per account, but a
	// region's instances use a few dozen profiles at most, so resolving them
	// per region keeps the caches small and the lookups cheap.
	profiles map[string]*profileView
	roles    map[string]*roleView
	dhmc     *dhmcView
	irsaOnly map[string]bool

	// Network (netpath.go): every instance of a subnet shares its route
	// table, NACL and VPC endpoints, so paths are worked out per subnet.
	vpcs    map[string]*vpcView
	subnets map[string]*subnetView
	nacls   map[naclKey]naclVerdict
}

func newScope(cfg *Config, snap *inventory.Snapshot, acct *inventory.Account, region *inventory.Region) *Scope {
	return &Scope{Config: cfg, Now: cfg.Now, Window: snap.MetricWindow, Account: acct, Region: region}
}

// age is how long ago t was, or false when t is unknown.
func (s *Scope) age(t time.Time) (time.Duration, bool) {
	if t.IsZero() {
		return 0, false
	}
	return s.Now.Sub(t), true
}
