// Package diagnose runs fleetdoctor's on-host diagnosis over an audited
// fleet: it sends the FleetDoctor-DiagnoseHost Command document to the
// instances whose SSM agent is Online, in calls of at most 50 instance ids,
// collects the invocations with ListCommandInvocations (one paginated
// listing per command, polled with backoff until every invocation is
// terminal — never one poll loop per instance), reads a full report only
// where the 2,500-character CommandPlugin output was cut (from S3 when the
// output goes there, else GetCommandInvocation), parses it as hostile input
// (pkg/hostdiag) and turns it into host_* findings. Instances that cannot be
// diagnosed get an explicit host_not_diagnosable finding; invocations that
// give no usable report get host_diagnosis_failed. Merge adds the result to
// the audit run so every renderer shows it.
package diagnose

import (
	"github.com/fleetdoctor/fleetdoctor/internal/wait"

	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Run Command limits (DESIGN §7).
const (
	// MaxInstancesPerCommand is the most InstanceIds one SendCommand takes.
	MaxInstancesPerCommand = 50
	// MaxInvocationsPage is ListCommandInvocations' largest page.
	MaxInvocationsPage = 50
	// PluginOutputLimit is how much of a step's output
	// ListCommandInvocations returns (CommandPlugins[].Output); output this
	// long or longer may have been cut.
	PluginOutputLimit = 2500
	// maxFetchBytes caps a full report read from S3: more than a report may
	// ever be (hostdiag.MaxOutput characters of UTF-8), so the parser, not
	// a silent cut, rejects an oversized one.
	maxFetchBytes = 4*hostdiag.MaxOutput + 1
	// maxExcerpt is how many runes of a host's own text an error finding
	// quotes.
	maxExcerpt = 200
)

// Defaults of Options.
const (
	DefaultPollInterval    = 2 * time.Second
	DefaultMaxPollInterval = 15 * time.Second
	DefaultTimeout         = 10 * time.Minute
	// DefaultDeliveryTimeout is SendCommand's TimeoutSeconds: how long an
	// agent that the snapshot saw Online may take to pick the command up.
	DefaultDeliveryTimeout = 5 * time.Minute
	DefaultConcurrency     = 4
	// fetchConcurrency bounds the full-output reads of one account-region.
	fetchConcurrency = 4
)

// Options says which instances to diagnose and how.
type Options struct {
	// InstanceIDs limits the diagnosis to these instances; empty means
	// every instance of the run.
	InstanceIDs []string
	// OnlyFailing limits the diagnosis to instances with at least one
	// API-side FAIL finding.
	OnlyFailing bool
	// OutputBucket, when set, is SendCommand's OutputS3BucketName: full
	// output goes there and truncated reports are read back from it (the
	// caller needs s3:GetObject on it, the instances s3:PutObject).
	OutputBucket string
	// OutputPrefix is SendCommand's OutputS3KeyPrefix (with OutputBucket).
	OutputPrefix string
	// PollInterval is the first wait between ListCommandInvocations polls
	// of a command; it doubles up to MaxPollInterval.
	PollInterval, MaxPollInterval time.Duration
	// Timeout bounds the wait for the invocations of one account-region;
	// invocations still running then get host_diagnosis_failed.
	Timeout time.Duration
	// DeliveryTimeout is SendCommand's TimeoutSeconds (at least 30 s).
	DeliveryTimeout time.Duration
	// Concurrency bounds how many account-regions are diagnosed at once.
	Concurrency int
	// Sleep waits between polls; nil waits in real time.
	Sleep func(ctx context.Context, d time.Duration) error
	// Clock measures Timeout; nil is time.Now. Tests pair it with Sleep
	// to run the wait in virtual time.
	Clock func() time.Time
}

// Result is the outcome of a diagnosis.
type Result struct {
	// Findings are the host findings (FAIL and ERROR), sorted by the host
	// catalogue's order, then account, region and instance.
	Findings []checks.Finding `json:"findings"`
	// Stats counts, per host check, the instances each check judged
	// (PASS or FAIL), failed on and could not judge, in catalogue order.
	Stats []checks.Stat `json:"stats"`
	// Sent counts instances the document was sent to.
	Sent int `json:"sent"`
	// Answered counts instances whose report was read and parsed.
	Answered int `json:"answered"`
	// Failed counts instances that were sent the document (or would have
	// been) but gave no usable report.
	Failed int `json:"failed"`
	// NotDiagnosable counts instances that could not be sent the document.
	NotDiagnosable int `json:"notDiagnosable"`
	// Commands are the SendCommand calls made.
	Commands []Command `json:"commands"`
	// FullOutputReads counts reports read from S3 or GetCommandInvocation
	// because their CommandPlugin output was cut.
	FullOutputReads int `json:"fullOutputReads"`
}

// Command is one SendCommand call.
type Command struct {
	Account   string   `json:"account"`
	Region    string   `json:"region"`
	CommandID string   `json:"commandId"`
	Instances []string `json:"instances"`
}

// target is an instance to diagnose.
type target struct {
	id, platform string // platform: Linux | Windows
}

// regionWork is what one account-region contributes.
type regionWork struct {
	account, region string
	targets         []target
}

// Run diagnoses the instances of run (see the package comment). It returns
// an error only when nothing can be attempted (no snapshot, a cancelled
// context, the document missing from the binary); every narrower failure
// becomes a finding.
func Run(ctx context.Context, provider awsapi.Provider, run *audit.Run, opts Options) (*Result, error) {
	if run == nil || run.Snapshot == nil {
		return nil, errors.New("diagnose: the run has no snapshot (diagnose needs the audit's inventory)")
	}
	opts = withDefaults(opts)
	steps, err := diagnoseSteps()
	if err != nil {
		return nil, err
	}
	d := &diagnoser{provider: provider, opts: opts, steps: steps, stats: map[string]*checks.Stat{}}
	for _, m := range hostdiag.Catalogue() {
		d.stats[m.ID] = &checks.Stat{Check: m.ID}
	}
	work := d.choose(run)

	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for _, w := range work {
		if len(w.targets) == 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(w regionWork) {
			defer func() { <-sem; wg.Done() }()
			d.region(ctx, w)
		}(w)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.result(), nil
}

func withDefaults(o Options) Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxPollInterval < o.PollInterval {
		o.MaxPollInterval = max(DefaultMaxPollInterval, o.PollInterval)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = DefaultDeliveryTimeout
	}
	o.DeliveryTimeout = max(o.DeliveryTimeout, 30*time.Second)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Sleep == nil {
		o.Sleep = wait.Sleep
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.OutputPrefix = strings.Trim(o.OutputPrefix, "/")
	return o
}

// step is one of the diagnose document's steps.
type step struct {
	name, action string
}

// diagnoseSteps reads the diagnose document's steps: the platform each runs
// on is named by its precondition, its S3 output folder by its action.
func diagnoseSteps() (map[string]step, error) {
	b, err := documents.Read(hostdiag.DiagnoseDocumentName)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	var doc struct {
		MainSteps []struct {
			Name         string              `yaml:"name"`
			Action       string              `yaml:"action"`
			Precondition map[string][]string `yaml:"precondition"`
		} `yaml:"mainSteps"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("diagnose: reading %s: %w", hostdiag.DiagnoseDocumentName, err)
	}
	out := map[string]step{}
	for _, s := range doc.MainSteps {
		if eq := s.Precondition["StringEquals"]; len(eq) == 2 && eq[0] == "platformType" {
			out[eq[1]] = step{name: s.Name, action: s.Action}
		}
	}
	if out["Linux"].name == "" || out["Windows"].name == "" {
		return nil, fmt.Errorf("diagnose: %s has no Linux and Windows steps", hostdiag.DiagnoseDocumentName)
	}
	return out, nil
}

// diagnoser carries one Run.
type diagnoser struct {
	provider awsapi.Provider
	opts     Options
	steps    map[string]step // by platform

	mu       sync.Mutex
	findings []checks.Finding
	stats    map[string]*checks.Stat
	res      Result
}

// choose picks the instances to diagnose per account-region and records
// a host_not_diagnosable finding for every chosen instance that cannot be.
func (d *diagnoser) choose(run *audit.Run) []regionWork {
	wanted := map[string]bool{}
	for _, id := range d.opts.InstanceIDs {
		wanted[id] = true
	}
	failing := map[string]bool{}
	if d.opts.OnlyFailing {
		for i := range run.Findings {
			f := &run.Findings[i]
			if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
				failing[f.Account+"/"+f.Region+"/"+f.Resource] = true
			}
		}
	}
	found := map[string]bool{}
	var work []regionWork
	for _, a := range run.Snapshot.Accounts {
		for _, r := range a.Regions {
			w := regionWork{account: a.ID, region: r.Name}
			for i := range r.Instances {
				in := &r.Instances[i]
				if len(wanted) > 0 && !wanted[in.ID] {
					continue
				}
				found[in.ID] = true
				if d.opts.OnlyFailing && !failing[a.ID+"/"+r.Name+"/"+in.ID] {
					continue
				}
				if why, sev := notDiagnosable(in); why != "" {
					d.notDiagnosable(a.ID, r.Name, in.ID, why, sev, agentEvidence(in))
					continue
				}
				w.targets = append(w.targets, target{id: in.ID, platform: in.Agent.PlatformType})
			}
			work = append(work, w)
		}
	}
	for _, id := range d.opts.InstanceIDs {
		if !found[id] {
			d.notDiagnosable("", "", id, "not diagnosable on host: the instance is not in the audited accounts and regions", checks.Medium, nil)
		}
	}
	return work
}

// notDiagnosable says why an instance cannot be sent the document (and
// how much that matters), or "" when it can.
func notDiagnosable(in *inventory.Instance) (string, checks.Severity) {
	switch {
	case !in.Running():
		// A stopped instance is not broken; the finding only says the
		// host was not looked at.
		return fmt.Sprintf("not diagnosable on host: instance is %s", orUnknown(in.State)), checks.Info
	case in.Agent == nil:
		return "not diagnosable on host: not registered with SSM (absent from DescribeInstanceInformation)", checks.Medium
	case in.Agent.PingStatus != string(ssmtypes.PingStatusOnline):
		return fmt.Sprintf("not diagnosable on host: agent offline (PingStatus %s)", orUnknown(in.Agent.PingStatus)), checks.Medium
	case in.Agent.PlatformType != "Linux" && in.Agent.PlatformType != "Windows":
		return fmt.Sprintf("not diagnosable on host: %s covers Linux and Windows, not platform %s", hostdiag.DiagnoseDocumentName, orUnknown(in.Agent.PlatformType)), checks.Medium
	}
	return "", ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func agentEvidence(in *inventory.Instance) map[string]any {
	ev := map[string]any{"state": in.State}
	if in.Agent != nil {
		ev["pingStatus"] = in.Agent.PingStatus
		ev["platformType"] = in.Agent.PlatformType
	} else {
		ev["registered"] = false
	}
	return ev
}

func (d *diagnoser) notDiagnosable(account, region, id, why string, sev checks.Severity, ev map[string]any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.res.NotDiagnosable++
	d.stats[hostdiag.CheckNotDiagnosable].Errored++
	d.findings = append(d.findings, checks.Finding{
		Check: hostdiag.CheckNotDiagnosable, Status: checks.Error, Severity: sev,
		Account: account, Region: region, ResourceType: checks.TypeInstance, Resource: id,
		Detail: why, Evidence: ev,
	})
}

// failed records an instance that gave no usable report.
func (d *diagnoser) failed(account, region, id, why string, ev map[string]any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.res.Failed++
	d.stats[hostdiag.CheckDiagnosisFailed].Errored++
	d.findings = append(d.findings, checks.Finding{
		Check: hostdiag.CheckDiagnosisFailed, Status: checks.Error, Severity: checks.Medium,
		Account: account, Region: region, ResourceType: checks.TypeInstance, Resource: id,
		Detail: why, Evidence: ev,
	})
}

// answered records a parsed report.
func (d *diagnoser) answered(account, region string, rep hostdiag.Report) {
	fs := hostdiag.Findings(rep, account, region)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.res.Answered++
	for _, c := range rep.Checks {
		st, ok := d.stats[c.ID]
		if !ok {
			st = &checks.Stat{Check: c.ID}
			d.stats[c.ID] = st
		}
		switch c.Status {
		case hostdiag.Pass:
			st.Evaluated++
		case hostdiag.Fail:
			st.Evaluated++
			st.Failed++
		default:
			st.Errored++
		}
	}
	d.findings = append(d.findings, fs...)
}

// region diagnoses one account-region's targets.
func (d *diagnoser) region(ctx context.Context, w regionWork) {
	failAll := func(ids []string, why string) {
		for _, id := range ids {
			d.failed(w.account, w.region, id, why, nil)
		}
	}
	ids := make([]string, len(w.targets))
	platform := map[string]string{}
	for i, t := range w.targets {
		ids[i] = t.id
		platform[t.id] = t.platform
	}
	if err := d.provider.Account(ctx, w.account); err != nil {
		failAll(ids, "not diagnosed on host: cannot enter account "+w.account+": "+awsapi.Cap(err.Error(), 300))
		return
	}
	cl, err := d.provider.Clients(ctx, w.account, w.region)
	if err == nil && cl.SSMActions == nil {
		err = errors.New("the provider has no Systems Manager actions client")
	}
	if err != nil {
		failAll(ids, "not diagnosed on host: "+awsapi.Cap(err.Error(), 300))
		return
	}

	// Send, at most 50 instances a call.
	var sent []*pending
	for chunk := range slices.Chunk(ids, MaxInstancesPerCommand) {
		in := &ssm.SendCommandInput{
			DocumentName:   aws.String(hostdiag.DiagnoseDocumentName),
			InstanceIds:    chunk,
			Parameters:     map[string][]string{"Region": {w.region}},
			Comment:        aws.String("fleetdoctor diagnose"),
			TimeoutSeconds: aws.Int32(int32(d.opts.DeliveryTimeout / time.Second)),
		}
		if d.opts.OutputBucket != "" {
			in.OutputS3BucketName = aws.String(d.opts.OutputBucket)
			if d.opts.OutputPrefix != "" {
				in.OutputS3KeyPrefix = aws.String(d.opts.OutputPrefix)
			}
		}
		out, err := cl.SSMActions.SendCommand(ctx, in)
		if err != nil || out.Command == nil || aws.ToString(out.Command.CommandId) == "" {
			if err == nil {
				err = errors.New("SendCommand returned no command id")
			}
			failAll(chunk, "not diagnosed on host: ssm:SendCommand failed: "+awsapi.Cap(err.Error(), 300))
			continue
		}
		id := aws.ToString(out.Command.CommandId)
		d.mu.Lock()
		d.res.Sent += len(chunk)
		d.res.Commands = append(d.res.Commands, Command{Account: w.account, Region: w.region, CommandID: id, Instances: slices.Clone(chunk)})
		d.mu.Unlock()
		sent = append(sent, &pending{id: id, instances: chunk})
	}

	// Poll every outstanding command with one listing each, backing off,
	// until all are terminal or the timeout passes.
	deadline := d.opts.Clock().Add(d.opts.Timeout)
	wait := d.opts.PollInterval
	var done []doneInvocation
	for len(sent) > 0 {
		var still []*pending
		for _, p := range sent {
			invs, err := listInvocations(ctx, cl.SSMActions, p.id)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.errs++
				if p.errs >= 3 || d.opts.Clock().After(deadline) {
					failAll(p.instances, "not diagnosed on host: ssm:ListCommandInvocations for command "+p.id+" failed: "+awsapi.Cap(err.Error(), 300))
					continue
				}
				still = append(still, p)
				continue
			}
			p.errs = 0
			if !allTerminal(invs, p.instances) && d.opts.Clock().Before(deadline) {
				still = append(still, p)
				continue
			}
			done = append(done, d.settle(w, p, invs)...)
		}
		sent = still
		if len(sent) == 0 {
			break
		}
		if err := d.opts.Sleep(ctx, wait); err != nil {
			return
		}
		wait = min(2*wait, d.opts.MaxPollInterval)
	}

	// Read and parse the reports, fetching the full output of cut ones.
	sem := make(chan struct{}, fetchConcurrency)
	var wg sync.WaitGroup
	for _, inv := range done {
		wg.Add(1)
		sem <- struct{}{}
		go func(inv doneInvocation) {
			defer func() { <-sem; wg.Done() }()
			d.report(ctx, w, cl, inv, platform[inv.instance])
		}(inv)
	}
	wg.Wait()
}

// pending is a sent command not yet settled.
type pending struct {
	id        string
	instances []string
	errs      int
}

// doneInvocation is a successful invocation whose report is to be read.
type doneInvocation struct {
	command, instance string
	plugins           []ssmtypes.CommandPlugin
}

// listInvocations lists every invocation of a command (Details, 50 a page).
func listInvocations(ctx context.Context, api awsapi.SSMActionsAPI, commandID string) (map[string]ssmtypes.CommandInvocation, error) {
	out := map[string]ssmtypes.CommandInvocation{}
	pg := ssm.NewListCommandInvocationsPaginator(api, &ssm.ListCommandInvocationsInput{
		CommandId: aws.String(commandID), Details: true, MaxResults: aws.Int32(MaxInvocationsPage),
	})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, inv := range page.CommandInvocations {
			out[aws.ToString(inv.InstanceId)] = inv
		}
	}
	return out, nil
}

// terminal reports whether an invocation has ended.
func terminal(s ssmtypes.CommandInvocationStatus) bool {
	switch s {
	case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed,
		ssmtypes.CommandInvocationStatusTimedOut, ssmtypes.CommandInvocationStatusCancelled:
		return true
	}
	return false
}

func allTerminal(invs map[string]ssmtypes.CommandInvocation, ids []string) bool {
	for _, id := range ids {
		inv, ok := invs[id]
		if !ok || !terminal(inv.Status) {
			return false
		}
	}
	return true
}

// settle records the failed invocations of a command and returns the
// successful ones.
func (d *diagnoser) settle(w regionWork, p *pending, invs map[string]ssmtypes.CommandInvocation) []doneInvocation {
	var out []doneInvocation
	for _, id := range p.instances {
		inv, ok := invs[id]
		ev := map[string]any{"commandId": p.id}
		switch {
		case !ok:
			d.failed(w.account, w.region, id, "not diagnosed on host: command "+p.id+" lists no invocation for the instance", ev)
		case !terminal(inv.Status):
			ev["status"] = string(inv.Status)
			d.failed(w.account, w.region, id, fmt.Sprintf("not diagnosed on host: no answer within %s (invocation %s)", d.opts.Timeout, inv.Status), ev)
		case inv.Status != ssmtypes.CommandInvocationStatusSuccess:
			ev["status"] = string(inv.Status)
			ev["statusDetails"] = safeText(aws.ToString(inv.StatusDetails), 64)
			detail := fmt.Sprintf("the diagnose document ended %s (%s)", inv.Status, safeText(aws.ToString(inv.StatusDetails), 64))
			for _, pl := range inv.CommandPlugins {
				if pl.Status == ssmtypes.CommandPluginStatusSuccess && skipped(aws.ToString(pl.Output)) {
					continue
				}
				ev["step"] = safeText(aws.ToString(pl.Name), 64)
				ev["responseCode"] = pl.ResponseCode
				if o := aws.ToString(pl.Output); o != "" {
					ev["outputExcerpt"] = safeText(o, maxExcerpt)
				}
				detail += fmt.Sprintf(", step %s response code %d", safeText(aws.ToString(pl.Name), 64), pl.ResponseCode)
				break
			}
			d.failed(w.account, w.region, id, detail, ev)
		default:
			out = append(out, doneInvocation{command: p.id, instance: id, plugins: inv.CommandPlugins})
		}
	}
	return out
}

// skippedPrefix starts the output the agent reports for a step whose
// precondition excluded the platform.
const skippedPrefix = "Step execution skipped"

func skipped(out string) bool { return strings.HasPrefix(out, skippedPrefix) }

// report reads, parses and records one successful invocation's report.
func (d *diagnoser) report(ctx context.Context, w regionWork, cl *awsapi.Clients, inv doneInvocation, platform string) {
	ev := map[string]any{"commandId": inv.command}
	st, ok := d.steps[platform]
	var plugin *ssmtypes.CommandPlugin
	for i := range inv.plugins {
		pl := &inv.plugins[i]
		if ok && aws.ToString(pl.Name) == st.name {
			plugin = pl
			break
		}
	}
	if plugin == nil || skipped(aws.ToString(plugin.Output)) {
		// The agent's platform differs from what the snapshot said: take
		// the step that did run.
		plugin = nil
		for i := range inv.plugins {
			pl := &inv.plugins[i]
			if !skipped(aws.ToString(pl.Output)) {
				for _, s := range d.steps {
					if s.name == aws.ToString(pl.Name) {
						plugin, st = pl, s
					}
				}
			}
		}
	}
	if plugin == nil {
		d.failed(w.account, w.region, inv.instance, "not diagnosed on host: no step of "+hostdiag.DiagnoseDocumentName+" ran (both were skipped)", ev)
		return
	}
	ev["step"] = st.name
	out := aws.ToString(plugin.Output)
	rep, err := hostdiag.ParseFor([]byte(out), inv.instance)
	if utf8.RuneCountInString(out) >= PluginOutputLimit || err != nil {
		// The API output was cut (or is not a report as it stands): read
		// the whole stdout.
		full, src, ferr := d.fullOutput(ctx, w, cl, inv, st)
		d.mu.Lock()
		d.res.FullOutputReads++
		d.mu.Unlock()
		if ferr != nil {
			d.failed(w.account, w.region, inv.instance, "not diagnosed on host: the report was cut to 2,500 characters and the full output could not be read: "+awsapi.Cap(ferr.Error(), 300), ev)
			return
		}
		ev["source"] = src
		rep, err = hostdiag.ParseFor(full, inv.instance)
		if err != nil {
			ev["outputExcerpt"] = safeText(string(full), maxExcerpt)
		}
	}
	if err != nil {
		d.failed(w.account, w.region, inv.instance, "not diagnosed on host: unusable output: "+safeText(err.Error(), 400), ev)
		return
	}
	d.answered(w.account, w.region, rep)
}

// fullOutput reads a step's whole stdout: from S3 when the command wrote
// there (falling back to the API), else GetCommandInvocation's 24,000
// characters.
func (d *diagnoser) fullOutput(ctx context.Context, w regionWork, cl *awsapi.Clients, inv doneInvocation, st step) ([]byte, string, error) {
	var s3err error
	if d.opts.OutputBucket != "" && cl.S3 != nil {
		key := OutputKey(d.opts.OutputPrefix, inv.command, inv.instance, st.action, st.name)
		b, err := getObject(ctx, cl.S3, d.opts.OutputBucket, key)
		if err == nil {
			return b, "s3", nil
		}
		s3err = fmt.Errorf("s3://%s/%s: %w", d.opts.OutputBucket, key, err)
	}
	out, err := cl.SSMActions.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
		CommandId: aws.String(inv.command), InstanceId: aws.String(inv.instance), PluginName: aws.String(st.name),
	})
	if err != nil {
		if s3err != nil {
			return nil, "", fmt.Errorf("%v; ssm:GetCommandInvocation: %w", s3err, err)
		}
		return nil, "", fmt.Errorf("ssm:GetCommandInvocation: %w", err)
	}
	return []byte(aws.ToString(out.StandardOutputContent)), "GetCommandInvocation", nil
}

// OutputKey is the S3 key of a step's stdout when SendCommand was given
// OutputS3BucketName: <prefix>/<commandId>/<instanceId>/<plugin>/<step>/stdout,
// where plugin is the step's action without the colon (awsrunShellScript,
// awsrunPowerShellScript).
func OutputKey(prefix, commandID, instanceID, action, stepName string) string {
	k := commandID + "/" + instanceID + "/" + strings.ReplaceAll(action, ":", "") + "/" + stepName + "/stdout"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		k = prefix + "/" + k
	}
	return k
}

func getObject(ctx context.Context, api awsapi.S3API, bucket, key string) ([]byte, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxFetchBytes))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// safeText is host or AWS text made fit for a finding: control characters
// dropped, at most n runes (marked when cut). Renderers escape again.
func safeText(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	count := 0
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			continue
		}
		if count == n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		count++
	}
	return strings.TrimSpace(b.String())
}

// result sorts the findings and stats into catalogue order.
func (d *diagnoser) result() *Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := d.res
	rank := hostdiag.CatalogueRank()
	res.Findings = slices.Clone(d.findings)
	hostdiag.SortFindings(res.Findings)
	ids := slices.SortedFunc(maps.Keys(d.stats), func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
	})
	for _, id := range ids {
		if st := d.stats[id]; st.Evaluated+st.Errored > 0 {
			res.Stats = append(res.Stats, *st)
		}
	}
	slices.SortStableFunc(res.Commands, func(a, b Command) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return &res
}

// Diagnosable reports whether the diagnose document can be sent to the
// instance (running, registered with SSM, agent Online, Linux or Windows):
// the selection Run makes, for callers that plan batches themselves (the
// diagnose Lambda's plan).
func Diagnosable(in *inventory.Instance) bool {
	why, _ := notDiagnosable(in)
	return why == ""
}
