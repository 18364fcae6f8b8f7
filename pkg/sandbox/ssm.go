package sandbox

import (
	"bytes"
	"context"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/wire"
)

func (s *Sandbox) ssmRoutes() map[string]handler {
	routes := map[string]handler{
		"DescribeInstanceInformation": op(func(c *call, in *ssm.DescribeInstanceInformationInput) (*ssm.DescribeInstanceInformationOutput, error) {
			st := s.state(c.account, c.region)
			s.mu.RLock()
			defer s.mu.RUnlock()
			return st.clients.SSM.DescribeInstanceInformation(c.ctx, in)
		}),
		"GetServiceSetting":    op(s.getServiceSetting),
		"UpdateServiceSetting": op(s.updateServiceSetting),
		"SendCommand":          op(s.sendCommand),
		"ListCommandInvocations": op(func(c *call, in *ssm.ListCommandInvocationsInput) (*ssm.ListCommandInvocationsOutput, error) {
			return s.state(c.account, c.region).commands.ListCommandInvocations(c.ctx, in)
		}),
		"GetCommandInvocation": op(func(c *call, in *ssm.GetCommandInvocationInput) (*ssm.GetCommandInvocationOutput, error) {
			return s.state(c.account, c.region).commands.GetCommandInvocation(c.ctx, in)
		}),
		"StartAutomationExecution": op(func(c *call, in *ssm.StartAutomationExecutionInput) (*ssm.StartAutomationExecutionOutput, error) {
			return s.state(c.account, c.region).automation.StartAutomationExecution(c.ctx, in)
		}),
		"GetAutomationExecution": op(func(c *call, in *ssm.GetAutomationExecutionInput) (*ssm.GetAutomationExecutionOutput, error) {
			return s.state(c.account, c.region).automation.GetAutomationExecution(c.ctx, in)
		}),
	}
	maps.Copy(routes, s.documentRoutes()) // CreateDocument, UpdateDocument, ... (documents.go)
	return routes
}

func (s *Sandbox) getServiceSetting(c *call, in *ssm.GetServiceSettingInput) (*ssm.GetServiceSettingOutput, error) {
	st := s.state(c.account, c.region)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return st.clients.SSM.GetServiceSetting(c.ctx, in)
}

// updateServiceSetting changes the DHMC setting, the one service setting
// fleetdoctor writes. Its value is a role name (or path/name) or "$None".
func (s *Sandbox) updateServiceSetting(c *call, in *ssm.UpdateServiceSettingInput) (*ssm.UpdateServiceSettingOutput, error) {
	st := s.state(c.account, c.region)
	id, v := aws.ToString(in.SettingId), aws.ToString(in.SettingValue)
	if id != inventory.DHMCSettingID {
		return nil, apiError("ServiceSettingNotFound", "The service setting %s was not found.", id)
	}
	if v == "" {
		return nil, apiError("ValidationException", "1 validation error detected: Value at 'settingValue' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == "$None" {
		v = ""
	}
	st.region.DHMC = v
	return &ssm.UpdateServiceSettingOutput{}, nil
}

// target is what Run Command knows of an instance. Callers hold no lock.
func (s *Sandbox) target(account, region string, st *regionState, id string) (host.Target, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := findInstance(st.region, id)
	if i < 0 {
		return host.Target{}, false
	}
	inst := st.region.Instances[i]
	f := host.Facts{InstanceID: id, Region: region, Platform: "Linux", Now: s.now(), State: s.world.Hosts[id]}
	if inst.Platform == ec2types.PlatformValuesWindows {
		f.Platform = "Windows"
	}
	if mo := inst.MetadataOptions; mo != nil {
		f.HTTPEndpoint, f.HTTPTokens, f.HopLimit = string(mo.HttpEndpoint), string(mo.HttpTokens), aws.ToInt32(mo.HttpPutResponseHopLimit)
	}
	f.HasCredentials = s.hasCredentials(account, st, inst)
	t := host.Target{Facts: f}
	for _, m := range st.region.Managed {
		if aws.ToString(m.InstanceId) == id {
			t.Registered = true
			t.Online = m.PingStatus == ssmtypes.PingStatusOnline
			f.AgentVersion = aws.ToString(m.AgentVersion)
			t.Facts = f
		}
	}
	return t, true
}

// hasCredentials says whether the agent can get credentials: an instance
// profile with a role that exists, or a DHMC role set for the region.
func (s *Sandbox) hasCredentials(account string, st *regionState, inst ec2types.Instance) bool {
	if inst.IamInstanceProfile != nil {
		m := s.fleet.Accounts[account].IAM
		a := aws.ToString(inst.IamInstanceProfile.Arn)
		name := a[strings.LastIndex(a, "/")+1:]
		if p, ok := m.Profiles[name]; ok {
			for _, r := range p.Roles {
				if _, ok := m.Roles[r]; ok {
					return true
				}
			}
		}
		return false
	}
	return st.region.DHMC != ""
}

func (s *Sandbox) sendCommand(c *call, in *ssm.SendCommandInput) (*ssm.SendCommandOutput, error) {
	st := s.state(c.account, c.region)
	lookup := func(id string) (host.Target, bool) { return s.target(c.account, c.region, st, id) }
	return st.commands.SendCommand(c.ctx, in, lookup, s.putObject)
}

// putObject stores command output in the sandbox's S3.
func (s *Sandbox) putObject(bucket, key string, body []byte) error {
	_, err := s.s3backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil)
	return err
}

// document serves Options.Documents and fleetdoctor's own documents.
func (s *Sandbox) document(name string) ([]byte, bool) {
	if b, ok := s.opts.Documents[name]; ok {
		return b, true
	}
	b, err := documents.Read(name)
	return b, err == nil
}

// invoker lets Automation's aws:executeAwsApi call the sandbox's own
// handlers by service and API name, with the step's inputs decoded
// strictly into the SDK's input type — a wrong API or parameter name fails
// the step as it fails on AWS.
type invoker struct {
	s               *Sandbox
	account, region string
}

var runbookServices = map[string]string{"ec2": "ec2", "ssm": "ssm", "iam": "iam", "sts": "sts", "cloudwatch": "monitoring", "sns": "sns"}

// Invoke implements automation.Invoker.
func (v *invoker) Invoke(ctx context.Context, service, api string, input map[string]any) (map[string]any, error) {
	svc, ok := runbookServices[service]
	if !ok {
		return nil, apiError("InvalidAutomationExecutionParametersException", "Service %q is not supported by aws:executeAwsApi in the sandbox", service)
	}
	h, ok := v.s.handlers[svc][api]
	if !ok {
		return nil, apiError("InvalidAction", "%s has no API named %q", service, api)
	}
	in := h.input()
	if err := wire.FromMap(input, in); err != nil {
		return nil, asAPIError(err, invalidCode(svc))
	}
	region := v.region
	if svc == "iam" || svc == "sts" {
		region = "us-east-1"
	}
	c := &call{ctx: ctx, s: v.s, service: svc, op: api, account: v.account, region: region,
		principal: principal{Account: v.account, ARN: "arn:aws:sts::" + v.account + ":assumed-role/FleetDoctorAutomation/automation"}}
	out, err := v.s.dispatch(c, h, in, false)
	if err != nil {
		return nil, err
	}
	return wire.ToMap(out)
}

// commander lets Automation's aws:runCommand use Run Command.
type commander struct {
	s               *Sandbox
	account, region string
}

// RunCommand implements automation.Commander: send, then wait until every
// invocation is terminal (RunCommandResult, reduced to the status).
func (m *commander) RunCommand(ctx context.Context, document string, ids []string, params map[string][]string) (string, error) {
	res, err := m.RunCommandResult(ctx, document, ids, params)
	return res.Status, err
}
