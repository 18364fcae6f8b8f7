package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetdoctor/fleetdoctor/infra/asl"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// The deployment the e2e test stands up: the hub in us-east-1 of the
// sandbox's caller account, the report bucket, the report topic and the
// Slack secret, as infra/ deploys them.
const (
	hubRegion     = "us-east-1"
	e2eBucket     = asl.DefaultBucket
	topicName     = "fleetdoctor-reports"
	slackSecret   = "fleetdoctor/slack"
	e2eExternalID = "fleetdoctor-e2e-external-id"
	lambdaTimeout = 5 * time.Minute
	runTimeout    = 15 * time.Minute
	// envSlackWebhook is pkg/notify's fallback when no secret is
	// configured.
	envSlackWebhook = "FLEETDOCTOR_SLACK_WEBHOOK_URL"
	// envASL runs the scenarios against a given definition instead of
	// the synthesized one (for debugging; e.g. testdata/sample.asl.json).
	envASL = "FLEETDOCTOR_E2E_ASL"
)

// lambdaNames are the five functions of the contract.
var lambdaNames = []string{service.LambdaTargets, service.LambdaDiscover, service.LambdaDiagnose, service.LambdaRemediate, service.LambdaReport}

// deployment is the orchestration running locally: the sandbox, the
// Lambdas behind the Runtime API bridge, the harness, the Slack receiver
// and the state machine definition.
type deployment struct {
	sb       *sandbox.Sandbox
	world    *scenario.World
	topicARN string
	slack    *slackReceiver
	harness  *Harness
	fns      map[string]*Function
	asl      string
	runner   Runner
	secret   bool // the Slack webhook came from Secrets Manager
}

type deployOptions struct {
	// faults are injected into the sandbox (an account whose role cannot
	// be assumed).
	faults []sandbox.Fault
}

// slackReceiver is a Slack incoming webhook on loopback.
type slackReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs [][]byte
}

func newSlackReceiver(t *testing.T) *slackReceiver {
	s := &slackReceiver{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/services/") {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.msgs = append(s.msgs, b)
		s.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *slackReceiver) url() string { return s.srv.URL + "/services/T0E2E/B0E2E/e2e-webhook" }

func (s *slackReceiver) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs...)
}

// deploy stands the orchestration up over a fresh sandbox of the demo
// scenario. Everything is stopped by t.Cleanup.
func deploy(t *testing.T, o deployOptions) *deployment {
	t.Helper()
	runner := nodeRunner(t)
	bins := buildLambdas(t, lambdaNames)
	world, err := scenario.Load("demo", scenario.Params{Instances: 400, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{world: world, runner: runner, fns: map[string]*Function{}, asl: stateMachineASL(t, world)}
	d.sb, err = sandbox.New(sandbox.Options{World: world, Faults: o.faults})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.sb.Close() })
	if err := d.sb.CreateBucket(e2eBucket); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := d.sb.Config(hubRegion, 0)
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatal(err)
	}
	d.topicARN = aws.ToString(topic.TopicArn)
	d.slack = newSlackReceiver(t)

	policy, err := os.ReadFile(filepath.Join(moduleRoot(t), "examples", "sandbox-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := append(d.sb.Env(hubRegion),
		// Nothing outside the sandbox: no shared AWS files, no IMDS.
		"HOME="+home,
		"AWS_CONFIG_FILE="+filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		service.EnvBucket+"="+e2eBucket,
		service.EnvRoleName+"="+world.AuditRole,
		service.EnvExternalID+"="+e2eExternalID,
		service.EnvAccounts+"="+strings.Join(world.Accounts, ","),
		service.EnvRegions+"="+strings.Join(world.Regions, ","),
		service.EnvSNSTopicARN+"="+d.topicARN,
		service.EnvPolicy+"="+string(policy),
	)
	// The Slack webhook: in Secrets Manager as deployed when the sandbox
	// serves it, otherwise pkg/notify's environment fallback.
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(slackSecret),
		SecretString: aws.String(`{"webhookUrl":"` + d.slack.url() + `"}`),
	})
	if err == nil {
		d.secret = true
		env = append(env, service.EnvSlackSecretARN+"="+aws.ToString(sec.ARN))
	} else {
		t.Logf("Slack secret not created in the sandbox (%v): using %s", err, envSlackWebhook)
		env = append(env, envSlackWebhook+"="+d.slack.url())
	}

	logDir := t.TempDir()
	for _, n := range lambdaNames {
		logs, err := os.Create(filepath.Join(logDir, n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		conc := 1
		if n == service.LambdaDiscover {
			conc = 2
		}
		f := &Function{Name: "fleetdoctor-" + n, Binary: bins[n], Env: env, Timeout: lambdaTimeout, Concurrency: conc, Logs: logs}
		d.fns[f.Name] = f
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Errorf("stopping %s: %v", f.Name, err)
			}
			_ = logs.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logs.Name())
				t.Logf("--- %s log (tail) ---\n%s", f.Name, tail(string(b), 6000))
			}
		})
	}
	d.harness = &Harness{Functions: d.fns, S3Object: d.sb.S3Object}
	if err := d.harness.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.harness.Close() })
	return d
}

// run executes the state machine once.
func (d *deployment) run(t *testing.T, name, input string) *Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	start := time.Now()
	ex, err := d.runner.Run(ctx, d.asl, json.RawMessage(input), d.harness.URL(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s in %v; states %s", name, ex.Status, time.Since(start).Round(time.Millisecond), summarizeStates(ex.States))
	return ex
}

// summarizeStates prints states with repeats counted ("Discover×4").
func summarizeStates(states []string) string {
	var b strings.Builder
	for i := 0; i < len(states); {
		j := i
		for j < len(states) && states[j] == states[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(states[i])
		if j-i > 1 {
			fmt.Fprintf(&b, "×%d", j-i)
		}
		i = j
	}
	return b.String()
}

// object reads an object of the report bucket.
func (d *deployment) object(t *testing.T, key string) []byte {
	t.Helper()
	b, err := d.sb.S3Object(e2eBucket, key)
	if err != nil {
		t.Fatalf("s3://%s/%s: %v", e2eBucket, key, err)
	}
	return b
}

// metadataTokens returns HttpTokens of every instance of the fleet, read
// through the sandbox's EC2 API with the audit role (as an operator would
// check it).
func (d *deployment) metadataTokens(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prov := d.sb.Provider(hubRegion)
	out := map[string]string{}
	for _, account := range d.world.Accounts {
		if err := prov.Account(ctx, account); err != nil {
			t.Fatalf("entering %s: %v", account, err)
		}
		for _, region := range d.world.Regions {
			c, err := prov.Clients(ctx, account, region)
			if err != nil {
				t.Fatal(err)
			}
			p := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("DescribeInstances %s/%s: %v", account, region, err)
				}
				for _, r := range page.Reservations {
					for _, in := range r.Instances {
						if in.State != nil && in.State.Name == ec2types.InstanceStateNameTerminated {
							continue
						}
						tokens := ""
						if in.MetadataOptions != nil {
							tokens = string(in.MetadataOptions.HttpTokens)
						}
						out[aws.ToString(in.InstanceId)] = tokens
					}
				}
			}
		}
	}
	return out
}

var (
	aslMu   sync.Mutex
	aslPath string
	aslErr  error
)

// stateMachineASL synthesizes the hub stack (go run ./infra with the CDK
// context of this deployment and the Lambdas built into buildDir), and
// resolves its DefinitionString to plain ASL with infra/asl (Lambda ARNs
// arn:aws:lambda:us-east-1:111111111111:function:fleetdoctor-<name>, the
// bucket e2eBucket). Once per package run.
func stateMachineASL(t *testing.T, world *scenario.World) string {
	t.Helper()
	if p := os.Getenv(envASL); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s=%s: running that definition, not the synthesized one", envASL, p)
		return abs
	}
	aslMu.Lock()
	defer aslMu.Unlock()
	if aslPath == "" && aslErr == nil {
		aslPath, aslErr = synthesize(world)
	}
	if aslErr != nil {
		t.Fatal(aslErr)
	}
	return aslPath
}

func synthesize(world *scenario.World) (string, error) {
	root, err := ModuleRoot(".")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	app := filepath.Join(buildDir, "infra-app")
	build := exec.CommandContext(ctx, "go", "build", "-o", app, "./infra")
	build.Dir = root
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./infra: %w\n%s", err, b)
	}
	outdir := filepath.Join(buildDir, "cdk.out")
	cdkContext, err := json.Marshal(map[string]string{
		"hubAccount": asl.Account,
		"region":     asl.Region,
		"accounts":   strings.Join(world.Accounts, ","),
		"regions":    strings.Join(world.Regions, ","),
		"lambdaDir":  buildDir,
		"externalId": e2eExternalID,
	})
	if err != nil {
		return "", err
	}
	synth := exec.CommandContext(ctx, app)
	synth.Dir = root
	synth.Env = append(os.Environ(), "CDK_OUTDIR="+outdir, "CDK_CONTEXT_JSON="+string(cdkContext),
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "JSII_DEPRECATED=quiet")
	var out bytes.Buffer
	synth.Stdout, synth.Stderr = &out, &out
	if err := synth.Run(); err != nil {
		return "", fmt.Errorf("synthesizing the hub stack (go run ./infra): %w\n%s", err, tail(out.String(), 4000))
	}
	b, err := os.ReadFile(filepath.Join(outdir, "FleetDoctorHub.template.json"))
	if err != nil {
		return "", fmt.Errorf("synthesized template: %w\n%s", err, tail(out.String(), 2000))
	}
	var template map[string]any
	if err := json.Unmarshal(b, &template); err != nil {
		return "", err
	}
	def, err := asl.ResolveDefinition(template, map[string]string{asl.KeyBucket: e2eBucket})
	if err != nil {
		return "", fmt.Errorf("resolving the definition: %w", err)
	}
	p := filepath.Join(buildDir, "statemachine.asl.json")
	return p, os.WriteFile(p, def, 0o600)
}
