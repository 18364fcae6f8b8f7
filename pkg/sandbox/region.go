package sandbox

import (
	"context"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/automation"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// regionState is what the sandbox keeps per account-region beyond the fake
// model: Run Command and Automation stores, pending metadata changes and
// the metrics PutMetricData received.
type regionState struct {
	clients    *awsapi.Clients
	region     *fake.Region
	commands   *host.Commands
	automation *automation.Store
	// pending maps instance ids to when their metadata change applies.
	pending map[string]time.Time
	// metrics are the data points PutMetricData received, by namespace.
	metrics map[string][]cwtypes.MetricDatum
}

func (r *regionState) close() { r.automation.Close() }

// state returns the account-region's state, creating the region in the
// model if the scenario did not have it (AWS answers empty lists there).
func (s *Sandbox) state(account, region string) *regionState {
	key := account + "/" + region
	s.regionsMu.Lock()
	defer s.regionsMu.Unlock()
	if r, ok := s.regions[key]; ok {
		return r
	}
	s.mu.Lock()
	fr := s.fleet.Region(account, region)
	clients, _ := s.prov.Clients(context.Background(), account, region)
	s.mu.Unlock()
	r := &regionState{clients: clients, region: fr, pending: map[string]time.Time{}, metrics: map[string][]cwtypes.MetricDatum{}}
	r.commands = host.NewCommands(account, region, s.opts.Runner, s.now)
	r.commands.SetDocumentSource(s.document)
	r.automation = automation.NewStore(account, region, s.document, &invoker{s: s, account: account, region: region}, &commander{s: s, account: account, region: region}, s.opts.AutomationClock)
	s.regions[key] = r
	return r
}

// bucketClass is the class bucket of an EC2 call.
func bucketClass(service, op string, in any) string {
	if service != "ec2" {
		return ""
	}
	if di, ok := in.(*ec2.DescribeInstancesInput); ok && len(di.Filters) == 0 && len(di.InstanceIds) == 0 && di.MaxResults == nil {
		return "ec2:unfiltered"
	}
	if strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") {
		return "ec2:non-mutating"
	}
	return "ec2:mutating"
}
