package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/documents"
	fd "github.com/fleetdoctor/fleetdoctor/infra/constructs"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	os.Setenv("JSII_DEPRECATED", "quiet")
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// needNode skips (outside CI) when jsii has no node to run the CDK on.
func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required to synthesize the CDK app: %v", err)
		}
		t.Skipf("node not found, cannot synthesize the CDK app: %v", err)
	}
}

// testProps are the props of the synthesized app: remediations enabled so
// the write statements are there to check.
func testProps(t testing.TB, dir string) Props {
	p := Props{
		HubAccount: "111111111111", Region: "eu-west-1",
		Accounts: []string{"222222222222", "333333333333"}, Regions: []string{"eu-west-1", "us-east-1"},
		Schedule: "cron(30 5 ? * MON-FRI *)", TimeZone: "Europe/Paris", Mode: service.ModeDiagnose,
		ExternalID: "fleetdoctor-test-external-id", LambdaDir: dir, DriftThreshold: 25, MaxConcurrency: 12,
		EnabledRemediations: []string{policy.EnableEndpoint, policy.AttachProfile, policy.AccountDefaults, policy.HostAddNoProxy, policy.EnableDHMC},
	}
	p.Defaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

type synthesized struct {
	hub, member         awscdk.Stack
	hubTmpl, memberTmpl assertions.Template
	hubJSON, memberJSON map[string]any
	props               Props
	memberAssets        int
	err                 error
}

var (
	once sync.Once
	app  synthesized
)

// synth builds the app once per test binary (a synthesis takes seconds).
func synth(t *testing.T) *synthesized {
	t.Helper()
	needNode(t)
	once.Do(func() {
		dir, err := os.MkdirTemp("", "fleetdoctor-infra-")
		if err != nil {
			app.err = err
			return
		}
		for _, n := range Lambdas {
			err := os.MkdirAll(dir+"/"+n, 0o755)
			if err == nil {
				err = os.WriteFile(dir+"/"+n+"/bootstrap", []byte("#!/bin/sh\n"), 0o755)
			}
			if err != nil {
				app.err = err
				return
			}
		}
		app.props = testProps(t, dir)
		a := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir + "/cdk.out")})
		hub, member, err := Build(a, app.props)
		if err != nil {
			app.err = err
			return
		}
		app.hub, app.member = hub.Stack, member.Stack
		app.hubTmpl = assertions.Template_FromStack(hub.Stack, nil)
		app.memberTmpl = assertions.Template_FromStack(member.Stack, nil)
		app.hubJSON = *app.hubTmpl.ToJSON()
		app.memberJSON = *app.memberTmpl.ToJSON()
		asm := a.Synth(nil)
		app.memberAssets = len(*asm.GetStackByName(jsii.String(MemberStackName)).Assets())
	})
	if app.err != nil {
		t.Fatal(app.err)
	}
	return &app
}

// check runs an assertions call, turning its panic into a test error.
func check(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func obj(m map[string]any) assertions.Matcher { return assertions.Match_ObjectLike(&m) }

func TestHubResources(t *testing.T) {
	s := synth(t)
	tm := s.hubTmpl
	check(t, "report bucket", func() {
		tm.HasResourceProperties(jsii.String("AWS::S3::Bucket"), obj(map[string]any{
			"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}},
			"VersioningConfiguration": map[string]any{"Status": "Enabled"},
			"LoggingConfiguration":    assertions.Match_ObjectLike(&map[string]any{"LogFilePrefix": "reports/"}),
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{obj(map[string]any{
				"Prefix": service.KeyRuns, "ExpirationInDays": float64(s.props.RunsRetentionDays), "Status": "Enabled"})})},
		}))
	})
	check(t, "TLS-only bucket policies", func() {
		tm.ResourcePropertiesCountIs(jsii.String("AWS::S3::BucketPolicy"), obj(map[string]any{
			"PolicyDocument": obj(map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{obj(map[string]any{
				"Effect": "Deny", "Action": "s3:*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})}),
		}), jsii.Number(2))
	})
	check(t, "topic with KMS", func() {
		tm.HasResourceProperties(jsii.String("AWS::SNS::Topic"), obj(map[string]any{"KmsMasterKeyId": assertions.Match_AnyValue()}))
	})
	check(t, "key rotation", func() {
		tm.HasResourceProperties(jsii.String("AWS::KMS::Key"), obj(map[string]any{"EnableKeyRotation": true}))
	})
	check(t, "slack secret without a value", func() {
		tm.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), obj(map[string]any{
			"Name": s.props.SlackSecretName, "SecretString": assertions.Match_Absent(),
		}))
	})
	check(t, "five functions", func() {
		tm.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
			"Environment": map[string]any{"Variables": obj(map[string]any{
				service.EnvBucket: assertions.Match_AnyValue(), service.EnvRoleName: s.props.MemberRoleName,
				service.EnvExternalID: s.props.ExternalID, service.EnvAccounts: "222222222222,333333333333",
				service.EnvRegions: "eu-west-1,us-east-1", service.EnvSNSTopicARN: assertions.Match_AnyValue(),
				service.EnvSlackSecretARN:  assertions.Match_AnyValue(),
				service.EnvInstanceProfile: InstanceProfileName,
				// one ARN cannot name a role in every member account
				service.EnvAutomationRoleARN: assertions.Match_Absent(),
			})},
		}), jsii.Number(5))
	})
	check(t, "discover timeout", func() {
		tm.HasResourceProperties(jsii.String("AWS::Lambda::Function"), obj(map[string]any{"Description": "fleetdoctor discover", "Timeout": 900}))
	})
	check(t, "log groups with retention", func() {
		tm.ResourcePropertiesCountIs(jsii.String("AWS::Logs::LogGroup"), obj(map[string]any{"RetentionInDays": 90}), jsii.Number(6))
	})
	check(t, "state machine", func() {
		tm.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), obj(map[string]any{
			"StateMachineType":     "STANDARD",
			"LoggingConfiguration": obj(map[string]any{"Level": "ALL", "IncludeExecutionData": false}),
		}))
	})
	check(t, "schedule", func() {
		input, _ := json.Marshal(map[string]any{"mode": service.ModeDiagnose, "dryRun": true})
		tm.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), obj(map[string]any{
			"ScheduleExpression":         s.props.Schedule,
			"ScheduleExpressionTimezone": s.props.TimeZone,
			"Target": obj(map[string]any{
				"Input":       string(input),
				"RetryPolicy": obj(map[string]any{"MaximumRetryAttempts": 5}),
			}),
		}))
	})
	check(t, "alarms", func() {
		// failed executions, five Lambdas' errors, drift
		tm.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(7))
		tm.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
			"Threshold": s.props.DriftThreshold,
			"Metrics":   []any{obj(map[string]any{"Expression": assertions.Match_StringLikeRegexp(jsii.String(`SUM\(FailingFindings\) FROM SCHEMA\("FleetDoctor"`))})},
		}))
		tm.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1))
	})
	// The schedule's role may only start this state machine.
	scheduleRoles := 0
	for _, st := range statements(s.hubJSON) {
		if slices.Contains(st.actions, "states:StartExecution") && strings.Contains(st.policy, "Schedule") {
			scheduleRoles++
			if len(st.actions) != 1 || len(st.resources) != 1 || !strings.Contains(st.resources[0], "StateMachine") {
				t.Errorf("schedule role statement %+v: want only states:StartExecution on the state machine", st)
			}
		}
	}
	if scheduleRoles != 1 {
		t.Errorf("found %d schedule StartExecution statements, want 1", scheduleRoles)
	}
}

func TestMemberDocuments(t *testing.T) {
	s := synth(t)
	if s.memberAssets != 0 {
		t.Errorf("member stack has %d assets; StackSets need a template without assets", s.memberAssets)
	}
	if params, ok := s.memberJSON["Parameters"].(map[string]any); ok && params["BootstrapVersion"] != nil {
		t.Error("member template requires a bootstrapped environment (BootstrapVersion parameter)")
	}
	// CloudFormation takes templates of up to 1 MB from S3 (--template-url);
	// --template-body allows only 51,200 bytes, which the documents exceed.
	if b, _ := json.Marshal(s.memberJSON); len(b) > 1_000_000 {
		t.Errorf("member template is %d bytes; CloudFormation's limit is 1 MB", len(b))
	}
	found := s.memberTmpl.FindResources(jsii.String("AWS::SSM::Document"), nil)
	byName := map[string]map[string]any{}
	for _, r := range *found {
		props := (*r)["Properties"].(map[string]any)
		byName[props["Name"].(string)] = props
	}
	names := documents.Names()
	if len(names) == 0 || len(byName) != len(names) {
		t.Fatalf("template has %d documents, documents/ has %d", len(byName), len(names))
	}
	for _, name := range names {
		props, ok := byName[name]
		if !ok {
			t.Errorf("document %s missing", name)
			continue
		}
		kind, _ := documents.Kind(name)
		if props["DocumentType"] != kind || props["DocumentFormat"] != "YAML" || props["UpdateMethod"] != "NewVersion" {
			t.Errorf("%s: type/format/update = %v/%v/%v", name, props["DocumentType"], props["DocumentFormat"], props["UpdateMethod"])
		}
		want, err := fd.DocumentContent(name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalise(t, props["Content"]), normalise(t, want)) {
			t.Errorf("%s: Content differs from documents/%s.yaml", name, name)
		}
	}
	// The roles exist once per account: only in the hub's region.
	for id, r := range s.memberJSON["Resources"].(map[string]any) {
		typ := r.(map[string]any)["Type"].(string)
		if strings.HasPrefix(typ, "AWS::IAM::") && r.(map[string]any)["Condition"] == nil {
			t.Errorf("%s (%s) has no region condition; StackSet instances in several regions would collide", id, typ)
		}
	}
}

// normalise round-trips v through JSON so numbers and maps compare alike.
func normalise(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// stmt is one IAM statement of a template, with its tokens rendered as
// strings.
type stmt struct {
	policy, effect     string
	actions, resources []string
	conditions         map[string]any
	principal          any
}

func strs(v any) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, strs(e)...)
		}
		return out
	default:
		b, _ := json.Marshal(t)
		return []string{string(b)}
	}
}

// statements lists every statement of every policy, role trust and
// inline policy in a template.
func statements(tmpl map[string]any) []stmt {
	var out []stmt
	add := func(id string, doc any) {
		d, _ := doc.(map[string]any)
		list, _ := d["Statement"].([]any)
		for _, s := range list {
			m := s.(map[string]any)
			c, _ := m["Condition"].(map[string]any)
			out = append(out, stmt{policy: id, effect: fmt.Sprint(m["Effect"]), actions: strs(m["Action"]),
				resources: strs(m["Resource"]), conditions: c, principal: m["Principal"]})
		}
	}
	for id, r := range tmpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			add(id, props["PolicyDocument"])
		case "AWS::IAM::Role":
			add(id+"/trust", props["AssumeRolePolicyDocument"])
			pols, _ := props["Policies"].([]any)
			for _, p := range pols {
				add(id, p.(map[string]any)["PolicyDocument"])
			}
		}
	}
	return out
}

// readOnly matches actions that change nothing.
var readOnly = regexp.MustCompile(`^[a-z0-9-]+:(Describe|Get|List|BatchGet|Simulate)[A-Za-z*]*$`)

// telemetry are the X-Ray and CloudWatch Logs delivery actions CDK grants
// a state machine: they have no resource-level permissions at all.
var telemetry = []string{
	"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
	"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
	"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}

func TestIAMStatements(t *testing.T) {
	s := synth(t)
	all := append(statements(s.hubJSON), statements(s.memberJSON)...)
	if len(all) < 20 {
		t.Fatalf("only %d statements found; the walk is broken", len(all))
	}
	// No Allow of a mutating action on * without a condition.
	for _, st := range all {
		if st.effect != "Allow" || st.conditions != nil || !slices.Contains(st.resources, "*") {
			continue
		}
		for _, a := range st.actions {
			if !readOnly.MatchString(a) && !slices.Contains(telemetry, a) {
				t.Errorf("%s allows %s on * without a condition", st.policy, a)
			}
		}
	}
	member := statements(s.memberJSON)
	var denies, sendCommands, passRoles, startAutomations int
	for _, st := range member {
		switch {
		case st.effect == "Deny":
			if slices.Contains(st.actions, "ec2:ModifyInstanceMetadataOptions") && slices.Contains(st.actions, "ec2:AssociateIamInstanceProfile") {
				null, _ := st.conditions["Null"].(map[string]any)
				if null["aws:ResourceTag/"+policy.ExemptTag] != "false" {
					t.Errorf("%s: exempt Deny condition = %v", st.policy, st.conditions)
				}
				denies++
			}
		case slices.Contains(st.actions, "ssm:SendCommand"):
			sendCommands++
			if len(st.actions) != 1 {
				t.Errorf("%s: SendCommand shares a statement with %v", st.policy, st.actions)
			}
			var docs []string
			for _, r := range st.resources {
				switch {
				case strings.Contains(r, ":instance/*"):
				case strings.Contains(r, ":document/FleetDoctor-"):
					docs = append(docs, r)
				default:
					t.Errorf("%s: SendCommand on %s (want fleetdoctor documents and instances only)", st.policy, r)
				}
			}
			want := []string{hostdiag.DiagnoseDocumentName, hostdiag.RepairDocumentName}
			for _, w := range want {
				if !slices.ContainsFunc(docs, func(d string) bool { return strings.Contains(d, "/"+w+`"`) || strings.HasSuffix(d, "/"+w) }) {
					t.Errorf("%s: SendCommand does not cover %s (got %v)", st.policy, w, docs)
				}
			}
		case slices.Contains(st.actions, "iam:PassRole"):
			passRoles++
			eq, _ := st.conditions["StringEquals"].(map[string]any)
			svc, _ := eq["iam:PassedToService"].(string)
			if svc != "ssm.amazonaws.com" && svc != "ec2.amazonaws.com" {
				t.Errorf("%s: PassRole without iam:PassedToService (conditions %v)", st.policy, st.conditions)
			}
			role := strings.Join(st.resources, " ")
			toSSM := strings.Contains(role, AutomationRoleName) || strings.Contains(role, DHMCRoleName)
			if len(st.resources) != 1 || (svc == "ssm.amazonaws.com") != toSSM || (svc == "ec2.amazonaws.com") != strings.Contains(role, InstanceRoleName) {
				t.Errorf("%s: PassRole of %s to %s", st.policy, role, svc)
			}
		case slices.Contains(st.actions, "ssm:StartAutomationExecution"):
			startAutomations++
			for _, r := range st.resources {
				if !strings.Contains(r, ":automation-definition/FleetDoctor-") {
					t.Errorf("%s: StartAutomationExecution on %s", st.policy, r)
				}
			}
		}
	}
	// both the member role and the Automation role carry the Deny
	if denies != 2 || sendCommands != 1 || passRoles < 3 || startAutomations != 1 {
		t.Errorf("member statements: %d exempt denies (want 2), %d SendCommand (want 1), %d PassRole (want >= 3), %d StartAutomationExecution (want 1)",
			denies, sendCommands, passRoles, startAutomations)
	}
	// The member role trusts the hub account's Lambda roles with the
	// external id.
	trusted := false
	for _, st := range member {
		eq, _ := st.conditions["StringEquals"].(map[string]any)
		if slices.Contains(st.actions, "sts:AssumeRole") && eq["sts:ExternalId"] == s.props.ExternalID {
			trusted = strings.Contains(fmt.Sprint(st.principal), s.props.HubAccount)
		}
	}
	if !trusted {
		t.Error("no member role trust on the hub account with sts:ExternalId")
	}
}

func TestCdkNagClean(t *testing.T) {
	s := synth(t)
	for _, st := range []awscdk.Stack{s.hub, s.member} {
		a := assertions.Annotations_FromStack(st)
		for _, m := range *a.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
			t.Errorf("%s: cdk-nag error: %s", *st.StackName(), message(m))
		}
		for _, m := range *a.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
			t.Errorf("%s: cdk-nag warning: %s", *st.StackName(), message(m))
		}
	}
}

// message renders a synthesis message (path and text) for a test failure.
func message(m any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// TestLambdaPolicy: the Lambdas get a policy enabling exactly the
// remediations the member roles may apply, and pkg/policy accepts it.
func TestLambdaPolicy(t *testing.T) {
	s := synth(t)
	var docs []string
	for _, r := range *s.hubTmpl.FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		vars := (*r)["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		doc, _ := vars[service.EnvPolicy].(string)
		docs = append(docs, doc)
	}
	if len(docs) != 5 {
		t.Fatalf("%d functions", len(docs))
	}
	p, err := policy.Parse([]byte(docs[0]), service.EnvPolicy)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", service.EnvPolicy, err, docs[0])
	}
	var on []string
	for id, r := range p.Remediations {
		if r.Enabled {
			on = append(on, id)
		}
	}
	slices.Sort(on)
	want := slices.Sorted(slices.Values(s.props.EnabledRemediations))
	if !slices.Equal(on, want) || p.InstanceProfileName != InstanceProfileName || p.DHMCRoleName != DHMCRoleName {
		t.Errorf("policy enables %v (profile %q, DHMC role %q), want %v", on, p.InstanceProfileName, p.DHMCRoleName, want)
	}
	if PolicyDocument(Props{}) != "" {
		t.Error("a policy without remediations should leave FLEETDOCTOR_POLICY unset")
	}
}

// TestLambdaEnvironmentLoads: what the stack sets on each function is a
// configuration the Lambdas' service.LoadConfig accepts (template tokens
// replaced by values of the shape CloudFormation gives them).
func TestLambdaEnvironmentLoads(t *testing.T) {
	s := synth(t)
	deployed := map[string]string{
		service.EnvBucket:         "fleetdoctor-reports-abc123",
		service.EnvSNSTopicARN:    "arn:aws:sns:eu-west-1:111111111111:FleetDoctorHub-Topic",
		service.EnvSlackSecretARN: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:fleetdoctor/slack-AbCdEf",
	}
	n := 0
	for _, r := range *s.hubTmpl.FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		vars := (*r)["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		env := map[string]string{}
		for k, v := range vars {
			if str, ok := v.(string); ok {
				env[k] = str
			} else if env[k], ok = deployed[k]; !ok {
				t.Errorf("%s is a token (%v) the test has no deployed value for", k, v)
			}
		}
		cfg, err := service.LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("LoadConfig rejects the stack's environment: %v", err)
			continue
		}
		if cfg.RoleName != s.props.MemberRoleName || cfg.ExternalID != s.props.ExternalID || len(cfg.Regions) != 2 {
			t.Errorf("config = %+v", cfg)
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d functions loaded their configuration, want 5", n)
	}
}
