package automation

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// Invoker calls an AWS API by service and operation name with runbook
// inputs (member names as in boto3 / the API reference, e.g. InstanceId,
// HttpTokens) and returns the response as a generic map with member
// names. The sandbox wires it to its own handlers; tests use a fake.
//
// Input values are string, int64, float64, bool, []any and map[string]any.
// Response values may be any JSON-like Go values (typed numbers, pointers,
// slices and string-keyed maps are all read).
type Invoker interface {
	Invoke(ctx context.Context, service, api string, input map[string]any) (map[string]any, error)
}

// Commander runs a Command document for aws:runCommand and returns the
// command's overall status once it is terminal (Success, Failed, ...).
type Commander interface {
	RunCommand(ctx context.Context, document string, instanceIDs []string, params map[string][]string) (status string, err error)
}

// CommandResult is what an aws:runCommand step reports of its command: the
// step's CommandId, Status, ResponseCode and Output outputs.
type CommandResult struct {
	CommandID string
	// Status is the command's overall status (Success, Failed, ...).
	Status string
	// ResponseCode is the exit code on the first instance.
	ResponseCode int
	// Output is the first instance's output, as CommandPlugin.Output gives
	// it (at most 2,500 characters per step), of the steps that ran there.
	Output string
}

// ResultCommander is a Commander that also reports a command's id,
// response code and output; with it aws:runCommand has the CommandId,
// ResponseCode and Output outputs besides Status.
type ResultCommander interface {
	Commander
	RunCommandResult(ctx context.Context, document string, instanceIDs []string, params map[string][]string) (CommandResult, error)
}

// Clock lets tests run sleeps and waits instantly.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxConcurrentExecutions is how many executions may be running at once in
// one account-region (SSM's quota for concurrently running automations).
const MaxConcurrentExecutions = 100

// maxStepExecutions stops a runbook whose nextStep / branch targets loop
// forever.
const maxStepExecutions = 20000

// Store keeps the Automation executions of one account-region and runs
// them. It is safe for concurrent use.
type Store struct {
	account, region string
	docs            func(name string) ([]byte, bool)
	inv             Invoker
	cmd             Commander
	clock           Clock

	mu      sync.Mutex
	execs   map[string]*execution
	tokens  map[string]clientToken
	running int
	closed  bool
	wg      sync.WaitGroup
}

type clientToken struct {
	id     string
	doc    string
	params map[string][]string
}

// execution is one automation execution. Every field is guarded by the
// store's mutex. Maps and slices reachable from step records are never
// mutated once stored (they are replaced), so a copy of the slice is a
// consistent snapshot.
type execution struct {
	id       string
	document string
	params   map[string][]string
	status   types.AutomationExecutionStatus
	start    time.Time
	end      time.Time
	steps    []types.StepExecution
	outputs  map[string][]string
	failure  string
	current  string
	action   string
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewStore returns the execution store of one account-region. docs looks
// runbooks up by name; inv and cmd carry out aws:executeAwsApi (and the
// assert / wait actions) and aws:runCommand; clock runs sleeps and waits
// (nil is real time).
func NewStore(account, region string, docs func(name string) ([]byte, bool), inv Invoker, cmd Commander, clock Clock) *Store {
	if clock == nil {
		clock = systemClock{}
	}
	return &Store{account: account, region: region, docs: docs, inv: inv, cmd: cmd, clock: clock,
		execs: map[string]*execution{}, tokens: map[string]clientToken{}}
}

func apiError(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// StartAutomationExecution validates the runbook and its parameters and
// starts an execution in the background. Rate control (Targets,
// TargetMaps, MaxConcurrency, ...) and Interactive mode are not modelled
// and are refused.
func (s *Store) StartAutomationExecution(ctx context.Context, in *ssm.StartAutomationExecutionInput) (*ssm.StartAutomationExecutionOutput, error) {
	if in == nil || aws.ToString(in.DocumentName) == "" {
		return nil, apiError("ValidationException", "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	name := aws.ToString(in.DocumentName)
	switch {
	case len(in.Targets) > 0 || len(in.TargetMaps) > 0 || in.TargetParameterName != nil || in.MaxConcurrency != nil || in.MaxErrors != nil:
		return nil, apiError("InvalidAutomationExecutionParametersException", "rate control (Targets, TargetMaps, TargetParameterName, MaxConcurrency, MaxErrors) is not supported by the sandbox; pass the instance ids as a runbook parameter")
	case len(in.TargetLocations) > 0 || in.TargetLocationsURL != nil:
		return nil, apiError("InvalidAutomationExecutionParametersException", "multi-account and multi-Region executions (TargetLocations) are not supported by the sandbox; start one execution per account-region")
	case in.Mode != "" && in.Mode != types.ExecutionModeAuto:
		return nil, apiError("InvalidAutomationExecutionParametersException", "Mode %q is not supported by the sandbox; only Auto", in.Mode)
	}
	data, ok := s.docs(name)
	if !ok {
		return nil, apiError("AutomationDefinitionNotFoundException", "Document with name %s does not exist.", name)
	}
	if v := aws.ToString(in.DocumentVersion); v != "" && v != "$DEFAULT" && v != "$LATEST" && v != "1" {
		return nil, apiError("AutomationDefinitionVersionNotFoundException", "Document %s has no version %s.", name, v)
	}
	rb, err := Parse(data)
	if err != nil {
		if isCommandDocument(data) {
			return nil, apiError("AutomationDefinitionNotFoundException", "Document %s is a Command document, not an Automation runbook.", name)
		}
		return nil, apiError("InvalidDocumentContent", "Document %s is not a valid Automation runbook: %v", name, err)
	}
	typed, shown, err := startParameters(rb, in.Parameters)
	if err != nil {
		return nil, apiError("InvalidAutomationExecutionParametersException", "%s", capitalize(err.Error()))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, apiError("InternalServerError", "the automation store is closed")
	}
	token := aws.ToString(in.ClientToken)
	if token != "" {
		if prev, ok := s.tokens[token]; ok {
			if prev.doc == name && reflect.DeepEqual(prev.params, shown) {
				return &ssm.StartAutomationExecutionOutput{AutomationExecutionId: aws.String(prev.id)}, nil
			}
			return nil, apiError("IdempotentParameterMismatch", "ClientToken %s was used with different parameters", token)
		}
	}
	if s.running >= MaxConcurrentExecutions {
		return nil, apiError("AutomationExecutionLimitExceededException", "There are already %d automation executions running in this account and Region; the limit is %d.", s.running, MaxConcurrentExecutions)
	}
	id := newID()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x := &execution{id: id, document: name, params: shown, status: types.AutomationExecutionStatusPending,
		start: s.clock.Now(), cancel: cancel, done: make(chan struct{})}
	s.execs[id] = x
	if token != "" {
		s.tokens[token] = clientToken{id: id, doc: name, params: shown}
	}
	s.running++
	s.wg.Add(1)
	r := &runner{s: s, x: x, rb: rb, params: typed, outputs: map[string]any{}}
	go r.run(runCtx)
	return &ssm.StartAutomationExecutionOutput{AutomationExecutionId: aws.String(id)}, nil
}

// isCommandDocument reports whether a document declares a Command
// schema version (1.2, 2.0 or 2.2).
func isCommandDocument(data []byte) bool {
	v, err := decodeYAML(data)
	if err != nil {
		return false
	}
	m, _ := v.(map[string]any)
	sv, _ := m["schemaVersion"].(string)
	return sv == "1.2" || sv == "2.0" || sv == "2.2"
}

// startParameters types and validates the parameters of a start request
// against the runbook, filling in defaults. It returns the typed values and
// the values as the execution reports them.
func startParameters(rb *Runbook, given map[string][]string) (map[string]any, map[string][]string, error) {
	for _, name := range sortedKeys(given) {
		if rb.params[name] == nil {
			return nil, nil, fmt.Errorf("parameter %q is not defined in the document", name)
		}
	}
	typed := map[string]any{}
	shown := map[string][]string{}
	for _, prm := range rb.Parameters {
		vals, ok := given[prm.Name]
		var v any
		switch {
		case ok:
			var err error
			if v, err = prm.fromStart(vals); err != nil {
				return nil, nil, fmt.Errorf("parameter %q %v", prm.Name, err)
			}
		case prm.HasDefault:
			v = prm.Default
		default:
			return nil, nil, fmt.Errorf("parameter %q is required but was not provided", prm.Name)
		}
		if err := prm.check(v); err != nil {
			return nil, nil, fmt.Errorf("parameter %q %v", prm.Name, err)
		}
		typed[prm.Name] = v
		shown[prm.Name] = stringValues(v)
	}
	return typed, shown, nil
}

// capitalize makes an error text read as an API message.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// stringValues renders a value the way SSM reports parameters and
// outputs: a list of strings.
func stringValues(v any) []string {
	if l, ok := v.([]any); ok {
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = text(e)
		}
		return out
	}
	return []string{text(v)}
}

// GetAutomationExecution reports an execution: its status, parameters,
// outputs, failure message and every step execution so far (a loop's
// steps once per iteration, with ParentStepDetails).
func (s *Store) GetAutomationExecution(ctx context.Context, in *ssm.GetAutomationExecutionInput) (*ssm.GetAutomationExecutionOutput, error) {
	if in == nil || aws.ToString(in.AutomationExecutionId) == "" {
		return nil, apiError("ValidationException", "1 validation error detected: Value null at 'automationExecutionId' failed to satisfy constraint: Member must not be null")
	}
	id := aws.ToString(in.AutomationExecutionId)
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.execs[id]
	if !ok {
		return nil, apiError("AutomationExecutionNotFoundException", "Automation Execution with id %s does not exist.", id)
	}
	ae := &types.AutomationExecution{
		AutomationExecutionId:     aws.String(x.id),
		AutomationExecutionStatus: x.status,
		DocumentName:              aws.String(x.document),
		DocumentVersion:           aws.String("1"),
		ExecutionStartTime:        aws.Time(x.start),
		Mode:                      types.ExecutionModeAuto,
		Parameters:                maps.Clone(x.params),
		Outputs:                   maps.Clone(x.outputs),
		StepExecutions:            slices.Clone(x.steps),
		ExecutedBy:                aws.String("arn:aws:iam::" + s.account + ":root"),
	}
	if !x.end.IsZero() {
		ae.ExecutionEndTime = aws.Time(x.end)
	}
	if x.failure != "" {
		ae.FailureMessage = aws.String(x.failure)
	}
	if x.current != "" {
		ae.CurrentStepName, ae.CurrentAction = aws.String(x.current), aws.String(x.action)
	}
	return &ssm.GetAutomationExecutionOutput{AutomationExecution: ae}, nil
}

// StopAutomationExecution cancels a running execution; its current step
// and the execution end Cancelled.
func (s *Store) StopAutomationExecution(ctx context.Context, in *ssm.StopAutomationExecutionInput) (*ssm.StopAutomationExecutionOutput, error) {
	if in == nil || aws.ToString(in.AutomationExecutionId) == "" {
		return nil, apiError("ValidationException", "1 validation error detected: Value null at 'automationExecutionId' failed to satisfy constraint: Member must not be null")
	}
	if in.Type != "" && in.Type != types.StopTypeCancel {
		return nil, apiError("InvalidAutomationStatusUpdateException", "Stop type %s is not supported by the sandbox; only Cancel", in.Type)
	}
	id := aws.ToString(in.AutomationExecutionId)
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.execs[id]
	if !ok {
		return nil, apiError("AutomationExecutionNotFoundException", "Automation Execution with id %s does not exist.", id)
	}
	if terminal(x.status) {
		return nil, apiError("InvalidAutomationStatusUpdateException", "Automation Execution %s is already %s.", id, x.status)
	}
	x.status = types.AutomationExecutionStatusCancelling
	x.cancel()
	return &ssm.StopAutomationExecutionOutput{}, nil
}

// Wait blocks until the execution is terminal (Success, Failed, TimedOut
// or Cancelled), or ctx ends.
func (s *Store) Wait(ctx context.Context, id string) error {
	s.mu.Lock()
	x, ok := s.execs[id]
	s.mu.Unlock()
	if !ok {
		return apiError("AutomationExecutionNotFoundException", "Automation Execution with id %s does not exist.", id)
	}
	select {
	case <-x.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels every running execution and waits for them to end. Later
// starts are refused.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	for _, x := range s.execs {
		if !terminal(x.status) {
			x.cancel()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func terminal(st types.AutomationExecutionStatus) bool {
	switch st {
	case types.AutomationExecutionStatusSuccess, types.AutomationExecutionStatusFailed,
		types.AutomationExecutionStatusTimedout, types.AutomationExecutionStatusCancelled:
		return true
	}
	return false
}

// newID returns a random UUID (version 4), the form execution ids take.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
