package host

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// Run Command limits, as AWS publishes them.
const (
	// MaxInstanceIDs is the most InstanceIds one SendCommand takes.
	MaxInstanceIDs = 50
	// MaxInvocationsPage is ListCommandInvocations' largest MaxResults.
	MaxInvocationsPage = 50
	// PluginOutputLimit caps CommandPlugin.Output (stdout and stderr
	// together, as the agent truncates them).
	PluginOutputLimit = 2500
	// StdoutLimit caps GetCommandInvocation's StandardOutputContent.
	StdoutLimit = 24000
	// StderrLimit caps GetCommandInvocation's StandardErrorContent.
	StderrLimit = 8000
	// DefaultDeliveryTimeout is SendCommand's TimeoutSeconds default.
	DefaultDeliveryTimeout = 3600 * time.Second
	// runParallelism bounds the runner goroutines of one SendCommand.
	runParallelism = 16
)

// The agent's truncation markers for CommandPlugin.Output.
const (
	truncOut   = "\n---Output truncated---"
	truncErr   = "\n---Error truncated----"
	errorTitle = "\n----------ERROR-------\n"
)

var instanceIDPattern = regexp.MustCompile(`^(i-(\w{8}|\w{17})|mi-\w{17})$`)

// Target is what Run Command knows of an instance.
type Target struct {
	Facts Facts
	// Registered: known to SSM (in DescribeInstanceInformation).
	Registered bool
	// Online: PingStatus Online.
	Online bool
}

// Commands is Run Command as SSM answers it, for one account-region:
// SendCommand, ListCommandInvocations and GetCommandInvocation, with AWS's
// limits, statuses, output truncation and S3 output layout. It is safe for
// concurrent use.
//
// Online instances run the command synchronously inside SendCommand (the
// steps of up to 16 instances at a time), so a test sees the final status on
// its first read; meanwhile concurrent readers see InProgress. Instances
// that are registered but not Online — or whose modelled agent is stopped
// or missing, whatever the registration says — never answer: their
// invocations stay Pending until the command's delivery timeout has passed
// on the injected clock, then read TimedOut / DeliveryTimedOut.
//
// A step whose Runner returns a Result.State changed the host (a repair):
// the store keeps that state for the instance and gives it, instead of the
// state lookup reports, to the instance's later commands (HostState reads
// it). The sandbox's world itself is not modified.
//
// Not modelled: Targets (tag targeting), MaxConcurrency/MaxErrors
// enforcement, CancelCommand, step onFailure, CloudWatch output and SNS
// notifications (their settings are echoed back).
type Commands struct {
	account, region string
	runner          Runner
	clock           func() time.Time

	docMu sync.RWMutex
	docs  func(name string) ([]byte, bool)

	mu         sync.Mutex
	all        []*invocation
	byCommand  map[string][]*invocation
	byInstance map[string][]*invocation
	byKey      map[[2]string]*invocation
	// hosts holds the on-host state steps changed, by instance id.
	hosts map[string]*State
}

type command struct {
	id, documentName, documentVersion, comment string
	params                                     map[string][]string
	requested, deadline                        time.Time
	timeout                                    int32
	bucket, prefix                             string
	serviceRole                                *string
	notification                               *types.NotificationConfig
	cloudWatch                                 *types.CloudWatchOutputConfig
	instanceIDs                                []string
}

type invocation struct {
	cmd        *command
	instanceID string
	plugins    []*pluginRun
}

type pluginRun struct {
	step                 step
	status               types.CommandPluginStatus
	details              string
	code                 int32
	stdout, stderr       string
	start, end           time.Time
	stdoutURL, stderrURL string
	// skipped: the step's precondition or plugin excluded the platform.
	skipped bool
}

// NewCommands returns an empty store. runner nil is ModelRunner; clock nil
// is time.Now.
func NewCommands(account, region string, runner Runner, clock func() time.Time) *Commands {
	if runner == nil {
		runner = ModelRunner{}
	}
	if clock == nil {
		clock = time.Now
	}
	return &Commands{
		account: account, region: region, runner: runner, clock: clock,
		byCommand:  map[string][]*invocation{},
		byInstance: map[string][]*invocation{},
		byKey:      map[[2]string]*invocation{},
		hosts:      map[string]*State{},
	}
}

// HostState returns the on-host state a step of an earlier command left on
// the instance, and whether there is one.
func (c *Commands) HostState(instanceID string) (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.hosts[instanceID]
	if !ok {
		return State{}, false
	}
	return cloneState(s), true
}

// SetDocumentSource gives the store the text of Command documents by name
// (YAML or JSON). Documents the source does not know fall back to built-in
// stand-ins for AWS-RunShellScript, AWS-RunPowerShellScript and
// DiagnoseDocument; any other name is InvalidDocument.
func (c *Commands) SetDocumentSource(read func(name string) ([]byte, bool)) {
	c.docMu.Lock()
	defer c.docMu.Unlock()
	c.docs = read
}

func apiErr(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func validation(format string, args ...any) error {
	return apiErr("ValidationException", "1 validation error detected: "+format, args...)
}

func (c *Commands) document(name string) (*document, error) {
	c.docMu.RLock()
	read := c.docs
	c.docMu.RUnlock()
	var content []byte
	if read != nil {
		if b, ok := read(name); ok {
			content = b
		}
	}
	if content == nil {
		s, ok := builtinDocuments[name]
		if !ok {
			return nil, apiErr("InvalidDocument", "Document with name %s does not exist.", name)
		}
		content = []byte(s)
	}
	d, err := parseDocument(name, content)
	var nc errNotCommand
	if errors.As(err, &nc) {
		return nil, apiErr("InvalidDocument", "Document %s is not a Command document: %s", name, nc.Error())
	}
	if err != nil {
		return nil, apiErr("InvalidDocumentContent", "%s", err.Error())
	}
	return d, nil
}

func newCommandID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// SendCommand validates the request as SSM does, records one invocation
// per instance and runs the document on the online ones. lookup resolves
// instance ids; upload (optional) stores full output when
// OutputS3BucketName is set, at
// <OutputS3KeyPrefix>/<CommandId>/<InstanceId>/<plugin>/<step>/stdout|stderr.
func (c *Commands) SendCommand(ctx context.Context, in *ssm.SendCommandInput, lookup func(id string) (Target, bool), upload func(bucket, key string, body []byte) error) (*ssm.SendCommandOutput, error) {
	if in == nil {
		return nil, validation("Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	name := aws.ToString(in.DocumentName)
	if name == "" {
		return nil, validation("Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	if len(in.Targets) > 0 {
		return nil, apiErr("ValidationException", "Targets are not modelled by the fleetdoctor sandbox: send InstanceIds (at most %d per call) instead", MaxInstanceIDs)
	}
	if len(in.InstanceIds) == 0 {
		return nil, apiErr("ValidationException", "InstanceIds or Targets must be specified")
	}
	if len(in.InstanceIds) > MaxInstanceIDs {
		return nil, validation("Value '%v' at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to %d", in.InstanceIds, MaxInstanceIDs)
	}
	ids := make([]string, 0, len(in.InstanceIds))
	seen := map[string]bool{}
	for i, id := range in.InstanceIds {
		if !instanceIDPattern.MatchString(id) {
			return nil, validation("Value '%s' at 'instanceIds.%d.member' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\\w{8}|\\w{17})$)|(^mi-\\w{17}$)", id, i+1)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	timeout := int32(DefaultDeliveryTimeout / time.Second)
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
		if timeout < 30 || timeout > 2592000 {
			return nil, validation("Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", timeout)
		}
	}
	if n := utf8.RuneCountInString(aws.ToString(in.Comment)); n > 100 {
		return nil, validation("Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	bucket, prefix := aws.ToString(in.OutputS3BucketName), aws.ToString(in.OutputS3KeyPrefix)
	if bucket != "" && (len(bucket) < 3 || len(bucket) > 63) {
		return nil, validation("Value '%s' at 'outputS3BucketName' failed to satisfy constraint: Member must have length between 3 and 63", bucket)
	}
	if len(prefix) > 500 {
		return nil, validation("Value at 'outputS3KeyPrefix' failed to satisfy constraint: Member must have length less than or equal to 500")
	}
	version := aws.ToString(in.DocumentVersion)
	switch version {
	case "":
		version = "$DEFAULT"
	case "$DEFAULT", "$LATEST", "1":
	default:
		return nil, apiErr("InvalidDocumentVersion", "The document version %s is not valid or does not exist.", version)
	}
	doc, err := c.document(name)
	if err != nil {
		return nil, err
	}
	if err := doc.validate(in.Parameters); err != nil {
		return nil, apiErr("InvalidParameters", "%s", err.Error())
	}

	targets := make([]Target, len(ids))
	var invalid []string
	for i, id := range ids {
		t, ok := lookup(id)
		if !ok || !t.Registered {
			invalid = append(invalid, id)
			continue
		}
		t.Facts.InstanceID = id
		c.mu.Lock()
		if s, ok := c.hosts[id]; ok {
			t.Facts.State = s
		}
		c.mu.Unlock()
		if t.Facts.Region == "" {
			t.Facts.Region = c.region
		}
		targets[i] = t
	}
	if len(invalid) > 0 {
		return nil, apiErr("InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s", strings.Join(invalid, ", "), c.account)
	}

	now := c.clock()
	cmd := &command{
		id: newCommandID(), documentName: name, documentVersion: version, comment: aws.ToString(in.Comment),
		params: copyParams(in.Parameters), requested: now, deadline: now.Add(time.Duration(timeout) * time.Second),
		timeout: timeout, bucket: bucket, prefix: strings.TrimSuffix(prefix, "/"),
		serviceRole: in.ServiceRoleArn, notification: in.NotificationConfig, cloudWatch: in.CloudWatchOutputConfig,
		instanceIDs: ids,
	}
	invs := make([]*invocation, len(ids))
	var run []int
	c.mu.Lock()
	for i, id := range ids {
		inv := &invocation{cmd: cmd, instanceID: id}
		for _, s := range doc.steps {
			inv.plugins = append(inv.plugins, &pluginRun{step: s, status: types.CommandPluginStatusPending, details: "Pending", code: -1})
		}
		if reachable(targets[i]) {
			run = append(run, i)
			for _, p := range inv.plugins {
				p.status, p.details = types.CommandPluginStatusInProgress, "InProgress"
			}
		}
		invs[i] = inv
		c.all = append(c.all, inv)
		c.byCommand[cmd.id] = append(c.byCommand[cmd.id], inv)
		c.byInstance[id] = append(c.byInstance[id], inv)
		c.byKey[[2]string{cmd.id, id}] = inv
	}
	c.mu.Unlock()

	out := &ssm.SendCommandOutput{Command: cmd.snapshot()}

	// The command runs whatever happens to the caller's request.
	runCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, runParallelism)
	var wg sync.WaitGroup
	for _, i := range run {
		wg.Add(1)
		sem <- struct{}{}
		go func(inv *invocation, t Target) {
			defer func() { <-sem; wg.Done() }()
			c.execute(runCtx, inv, t, upload)
		}(invs[i], targets[i])
	}
	wg.Wait()
	return out, nil
}

// reachable says whether the agent would pick the command up.
func reachable(t Target) bool {
	if !t.Online {
		return false
	}
	if s := t.Facts.State; s != nil && (s.Agent.NotInstalled || s.Agent.Stopped) {
		return false
	}
	return true
}

func copyParams(p map[string][]string) map[string][]string {
	if p == nil {
		return nil
	}
	out := make(map[string][]string, len(p))
	for k, v := range p {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// snapshot is the Command as SendCommand returns it.
func (cmd *command) snapshot() *types.Command {
	out := &types.Command{
		CommandId:              aws.String(cmd.id),
		DocumentName:           aws.String(cmd.documentName),
		DocumentVersion:        aws.String(cmd.documentVersion),
		Comment:                aws.String(cmd.comment),
		ExpiresAfter:           aws.Time(cmd.deadline),
		Parameters:             copyParams(cmd.params),
		InstanceIds:            append([]string(nil), cmd.instanceIDs...),
		Targets:                []types.Target{},
		RequestedDateTime:      aws.Time(cmd.requested),
		Status:                 types.CommandStatusPending,
		StatusDetails:          aws.String("Pending"),
		OutputS3Region:         aws.String(""),
		OutputS3BucketName:     aws.String(cmd.bucket),
		OutputS3KeyPrefix:      aws.String(cmd.prefix),
		MaxConcurrency:         aws.String("50"),
		MaxErrors:              aws.String("0"),
		TargetCount:            int32(len(cmd.instanceIDs)),
		ServiceRole:            cmd.serviceRole,
		NotificationConfig:     cmd.notification,
		CloudWatchOutputConfig: cmd.cloudWatch,
		TimeoutSeconds:         aws.Int32(cmd.timeout),
	}
	if out.CloudWatchOutputConfig == nil {
		out.CloudWatchOutputConfig = &types.CloudWatchOutputConfig{CloudWatchOutputEnabled: false}
	}
	return out
}

// execute runs every step of inv on t and records the results.
func (c *Commands) execute(ctx context.Context, inv *invocation, t Target, upload func(bucket, key string, body []byte) error) {
	facts := t.Facts
	if facts.Now.IsZero() {
		facts.Now = c.clock()
	}
	platform := facts.Platform
	if platform == "" {
		platform = "Linux"
	}
	cmd := inv.cmd
	for _, p := range inv.plugins {
		res := pluginRun{step: p.step, start: c.clock()}
		if why := p.step.skipReason(platform); why != "" {
			res.status, res.details, res.code, res.stdout = types.CommandPluginStatusSuccess, "Success", 0, why
			res.skipped = true
		} else {
			r, err := c.runner.Run(ctx, Invocation{
				DocumentName: cmd.documentName, Step: p.step.name, Action: p.step.action,
				Parameters: copyParams(cmd.params), Facts: facts,
			})
			res.code, res.stdout, res.stderr = int32(r.ResponseCode), r.Stdout, r.Stderr
			if r.State != nil && err == nil {
				next := cloneState(r.State)
				facts.State = &next
				c.mu.Lock()
				c.hosts[inv.instanceID] = &next
				c.mu.Unlock()
			}
			switch {
			case err != nil:
				res.status, res.details = types.CommandPluginStatusFailed, "Failed"
				if res.code == 0 {
					res.code = 1
				}
				res.stderr = joinLines(res.stderr, "fleetdoctor sandbox runner: "+err.Error())
			case r.Status == ResultSuccess:
				res.status, res.details = types.CommandPluginStatusSuccess, "Success"
			case r.Status == ResultFailed:
				res.status, res.details = types.CommandPluginStatusFailed, "Failed"
			case r.Status == ResultTimedOut:
				res.status, res.details = types.CommandPluginStatusTimedOut, "ExecutionTimedOut"
			default:
				res.status, res.details = types.CommandPluginStatusFailed, "Failed"
				res.stderr = joinLines(res.stderr, fmt.Sprintf("fleetdoctor sandbox runner: unknown result status %q", r.Status))
			}
		}
		res.end = c.clock()
		if cmd.bucket != "" {
			dir := cmd.id + "/" + inv.instanceID + "/" + p.step.s3Dir
			if cmd.prefix != "" {
				dir = cmd.prefix + "/" + dir
			}
			res.stdoutURL, res.stderrURL = c.s3URL(cmd.bucket, dir+"/stdout"), c.s3URL(cmd.bucket, dir+"/stderr")
			if upload != nil {
				for _, f := range []struct{ key, body string }{{dir + "/stdout", res.stdout}, {dir + "/stderr", res.stderr}} {
					if err := upload(cmd.bucket, f.key, []byte(f.body)); err != nil {
						res.stderr = joinLines(res.stderr, fmt.Sprintf("failed to upload output to s3://%s/%s: %v", cmd.bucket, f.key, err))
					}
				}
			}
		}
		c.mu.Lock()
		*p = res
		c.mu.Unlock()
	}
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

func (c *Commands) s3URL(bucket, key string) string {
	domain := "amazonaws.com"
	if strings.HasPrefix(c.region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return "https://s3." + c.region + "." + domain + "/" + bucket + "/" + key
}

// refresh applies the delivery timeout. Callers hold c.mu.
func (inv *invocation) refresh(now time.Time) {
	if now.Before(inv.cmd.deadline) {
		return
	}
	for _, p := range inv.plugins {
		if p.status == types.CommandPluginStatusPending {
			p.status, p.details = types.CommandPluginStatusTimedOut, "DeliveryTimedOut"
		}
	}
}

// status aggregates the plugins. Callers hold c.mu.
func (inv *invocation) status() (types.CommandInvocationStatus, string) {
	var pending, progress, failed, timedOut, delivery bool
	for _, p := range inv.plugins {
		switch p.status {
		case types.CommandPluginStatusPending:
			pending = true
		case types.CommandPluginStatusInProgress:
			progress = true
		case types.CommandPluginStatusFailed:
			failed = true
		case types.CommandPluginStatusTimedOut:
			timedOut = true
			delivery = delivery || p.details == "DeliveryTimedOut"
		}
	}
	switch {
	case progress:
		return types.CommandInvocationStatusInProgress, "InProgress"
	case pending:
		return types.CommandInvocationStatusPending, "Pending"
	case delivery:
		return types.CommandInvocationStatusTimedOut, "DeliveryTimedOut"
	case failed:
		return types.CommandInvocationStatusFailed, "Failed"
	case timedOut:
		return types.CommandInvocationStatusTimedOut, "ExecutionTimedOut"
	}
	return types.CommandInvocationStatusSuccess, "Success"
}

// ran is the plugin that ran on the instance when exactly one did (the
// invocation-level output URLs are that plugin's).
func (inv *invocation) ran() *pluginRun {
	var out *pluginRun
	for _, p := range inv.plugins {
		if p.stdoutURL == "" || p.skipped {
			continue
		}
		if out != nil {
			return nil
		}
		out = p
	}
	return out
}

func (inv *invocation) toAPI(details bool) types.CommandInvocation {
	cmd := inv.cmd
	st, sd := inv.status()
	out := types.CommandInvocation{
		CommandId:              aws.String(cmd.id),
		InstanceId:             aws.String(inv.instanceID),
		InstanceName:           aws.String(""),
		Comment:                aws.String(cmd.comment),
		DocumentName:           aws.String(cmd.documentName),
		DocumentVersion:        aws.String(cmd.documentVersion),
		RequestedDateTime:      aws.Time(cmd.requested),
		Status:                 st,
		StatusDetails:          aws.String(sd),
		TraceOutput:            aws.String(""),
		StandardOutputUrl:      aws.String(""),
		StandardErrorUrl:       aws.String(""),
		ServiceRole:            cmd.serviceRole,
		NotificationConfig:     cmd.notification,
		CloudWatchOutputConfig: cmd.cloudWatch,
	}
	if p := inv.ran(); p != nil {
		out.StandardOutputUrl, out.StandardErrorUrl = aws.String(p.stdoutURL), aws.String(p.stderrURL)
	}
	if !details {
		return out
	}
	out.CommandPlugins = make([]types.CommandPlugin, 0, len(inv.plugins))
	for _, p := range inv.plugins {
		cp := types.CommandPlugin{
			Name:               aws.String(p.step.name),
			Status:             p.status,
			StatusDetails:      aws.String(p.details),
			ResponseCode:       p.code,
			Output:             aws.String(truncateOutput(p.stdout, p.stderr, PluginOutputLimit)),
			StandardOutputUrl:  aws.String(p.stdoutURL),
			StandardErrorUrl:   aws.String(p.stderrURL),
			OutputS3Region:     aws.String(""),
			OutputS3BucketName: aws.String(cmd.bucket),
			OutputS3KeyPrefix:  aws.String(""),
		}
		if cmd.bucket != "" {
			k := cmd.id + "/" + inv.instanceID + "/" + strings.SplitN(p.step.s3Dir, "/", 2)[0]
			if cmd.prefix != "" {
				k = cmd.prefix + "/" + k
			}
			cp.OutputS3KeyPrefix = aws.String(k)
		}
		if !p.start.IsZero() {
			cp.ResponseStartDateTime = aws.Time(p.start)
		}
		if !p.end.IsZero() {
			cp.ResponseFinishDateTime = aws.Time(p.end)
		}
		out.CommandPlugins = append(out.CommandPlugins, cp)
	}
	return out
}

// cutBytes returns the longest prefix of s of at most n bytes that ends on
// a rune boundary.
func cutBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// truncateOutput is the agent's CommandPlugin.Output: stdout, then
// stderr under an ERROR title, each cut with a marker to fit capacity.
func truncateOutput(stdout, stderr string, capacity int) string {
	title := ""
	if stderr != "" {
		title = errorTitle
	}
	avail := capacity - len(title)
	switch {
	case len(stdout)+len(stderr) < avail:
		return stdout + title + stderr
	case len(stdout) > avail/2 && len(stderr) > avail/2:
		n := (avail - len(truncErr) - len(truncOut)) / 2
		return cutBytes(stdout, n) + truncOut + title + cutBytes(stderr, n) + truncErr
	case len(stdout) < avail/2:
		return stdout + title + cutBytes(stderr, avail-len(truncErr)-len(stdout)) + truncErr
	default:
		n := avail - len(truncOut) - len(stderr)
		if n < 0 { // the agent's own arithmetic cannot get here with sane sizes
			return cutBytes(stdout, (avail-len(truncOut)-len(truncErr))/2) + truncOut + title + cutBytes(stderr, (avail-len(truncOut)-len(truncErr))/2) + truncErr
		}
		return cutBytes(stdout, n) + truncOut + title + stderr
	}
}

// filterSet is ListCommandInvocations' Filters, parsed.
type filterSet struct {
	after, before []time.Time
	status        []types.CommandInvocationStatus
	stage         []string
	docs          []string
}

func parseFilters(fs []types.CommandFilter) (filterSet, error) {
	var out filterSet
	if len(fs) > 5 {
		return out, validation("Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 5")
	}
	for i, f := range fs {
		v := aws.ToString(f.Value)
		switch f.Key {
		case types.CommandFilterKeyInvokedAfter, types.CommandFilterKeyInvokedBefore:
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				if t, err = time.Parse("2006-01-02", v); err != nil {
					return out, apiErr("InvalidFilterValue", "filters.%d: %s value %q is not an ISO 8601 date-time", i+1, f.Key, v)
				}
			}
			if f.Key == types.CommandFilterKeyInvokedAfter {
				out.after = append(out.after, t)
			} else {
				out.before = append(out.before, t)
			}
		case types.CommandFilterKeyStatus:
			s := types.CommandInvocationStatus(v)
			valid := false
			for _, x := range s.Values() {
				valid = valid || x == s
			}
			if !valid {
				return out, apiErr("InvalidFilterValue", "filters.%d: %q is not a command status", i+1, v)
			}
			out.status = append(out.status, s)
		case types.CommandFilterKeyExecutionStage:
			if v != "Executing" && v != "Complete" {
				return out, apiErr("InvalidFilterValue", "filters.%d: ExecutionStage must be Executing or Complete, not %q", i+1, v)
			}
			out.stage = append(out.stage, v)
		case types.CommandFilterKeyDocumentName:
			out.docs = append(out.docs, v)
		default:
			return out, apiErr("InvalidFilterKey", "filters.%d: %q is not a filter key", i+1, f.Key)
		}
	}
	return out, nil
}

func (fs filterSet) match(inv *invocation) bool {
	for _, t := range fs.after {
		if inv.cmd.requested.Before(t) {
			return false
		}
	}
	for _, t := range fs.before {
		if inv.cmd.requested.After(t) {
			return false
		}
	}
	st, _ := inv.status()
	for _, s := range fs.status {
		if st != s {
			return false
		}
	}
	for _, s := range fs.stage {
		executing := st == types.CommandInvocationStatusPending || st == types.CommandInvocationStatusInProgress ||
			st == types.CommandInvocationStatusDelayed || st == types.CommandInvocationStatusCancelling
		if (s == "Executing") != executing {
			return false
		}
	}
	for _, d := range fs.docs {
		if inv.cmd.documentName != d {
			return false
		}
	}
	return true
}

func fingerprint(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func encodeToken(offset int, fp uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + ":" + strconv.FormatUint(fp, 16)))
}

func decodeToken(tok string, fp uint64) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	off, sum, ok := strings.Cut(string(b), ":")
	n, err := strconv.Atoi(off)
	if !ok || err != nil || n < 0 || sum != strconv.FormatUint(fp, 16) {
		return 0, false
	}
	return n, true
}

func validCommandID(field, id string) error {
	if len(id) != 36 {
		return validation("Value '%s' at '%s' failed to satisfy constraint: Member must have length equal to 36", id, field)
	}
	return nil
}

func validInstanceID(field, id string) error {
	if !instanceIDPattern.MatchString(id) {
		return validation("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\\w{8}|\\w{17})$)|(^mi-\\w{17}$)", id, field)
	}
	return nil
}

// ListCommandInvocations lists invocations in the order they were
// requested, filtered by CommandId, InstanceId and Filters, at most 50 a
// page (MaxResults 1–50, default 50). Details adds CommandPlugins, whose
// Output is cut at 2,500 characters as the agent cuts it.
func (c *Commands) ListCommandInvocations(_ context.Context, in *ssm.ListCommandInvocationsInput) (*ssm.ListCommandInvocationsOutput, error) {
	if in == nil {
		in = &ssm.ListCommandInvocationsInput{}
	}
	limit := MaxInvocationsPage
	if in.MaxResults != nil {
		n := *in.MaxResults
		if n < 1 || n > MaxInvocationsPage {
			return nil, validation("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", n, MaxInvocationsPage)
		}
		limit = int(n)
	}
	cmdID, instID := aws.ToString(in.CommandId), aws.ToString(in.InstanceId)
	if in.CommandId != nil {
		if err := validCommandID("commandId", cmdID); err != nil {
			return nil, err
		}
	}
	if in.InstanceId != nil {
		if err := validInstanceID("instanceId", instID); err != nil {
			return nil, err
		}
	}
	fs, err := parseFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	fpParts := []string{cmdID, instID}
	for _, f := range in.Filters {
		fpParts = append(fpParts, string(f.Key), aws.ToString(f.Value))
	}
	fp := fingerprint(fpParts...)
	offset := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		var ok bool
		if offset, ok = decodeToken(tok, fp); !ok {
			return nil, apiErr("InvalidNextToken", "The specified token isn't valid.")
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	var base []*invocation
	switch {
	case cmdID != "":
		base = c.byCommand[cmdID]
	case instID != "":
		base = c.byInstance[instID]
	default:
		base = c.all
	}
	now := c.clock()
	out := &ssm.ListCommandInvocationsOutput{CommandInvocations: []types.CommandInvocation{}}
	matched := 0
	for _, inv := range base {
		if instID != "" && inv.instanceID != instID {
			continue
		}
		inv.refresh(now)
		if !fs.match(inv) {
			continue
		}
		matched++
		if matched <= offset {
			continue
		}
		if len(out.CommandInvocations) == limit {
			out.NextToken = aws.String(encodeToken(offset+limit, fp))
			break
		}
		out.CommandInvocations = append(out.CommandInvocations, inv.toAPI(in.Details))
	}
	return out, nil
}

// GetCommandInvocation returns one step's result on one instance:
// StandardOutputContent is the first 24,000 characters of stdout and
// StandardErrorContent the first 8,000 of stderr, both empty until the
// step has Succeeded or Failed. PluginName may be left out only when the
// document has a single step.
func (c *Commands) GetCommandInvocation(_ context.Context, in *ssm.GetCommandInvocationInput) (*ssm.GetCommandInvocationOutput, error) {
	if in == nil || in.CommandId == nil {
		return nil, validation("Value null at 'commandId' failed to satisfy constraint: Member must not be null")
	}
	if in.InstanceId == nil {
		return nil, validation("Value null at 'instanceId' failed to satisfy constraint: Member must not be null")
	}
	cmdID, instID := aws.ToString(in.CommandId), aws.ToString(in.InstanceId)
	if err := validCommandID("commandId", cmdID); err != nil {
		return nil, err
	}
	if err := validInstanceID("instanceId", instID); err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	inv, ok := c.byKey[[2]string{cmdID, instID}]
	if !ok {
		return nil, apiErr("InvocationDoesNotExist", "Command %s does not have an invocation on instance %s.", cmdID, instID)
	}
	inv.refresh(c.clock())
	var p *pluginRun
	name := aws.ToString(in.PluginName)
	switch {
	case name != "":
		for _, x := range inv.plugins {
			if x.step.name == name {
				p = x
			}
		}
		if p == nil {
			return nil, apiErr("InvalidPluginName", "The plugin name %s is not valid for document %s (steps: %s).", name, inv.cmd.documentName, stepNames(inv))
		}
	case len(inv.plugins) == 1:
		p = inv.plugins[0]
	default:
		return nil, apiErr("InvalidPluginName", "Document %s has more than one step; specify PluginName (one of: %s).", inv.cmd.documentName, stepNames(inv))
	}

	cmd := inv.cmd
	out := &ssm.GetCommandInvocationOutput{
		CommandId:              aws.String(cmd.id),
		InstanceId:             aws.String(inv.instanceID),
		Comment:                aws.String(cmd.comment),
		DocumentName:           aws.String(cmd.documentName),
		DocumentVersion:        aws.String(cmd.documentVersion),
		PluginName:             aws.String(p.step.name),
		ResponseCode:           p.code,
		Status:                 types.CommandInvocationStatus(p.status),
		StatusDetails:          aws.String(p.details),
		StandardOutputContent:  aws.String(""),
		StandardErrorContent:   aws.String(""),
		StandardOutputUrl:      aws.String(p.stdoutURL),
		StandardErrorUrl:       aws.String(p.stderrURL),
		ExecutionStartDateTime: aws.String(""),
		ExecutionEndDateTime:   aws.String(""),
		ExecutionElapsedTime:   aws.String(""),
		CloudWatchOutputConfig: cmd.cloudWatch,
	}
	if out.CloudWatchOutputConfig == nil {
		out.CloudWatchOutputConfig = &types.CloudWatchOutputConfig{CloudWatchOutputEnabled: false}
	}
	if p.status == types.CommandPluginStatusSuccess || p.status == types.CommandPluginStatusFailed {
		out.StandardOutputContent = aws.String(cutBytes(p.stdout, StdoutLimit))
		out.StandardErrorContent = aws.String(cutBytes(p.stderr, StderrLimit))
	}
	if !p.start.IsZero() {
		out.ExecutionStartDateTime = aws.String(isoTime(p.start))
		end := p.end
		if end.IsZero() {
			end = c.clock()
		} else {
			out.ExecutionEndDateTime = aws.String(isoTime(p.end))
		}
		out.ExecutionElapsedTime = aws.String(fmt.Sprintf("PT%.3fS", end.Sub(p.start).Seconds()))
	}
	return out, nil
}

func stepNames(inv *invocation) string {
	names := make([]string, len(inv.plugins))
	for i, p := range inv.plugins {
		names[i] = p.step.name
	}
	return strings.Join(names, ", ")
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
