package test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// awsBin is the Debian package's AWS CLI v2. The path is fixed so the test
// never picks up some other aws on PATH (a pyenv shim of CLI v1, say).
const awsBin = "/usr/bin/aws"

// TestAWSCLI drives the sandbox serving the demo world with the real AWS
// CLI, an independent client written in another language with its own
// serializers, paginators and signers. Every expected value is read from
// the world before the first call.
func TestAWSCLI(t *testing.T) {
	if _, err := os.Stat(awsBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the AWS CLI is required under CI=true: %v", err)
		}
		t.Skipf("no AWS CLI at %s (install the awscli package): %v", awsBin, err)
	}
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{World: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	acct, region := w.CallerAccount, w.Regions[0]
	member := ""
	for _, a := range w.Accounts {
		if a != acct {
			member = a
			break
		}
	}
	if member == "" {
		t.Fatal("the demo world has no member account")
	}
	e := expectFrom(t, w.Fleet, acct, region)
	cli := &awsCLI{url: sb.URL(), region: region}

	t.Run("ec2", func(t *testing.T) {
		t.Run("describe-instances running, paginated", func(t *testing.T) {
			t.Parallel()
			var out struct {
				Reservations []struct{ Instances []ec2types.Instance }
			}
			cli.ok(t, &out, nil, "ec2", "describe-instances",
				"--filters", "Name=instance-state-name,Values=running", "--page-size", "1000")
			n := 0
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					n++
					if in.State == nil || in.State.Name != ec2types.InstanceStateNameRunning {
						t.Errorf("%s is not running: %+v", aws.ToString(in.InstanceId), in.State)
					}
				}
			}
			if n != e.running {
				t.Errorf("%d running instances, the world has %d", n, e.running)
			}
		})
		t.Run("describe-vpcs", func(t *testing.T) {
			t.Parallel()
			var out struct{ Vpcs []ec2types.Vpc }
			cli.ok(t, &out, nil, "ec2", "describe-vpcs")
			sameIDs(t, "VPCs", ids(out.Vpcs, func(v ec2types.Vpc) *string { return v.VpcId }), e.vpcs)
		})
		t.Run("describe-vpc-attribute enableDnsSupport", func(t *testing.T) {
			t.Parallel()
			var out struct {
				VpcID            string               `json:"VpcId"`
				EnableDNSSupport struct{ Value bool } `json:"EnableDnsSupport"`
			}
			cli.ok(t, &out, nil, "ec2", "describe-vpc-attribute", "--vpc-id", e.vpcs[0], "--attribute", "enableDnsSupport")
			if out.VpcID != e.vpcs[0] || out.EnableDNSSupport.Value != e.dnsSupport {
				t.Errorf("got %+v, want %s enableDnsSupport=%v", out, e.vpcs[0], e.dnsSupport)
			}
		})
		t.Run("describe-subnets", func(t *testing.T) {
			t.Parallel()
			var out struct{ Subnets []ec2types.Subnet }
			cli.ok(t, &out, nil, "ec2", "describe-subnets")
			sameIDs(t, "subnets", ids(out.Subnets, func(v ec2types.Subnet) *string { return v.SubnetId }), e.subnets)
		})
		t.Run("describe-route-tables", func(t *testing.T) {
			t.Parallel()
			var out struct{ RouteTables []ec2types.RouteTable }
			cli.ok(t, &out, nil, "ec2", "describe-route-tables")
			sameIDs(t, "route tables", ids(out.RouteTables, func(v ec2types.RouteTable) *string { return v.RouteTableId }), e.routeTables)
		})
		t.Run("describe-vpc-endpoints", func(t *testing.T) {
			t.Parallel()
			var out struct{ VpcEndpoints []ec2types.VpcEndpoint }
			cli.ok(t, &out, nil, "ec2", "describe-vpc-endpoints")
			sameIDs(t, "endpoints", ids(out.VpcEndpoints, func(v ec2types.VpcEndpoint) *string { return v.VpcEndpointId }), e.endpoints)
		})
		t.Run("describe-security-groups", func(t *testing.T) {
			t.Parallel()
			var out struct{ SecurityGroups []ec2types.SecurityGroup }
			cli.ok(t, &out, nil, "ec2", "describe-security-groups")
			sameIDs(t, "security groups", ids(out.SecurityGroups, func(v ec2types.SecurityGroup) *string { return v.GroupId }), e.sgs)
		})
		t.Run("describe-network-acls", func(t *testing.T) {
			t.Parallel()
			var out struct{ NetworkAcls []ec2types.NetworkAcl }
			cli.ok(t, &out, nil, "ec2", "describe-network-acls")
			sameIDs(t, "network ACLs", ids(out.NetworkAcls, func(v ec2types.NetworkAcl) *string { return v.NetworkAclId }), e.nacls)
		})
		t.Run("modify-instance-metadata-options then describe", func(t *testing.T) {
			t.Parallel()
			var mod struct {
				InstanceID              string `json:"InstanceId"`
				InstanceMetadataOptions struct {
					HTTPTokens string `json:"HttpTokens"`
				}
			}
			cli.ok(t, &mod, nil, "ec2", "modify-instance-metadata-options", "--instance-id", e.modifyTarget, "--http-tokens", e.modifyTo)
			if mod.InstanceID != e.modifyTarget || mod.InstanceMetadataOptions.HTTPTokens != e.modifyTo {
				t.Errorf("modify answered %+v", mod)
			}
			if got := cli.httpTokens(t, e.modifyTarget); got != e.modifyTo {
				t.Errorf("after modify, %s has HttpTokens %q, want %s", e.modifyTarget, got, e.modifyTo)
			}
		})
		t.Run("describe-iam-instance-profile-associations", func(t *testing.T) {
			t.Parallel()
			var out struct {
				IamInstanceProfileAssociations []ec2types.IamInstanceProfileAssociation
			}
			cli.ok(t, &out, nil, "ec2", "describe-iam-instance-profile-associations")
			got := map[string]string{}
			for _, a := range out.IamInstanceProfileAssociations {
				if a.IamInstanceProfile == nil {
					t.Fatalf("association without a profile: %+v", a)
				}
				got[aws.ToString(a.InstanceId)] = aws.ToString(a.IamInstanceProfile.Arn)
			}
			if !maps.Equal(got, e.associations) {
				t.Errorf("%d associations, the world has %d instances with a profile (or the ARNs differ)", len(got), len(e.associations))
			}
		})
	})

	t.Run("ssm", func(t *testing.T) {
		t.Run("describe-instance-information pages through", func(t *testing.T) {
			t.Parallel()
			var out struct {
				InstanceInformationList []ssmtypes.InstanceInformation
			}
			cli.ok(t, &out, nil, "ssm", "describe-instance-information")
			if len(out.InstanceInformationList) != e.managed {
				t.Errorf("%d registrations, the world has %d", len(out.InstanceInformationList), e.managed)
			}
		})
		t.Run("get-service-setting DHMC", func(t *testing.T) {
			t.Parallel()
			var out struct {
				ServiceSetting struct{ SettingID, SettingValue string }
			}
			cli.ok(t, &out, nil, "ssm", "get-service-setting", "--setting-id", "/ssm/managed-instance/default-ec2-instance-management-role")
			if out.ServiceSetting.SettingValue != e.dhmc {
				t.Errorf("setting value %q, want %q", out.ServiceSetting.SettingValue, e.dhmc)
			}
		})
		t.Run("send-command", func(t *testing.T) {
			t.Parallel()
			for _, doc := range []string{"FleetDoctor-DiagnoseHost", "AWS-RunShellScript"} {
				var out struct{ Command ssmtypes.Command }
				args := []string{"ssm", "send-command", "--document-name", doc, "--instance-ids", e.online[0]}
				if doc == "AWS-RunShellScript" {
					args = append(args, "--parameters", `{"commands":["echo hello"]}`)
				}
				cli.ok(t, &out, nil, args...)
				if aws.ToString(out.Command.CommandId) == "" || aws.ToString(out.Command.DocumentName) != doc {
					t.Errorf("%s: command %+v", doc, out.Command)
				}
			}
			r := cli.run(t, nil, "ssm", "send-command", "--document-name", "FleetDoctor-NoSuchDocument", "--instance-ids", e.online[0])
			if r.code == 0 || !strings.Contains(r.stderr, "InvalidDocument") {
				t.Errorf("unknown document: exit %d, stderr:\n%s", r.code, r.stderr)
			}
		})
		t.Run("automation FleetDoctor-SetMetadataOptions", func(t *testing.T) {
			t.Parallel()
			target := e.automationTarget
			params, _ := json.Marshal(map[string][]string{
				"InstanceIds":          {target},
				"HttpTokens":           {"required"},
				"AutomationAssumeRole": {"arn:aws:iam::" + acct + ":role/" + w.AutomationRole},
			})
			var start struct {
				AutomationExecutionID string `json:"AutomationExecutionId"`
			}
			cli.ok(t, &start, nil, "ssm", "start-automation-execution", "--document-name", "FleetDoctor-SetMetadataOptions", "--parameters", string(params))
			if start.AutomationExecutionID == "" {
				t.Fatal("no execution id")
			}
			status := ""
			var failure string
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				var got struct {
					AutomationExecution struct{ AutomationExecutionStatus, FailureMessage string }
				}
				cli.ok(t, &got, nil, "ssm", "get-automation-execution", "--automation-execution-id", start.AutomationExecutionID)
				status, failure = got.AutomationExecution.AutomationExecutionStatus, got.AutomationExecution.FailureMessage
				if slices.Contains([]string{"Success", "Failed", "TimedOut", "Cancelled", "CompletedWithFailure"}, status) {
					break
				}
			}
			if status != "Success" {
				t.Fatalf("automation ended %q: %s", status, failure)
			}
			if got := cli.httpTokens(t, target); got != "required" {
				t.Errorf("after the runbook, %s has HttpTokens %q, want required", target, got)
			}
		})
	})

	t.Run("iam", func(t *testing.T) {
		t.Run("get-instance-profile", func(t *testing.T) {
			t.Parallel()
			var out struct {
				InstanceProfile struct {
					InstanceProfileName string
					Roles               []struct{ RoleName string }
				}
			}
			cli.ok(t, &out, nil, "iam", "get-instance-profile", "--instance-profile-name", e.profile.Name)
			var roles []string
			for _, r := range out.InstanceProfile.Roles {
				roles = append(roles, r.RoleName)
			}
			if out.InstanceProfile.InstanceProfileName != e.profile.Name || !slices.Equal(roles, e.profile.Roles) {
				t.Errorf("got %+v, want %+v", out.InstanceProfile, e.profile)
			}
		})
		t.Run("get-role and its policies", func(t *testing.T) {
			t.Parallel()
			var role struct {
				Role struct{ RoleName, Arn string }
			}
			cli.ok(t, &role, nil, "iam", "get-role", "--role-name", e.role.Name)
			if role.Role.RoleName != e.role.Name || !strings.HasSuffix(role.Role.Arn, ":role/"+e.role.Name) {
				t.Errorf("get-role: %+v", role.Role)
			}
			var att struct{ AttachedPolicies []struct{ PolicyArn string } }
			cli.ok(t, &att, nil, "iam", "list-attached-role-policies", "--role-name", e.role.Name)
			var arns []string
			for _, p := range att.AttachedPolicies {
				arns = append(arns, p.PolicyArn)
			}
			sameIDs(t, "attached policies", arns, e.role.Attached)
			var inl struct{ PolicyNames []string }
			cli.ok(t, &inl, nil, "iam", "list-role-policies", "--role-name", e.role.Name)
			sameIDs(t, "inline policies", inl.PolicyNames, slices.Collect(maps.Keys(e.role.Inline)))
		})
		t.Run("get-policy and get-policy-version", func(t *testing.T) {
			t.Parallel()
			var pol struct {
				Policy struct {
					Arn              string
					DefaultVersionID string `json:"DefaultVersionId"`
				}
			}
			cli.ok(t, &pol, nil, "iam", "get-policy", "--policy-arn", fake.CorePolicyARN)
			if pol.Policy.Arn != fake.CorePolicyARN || pol.Policy.DefaultVersionID == "" {
				t.Fatalf("get-policy: %+v", pol.Policy)
			}
			var ver struct{ PolicyVersion struct{ Document any } }
			cli.ok(t, &ver, nil, "iam", "get-policy-version", "--policy-arn", fake.CorePolicyARN, "--version-id", pol.Policy.DefaultVersionID)
			got := ver.PolicyVersion.Document
			if s, ok := got.(string); ok { // a CLI that does not decode the URL-encoded document
				if err := json.Unmarshal([]byte(s), &got); err != nil {
					t.Fatalf("document is not JSON: %q", s)
				}
			}
			var want any
			if err := json.Unmarshal([]byte(e.coreDoc), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("document\n%v\nwant\n%v", got, want)
			}
		})
	})

	t.Run("sts", func(t *testing.T) {
		t.Run("get-caller-identity", func(t *testing.T) {
			t.Parallel()
			var out struct{ Account, Arn string }
			cli.ok(t, &out, nil, "sts", "get-caller-identity")
			if out.Account != w.CallerAccount {
				t.Errorf("account %q, want %q", out.Account, w.CallerAccount)
			}
		})
		t.Run("assume-role into the member account", func(t *testing.T) {
			t.Parallel()
			var raw struct {
				Credentials struct {
					AccessKeyID     string `json:"AccessKeyId"`
					SecretAccessKey string
					SessionToken    string
				}
			}
			cli.ok(t, &raw, nil, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+member+":role/"+w.AuditRole, "--role-session-name", "awscli-test")
			c := raw.Credentials
			if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
				t.Fatalf("credentials: %+v", c)
			}
			var who struct{ Account string }
			cli.ok(t, &who, []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey, "AWS_SESSION_TOKEN=" + c.SessionToken},
				"sts", "get-caller-identity")
			if who.Account != member {
				t.Errorf("assumed identity is in %q, want %q", who.Account, member)
			}
		})
		t.Run("assume-role into a missing role is AccessDenied", func(t *testing.T) {
			t.Parallel()
			r := cli.run(t, nil, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+member+":role/NoSuchRole", "--role-session-name", "awscli-missing")
			if r.code == 0 || !strings.Contains(r.stderr, "AccessDenied") {
				t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
		})
	})

	t.Run("others", func(t *testing.T) {
		t.Run("cloudwatch get-metric-data", func(t *testing.T) {
			t.Parallel()
			q, _ := json.Marshal([]map[string]any{{
				"Id": "m0",
				"MetricStat": map[string]any{
					"Metric": map[string]any{"Namespace": "AWS/EC2", "MetricName": "MetadataNoToken",
						"Dimensions": []map[string]string{{"Name": "InstanceId", "Value": e.online[0]}}},
					"Period": 300, "Stat": "Sum",
				},
			}})
			var out struct {
				MetricDataResults []struct {
					ID     string `json:"Id"`
					Values []float64
				}
			}
			now := time.Now().UTC()
			cli.ok(t, &out, nil, "cloudwatch", "get-metric-data", "--metric-data-queries", string(q),
				"--start-time", now.Add(-time.Hour).Format(time.RFC3339), "--end-time", now.Format(time.RFC3339))
			if len(out.MetricDataResults) != 1 || out.MetricDataResults[0].ID != "m0" {
				t.Errorf("results: %+v", out.MetricDataResults)
			}
		})
		t.Run("sns create-topic and publish", func(t *testing.T) {
			t.Parallel()
			var topic struct{ TopicArn string }
			cli.ok(t, &topic, nil, "sns", "create-topic", "--name", "awscli-test")
			if !strings.HasSuffix(topic.TopicArn, ":awscli-test") || !strings.Contains(topic.TopicArn, ":"+region+":") {
				t.Fatalf("topic ARN %q", topic.TopicArn)
			}
			var pub struct {
				MessageID string `json:"MessageId"`
			}
			cli.ok(t, &pub, nil, "sns", "publish", "--topic-arn", topic.TopicArn, "--message", "hello")
			if pub.MessageID == "" {
				t.Error("no MessageId")
			}
		})
		t.Run("s3api create-bucket, put-object, get-object", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			body := []byte("fleetdoctor " + strconv.FormatInt(time.Now().UnixNano(), 10))
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			if err := os.WriteFile(in, body, 0o600); err != nil {
				t.Fatal(err)
			}
			cli.ok(t, nil, nil, "s3api", "create-bucket", "--bucket", "awscli-test",
				"--create-bucket-configuration", "LocationConstraint="+region)
			var put struct{ ETag string }
			cli.ok(t, &put, nil, "s3api", "put-object", "--bucket", "awscli-test", "--key", "dir/k", "--body", in)
			if put.ETag == "" {
				t.Error("put-object: no ETag")
			}
			var get struct{ ContentLength int }
			cli.ok(t, &get, nil, "s3api", "get-object", "--bucket", "awscli-test", "--key", "dir/k", out)
			got, err := os.ReadFile(out)
			if err != nil || string(got) != string(body) || get.ContentLength != len(body) {
				t.Errorf("get-object: %q (%v), ContentLength %d; want %q", got, err, get.ContentLength, body)
			}
		})
	})
}

// awsCLI runs /usr/bin/aws against the sandbox.
type awsCLI struct{ url, region string }

// run runs the CLI with the sandbox's base credentials unless extra
// overrides them (later entries win in exec's environment).
func (c *awsCLI) run(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	env := append(isolatedEnv(t),
		"AWS_ACCESS_KEY_ID="+sandbox.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+sandbox.SecretAccessKey,
		"AWS_REGION="+c.region,
		"AWS_DEFAULT_REGION="+c.region,
		"AWS_PAGER=",
		"NO_PROXY=127.0.0.1", // the proxies of isolatedEnv still catch anything else
		"no_proxy=127.0.0.1",
	)
	env = append(env, extra...)
	return runCLI(t, awsBin, env, append(args, "--endpoint-url", c.url, "--output", "json")...)
}

// ok runs the CLI, requires exit 0, and decodes stdout into out (if not nil).
func (c *awsCLI) ok(t *testing.T, out any, extra []string, args ...string) {
	t.Helper()
	r := c.run(t, extra, args...)
	if r.code != 0 {
		t.Fatalf("aws %s: exit %d\nstderr:\n%s", strings.Join(args[:2], " "), r.code, r.stderr)
	}
	if out == nil {
		return
	}
	if os.Getenv("AWSCLI_DEBUG") != "" {
		t.Logf("aws %v\nstdout: %q\nstderr: %q", args, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("aws %s: stdout is not the expected JSON: %v\n%s", strings.Join(args[:2], " "), err, r.stdout)
	}
}

// httpTokens describes one instance and returns its HttpTokens.
func (c *awsCLI) httpTokens(t *testing.T, id string) string {
	t.Helper()
	var out struct {
		Reservations []struct{ Instances []ec2types.Instance }
	}
	c.ok(t, &out, nil, "ec2", "describe-instances", "--instance-ids", id)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 || out.Reservations[0].Instances[0].MetadataOptions == nil {
		t.Fatalf("describe %s: %+v", id, out)
	}
	return string(out.Reservations[0].Instances[0].MetadataOptions.HttpTokens)
}

// expected holds what the world says, read before any call changes it.
type expected struct {
	running                                           int
	vpcs, subnets, routeTables, endpoints, sgs, nacls []string
	dnsSupport                                        bool
	associations                                      map[string]string
	managed                                           int
	dhmc                                              string
	online                                            []string // running, Online, HttpTokens optional
	modifyTarget, automationTarget, modifyTo          string
	profile                                           fake.Profile
	role                                              fake.Role
	coreDoc                                           string
}

func expectFrom(t *testing.T, f *fake.Fleet, acct, region string) expected {
	t.Helper()
	a := f.Accounts[acct]
	if a == nil || a.Regions[region] == nil || a.IAM == nil {
		t.Fatalf("the world has no %s/%s", acct, region)
	}
	r := a.Regions[region]
	e := expected{associations: map[string]string{}, managed: len(r.Managed), dhmc: r.DHMC}
	if e.dhmc == "" {
		e.dhmc = "$None"
	}
	pinged := map[string]bool{}
	for _, m := range r.Managed {
		pinged[aws.ToString(m.InstanceId)] = m.PingStatus == ssmtypes.PingStatusOnline
	}
	for _, in := range r.Instances {
		id := aws.ToString(in.InstanceId)
		running := in.State != nil && in.State.Name == ec2types.InstanceStateNameRunning
		if running {
			e.running++
		}
		if in.IamInstanceProfile != nil {
			e.associations[id] = aws.ToString(in.IamInstanceProfile.Arn)
		}
		if running && pinged[id] && in.MetadataOptions != nil {
			// Instances whose tokens are optional go first, so that setting
			// them to required is a visible change.
			if in.MetadataOptions.HttpTokens == ec2types.HttpTokensStateOptional {
				e.online = append([]string{id}, e.online...)
			} else {
				e.online = append(e.online, id)
			}
		}
	}
	if e.running == 0 || len(e.online) < 2 {
		t.Fatalf("%s/%s has %d running instances, %d online with optional tokens; need more", acct, region, e.running, len(e.online))
	}
	e.automationTarget, e.modifyTarget = e.online[0], e.online[len(e.online)-1]
	for _, in := range r.Instances {
		if aws.ToString(in.InstanceId) == e.modifyTarget {
			e.modifyTo = "required"
			if in.MetadataOptions.HttpTokens == ec2types.HttpTokensStateRequired {
				e.modifyTo = "optional"
			}
		}
	}
	e.vpcs = ids(r.VPCs, func(v ec2types.Vpc) *string { return v.VpcId })
	if len(e.vpcs) == 0 {
		t.Fatal("no VPCs")
	}
	e.dnsSupport = r.VPCAttrs[e.vpcs[0]].DNSSupport
	e.subnets = ids(r.Subnets, func(v ec2types.Subnet) *string { return v.SubnetId })
	e.routeTables = ids(r.RouteTables, func(v ec2types.RouteTable) *string { return v.RouteTableId })
	e.endpoints = ids(r.Endpoints, func(v ec2types.VpcEndpoint) *string { return v.VpcEndpointId })
	e.sgs = ids(r.SecurityGroups, func(v ec2types.SecurityGroup) *string { return v.GroupId })
	e.nacls = ids(r.NACLs, func(v ec2types.NetworkAcl) *string { return v.NetworkAclId })
	for _, name := range slices.Sorted(maps.Keys(a.IAM.Profiles)) {
		p := a.IAM.Profiles[name]
		if len(p.Roles) > 0 && a.IAM.Roles[p.Roles[0]] != nil {
			e.profile = fake.Profile{Name: p.Name, Roles: slices.Clone(p.Roles)}
			role := a.IAM.Roles[p.Roles[0]]
			e.role = fake.Role{Name: role.Name, Attached: slices.Clone(role.Attached), Inline: maps.Clone(role.Inline)}
			break
		}
	}
	if e.profile.Name == "" {
		t.Fatal("no instance profile with a role")
	}
	core := a.IAM.Policies[fake.CorePolicyARN]
	if core == nil {
		t.Fatal("no AmazonSSMManagedInstanceCore")
	}
	e.coreDoc = core.Document
	return e
}

func ids[T any](xs []T, id func(T) *string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, aws.ToString(id(x)))
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %d %v, want %d %v", what, len(got), got, len(want), want)
	}
}
