package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// PollInterval is how often aws:waitForAwsResourceProperty reads the
// resource again (on the store's Clock).
const PollInterval = 5 * time.Second

const (
	// apiCallTimeout bounds one API call: AWS stops aws:executeAwsApi
	// after 25 seconds.
	apiCallTimeout = 25 * time.Second
	// Throttled calls are retried with exponential backoff, as
	// Automation does.
	maxThrottleRetries = 8
	maxThrottleBackoff = 20 * time.Second
	noOutputYet        = "No output available yet because the step is not successfully executed"
)

const (
	statusSuccess    = types.AutomationExecutionStatusSuccess
	statusFailed     = types.AutomationExecutionStatusFailed
	statusTimedOut   = types.AutomationExecutionStatusTimedout
	statusCancelled  = types.AutomationExecutionStatusCancelled
	statusInProgress = types.AutomationExecutionStatusInprogress
)

// runner interprets one execution on its own goroutine. Only that
// goroutine touches params and outputs; what GetAutomationExecution shows
// goes through the store's mutex.
type runner struct {
	s       *Store
	x       *execution
	rb      *Runbook
	params  map[string]any
	outputs map[string]any // "Step.Output" → value
	count   int            // step executions so far
	// critical is the first failure of a critical step that onFailure let
	// the execution survive: the execution still ends Failed.
	critical string
}

// outcome is how one step (attempt) ended.
type outcome struct {
	status types.AutomationExecutionStatus
	msg    string
	next   string
	outs   map[string]any
}

func fail(format string, args ...any) outcome {
	return outcome{status: statusFailed, msg: fmt.Sprintf(format, args...)}
}

// seqResult is how a sequence of steps (the main steps, or one loop
// iteration) ended: completed, or aborted with a status and message.
type seqResult struct {
	aborted bool
	status  types.AutomationExecutionStatus
	msg     string
}

func (r *runner) run(ctx context.Context) {
	defer r.s.wg.Done()
	r.update(func(x *execution) {
		if x.status == types.AutomationExecutionStatusPending {
			x.status = statusInProgress
		}
	})
	res := r.sequence(ctx, r.rb.MainSteps, nil)
	status, msg := statusSuccess, ""
	switch {
	case ctx.Err() != nil:
		status, msg = statusCancelled, "The automation execution was cancelled."
	case res.aborted:
		status, msg = res.status, res.msg
	case r.critical != "":
		status, msg = statusFailed, r.critical
	}
	outputs := map[string][]string{}
	for _, name := range r.rb.Outputs {
		if v, ok := r.outputs[name]; ok {
			outputs[name] = stringValues(v)
		} else {
			outputs[name] = []string{noOutputYet}
		}
	}
	now := r.s.clock.Now()
	r.s.mu.Lock()
	x := r.x
	x.status, x.failure, x.end, x.outputs = status, msg, now, outputs
	x.current, x.action = "", ""
	x.cancel()
	r.s.running--
	close(x.done)
	r.s.mu.Unlock()
}

func (r *runner) update(f func(x *execution)) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	f(r.x)
}

// sequence runs steps in order, following nextStep, branch targets and
// onFailure, until the end, an isEnd step, or an abort.
func (r *runner) sequence(ctx context.Context, steps []*Step, parent *types.ParentStepDetails) seqResult {
	index := make(map[string]int, len(steps))
	for i, st := range steps {
		index[st.Name] = i
	}
	for i := 0; i < len(steps); {
		if ctx.Err() != nil {
			return seqResult{aborted: true, status: statusCancelled, msg: "The automation execution was cancelled."}
		}
		if r.count >= maxStepExecutions {
			return seqResult{aborted: true, status: statusFailed,
				msg: fmt.Sprintf("The execution ran %d steps; its nextStep and branch targets appear to loop forever.", maxStepExecutions)}
		}
		st := steps[i]
		o := r.step(ctx, st, parent)
		switch o.status {
		case statusSuccess:
			if st.IsEnd {
				return seqResult{}
			}
			next := o.next
			if next == "" {
				next = st.NextStep
			}
			if next != "" {
				i = index[next]
			} else {
				i++
			}
			continue
		case statusCancelled:
			return seqResult{aborted: true, status: statusCancelled, msg: "The automation execution was cancelled."}
		}
		msg := fmt.Sprintf("Step %s (%s) %s: %s", st.Name, st.Action, strings.ToLower(string(o.status)), o.msg)
		if target, ok := strings.CutPrefix(st.OnFailure, "step:"); ok {
			r.noteCritical(st, msg)
			i = index[target]
			continue
		}
		if st.OnFailure != onFailureContinue {
			return seqResult{aborted: true, status: o.status, msg: msg}
		}
		r.noteCritical(st, msg)
		switch {
		case st.IsEnd:
			return seqResult{}
		case st.NextStep != "":
			i = index[st.NextStep]
		default:
			i++
		}
	}
	return seqResult{}
}

func (r *runner) noteCritical(st *Step, msg string) {
	if st.IsCritical && r.critical == "" {
		r.critical = msg
	}
}

// step runs one step with its retries and records it.
func (r *runner) step(ctx context.Context, st *Step, parent *types.ParentStepDetails) outcome {
	r.count++
	rec := types.StepExecution{
		StepName:           aws.String(st.Name),
		Action:             aws.String(st.Action),
		StepStatus:         statusInProgress,
		StepExecutionId:    aws.String(newID()),
		ExecutionStartTime: aws.Time(r.s.clock.Now()),
		OnFailure:          aws.String(st.OnFailure),
		MaxAttempts:        aws.Int32(int32(st.MaxAttempts)),
		IsEnd:              aws.Bool(st.IsEnd),
		IsCritical:         aws.Bool(st.IsCritical),
		ParentStepDetails:  parent,
	}
	if st.NextStep != "" {
		rec.NextStep = aws.String(st.NextStep)
	}
	if st.TimeoutSeconds > 0 {
		rec.TimeoutSeconds = aws.Int64(int64(st.TimeoutSeconds))
	}
	var at int
	r.update(func(x *execution) {
		at = len(x.steps)
		x.steps = append(x.steps, rec)
		x.current, x.action = st.Name, st.Action
	})
	var o outcome
	for attempt := 1; ; attempt++ {
		o = r.attempt(ctx, st, at, aws.ToString(rec.StepExecutionId))
		if ctx.Err() != nil {
			o = outcome{status: statusCancelled, msg: "The step was cancelled."}
		}
		if o.status == statusSuccess || o.status == statusCancelled || attempt >= st.MaxAttempts {
			break
		}
	}
	if o.status == statusSuccess {
		for k, v := range o.outs {
			r.outputs[st.Name+"."+k] = v
		}
	}
	end := r.s.clock.Now()
	r.update(func(x *execution) {
		e := &x.steps[at]
		e.StepStatus = o.status
		e.ExecutionEndTime = aws.Time(end)
		if o.msg != "" && o.status != statusSuccess {
			e.FailureMessage = aws.String(o.msg)
		}
		if len(o.outs) > 0 {
			e.Outputs = recordOutputs(o.outs)
		}
	})
	return o
}

func recordOutputs(outs map[string]any) map[string][]string {
	m := make(map[string][]string, len(outs))
	for k, v := range outs {
		m[k] = stringValues(v)
	}
	return m
}

// setInputs records a step's resolved inputs, JSON-encoded as AWS shows
// them.
func (r *runner) setInputs(at int, inputs map[string]any) {
	m := make(map[string]string, len(inputs))
	for k, v := range inputs {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprintf("%q", text(v)))
		}
		m[k] = string(b)
	}
	r.update(func(x *execution) { x.steps[at].Inputs = m })
}

// attempt runs a step once.
func (r *runner) attempt(ctx context.Context, st *Step, at int, execID string) outcome {
	var deadline time.Time
	timeout := st.TimeoutSeconds
	if timeout == 0 && st.Action == ActionWaitForAwsResourceProp {
		timeout = defaultWaitTimeoutSeconds
	}
	if timeout > 0 {
		deadline = r.s.clock.Now().Add(time.Duration(timeout) * time.Second)
	}
	switch st.Action {
	case ActionExecuteAwsAPI:
		return r.executeAPI(ctx, st, at, deadline)
	case ActionAssertAwsResourceProp:
		return r.assert(ctx, st, at, deadline)
	case ActionWaitForAwsResourceProp:
		return r.waitFor(ctx, st, at, deadline, timeout)
	case ActionBranch:
		return r.branch(st)
	case ActionLoop:
		return r.loop(ctx, st, at, execID, deadline)
	case ActionSleep:
		return r.sleep(ctx, st, at, deadline)
	case ActionRunCommand:
		return r.runCommand(ctx, st, at, deadline)
	}
	return fail("action %s is not supported", st.Action)
}

// lookup resolves a reference at run time.
func (r *runner) lookup(ref ref) (any, error) {
	switch ref.kind {
	case refParameter:
		v, ok := r.params[ref.name]
		if !ok {
			return nil, fmt.Errorf("parameter %s has no value", ref.name)
		}
		return v, nil
	case refSystem:
		now := r.s.clock.Now().UTC()
		switch ref.name {
		case "global:ACCOUNT_ID":
			return r.s.account, nil
		case "global:REGION":
			return r.s.region, nil
		case "global:AWS_PARTITION":
			return partition(r.s.region), nil
		case "global:DATE":
			return now.Format("2006-01-02"), nil
		case "global:DATE_TIME":
			return now.Format("2006-01-02_15.04.05"), nil
		case "automation:EXECUTION_ID":
			return r.x.id, nil
		}
		return nil, fmt.Errorf("{{ %s }} is not a system variable", ref.name)
	}
	v, ok := r.outputs[ref.String()]
	if !ok {
		return nil, fmt.Errorf("{{ %s }} has no value: step %s has not completed successfully", ref, ref.name)
	}
	return v, nil
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (r *runner) resolveMap(m map[string]any) (map[string]any, error) {
	v, err := substitute(m, r.lookup)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// call invokes an API, retrying throttling errors with backoff.
func (r *runner) call(ctx context.Context, spec *apiSpec, params map[string]any, deadline time.Time) (any, error) {
	backoff := time.Second
	for try := 0; ; try++ {
		// Each call gets its own copy: an Invoker may consume its input.
		callCtx, cancel := context.WithTimeout(ctx, apiCallTimeout)
		resp, err := r.s.inv.Invoke(callCtx, spec.service, spec.api, deepCopy(params).(map[string]any))
		cancel()
		if err == nil {
			out, nerr := normalize(resp, 0)
			if nerr != nil {
				return nil, fmt.Errorf("reading the %s response: %v", spec.api, nerr)
			}
			if out == nil {
				out = map[string]any{}
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !throttled(err) || try >= maxThrottleRetries {
			return nil, errors.New(callError(spec.api, err))
		}
		if !deadline.IsZero() && r.s.clock.Now().Add(backoff).After(deadline) {
			return nil, errStepTimeout{fmt.Sprintf("throttled until the step's timeout: %s", callError(spec.api, err))}
		}
		if err := r.s.clock.Sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, maxThrottleBackoff)
	}
}

// errStepTimeout marks a failure that is the step's timeout.
type errStepTimeout struct{ msg string }

func (e errStepTimeout) Error() string { return e.msg }

func outcomeOf(err error) outcome {
	var to errStepTimeout
	switch {
	case errors.As(err, &to):
		return outcome{status: statusTimedOut, msg: to.msg}
	case errors.Is(err, context.Canceled):
		return outcome{status: statusCancelled, msg: "The step was cancelled."}
	}
	return fail("%s", err.Error())
}

func throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "RequestThrottledException":
		return true
	}
	return false
}

// callError words an API error the way Automation reports it (boto3's
// wording).
func callError(api string, err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("An error occurred (%s) when calling the %s operation: %s", ae.ErrorCode(), api, ae.ErrorMessage())
	}
	return fmt.Sprintf("calling the %s operation: %v", api, err)
}

func (r *runner) executeAPI(ctx context.Context, st *Step, at int, deadline time.Time) outcome {
	params, err := r.resolveMap(st.api.params)
	if err != nil {
		return fail("%v", err)
	}
	r.setInputs(at, withCall(st.api, params))
	resp, err := r.call(ctx, st.api, params, deadline)
	if err != nil {
		return outcomeOf(err)
	}
	outs := map[string]any{}
	for _, o := range st.Outputs {
		v, err := typed(o.sel, o.sel.eval(resp), o.Type)
		if err != nil {
			return fail("output %s: %v", o.Name, err)
		}
		outs[o.Name] = v
	}
	return outcome{status: statusSuccess, outs: outs}
}

// deepCopy copies a value tree of maps and lists.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func withCall(spec *apiSpec, params map[string]any) map[string]any {
	m := make(map[string]any, len(params)+2)
	for k, v := range params {
		m[k] = v
	}
	m["Service"], m["Api"] = spec.service, spec.api
	return m
}

// property reads the PropertySelector and reports whether every value it
// matched is one of DesiredValues.
func (r *runner) property(ctx context.Context, st *Step, params map[string]any, desired []string, deadline time.Time) (ok bool, got []string, err error) {
	resp, err := r.call(ctx, st.api, params, deadline)
	if err != nil {
		return false, nil, err
	}
	vals := st.api.property.eval(resp)
	if !st.api.property.multi && len(vals) == 1 {
		if l, isList := vals[0].([]any); isList {
			vals = l
		}
	}
	for _, v := range vals {
		got = append(got, text(v))
	}
	if len(got) == 0 {
		return false, nil, nil
	}
	for _, g := range got {
		if !slices.Contains(desired, g) {
			return false, got, nil
		}
	}
	return true, got, nil
}

func (r *runner) checkInputs(st *Step, at int) (map[string]any, []string, error) {
	params, err := r.resolveMap(st.api.params)
	if err != nil {
		return nil, nil, err
	}
	dv, err := substitute(st.api.desired, r.lookup)
	if err != nil {
		return nil, nil, err
	}
	var desired []string
	for _, v := range dv.([]any) {
		desired = append(desired, stringValues(v)...)
	}
	in := withCall(st.api, params)
	in["PropertySelector"], in["DesiredValues"] = st.api.property.text, desired
	r.setInputs(at, in)
	return params, desired, nil
}

func describeGot(sel *selector, got []string) string {
	if len(got) == 0 {
		return fmt.Sprintf("%s matched nothing in the response", sel.text)
	}
	return fmt.Sprintf("%s is %s", sel.text, strings.Join(got, ", "))
}

func (r *runner) assert(ctx context.Context, st *Step, at int, deadline time.Time) outcome {
	params, desired, err := r.checkInputs(st, at)
	if err != nil {
		return fail("%v", err)
	}
	ok, got, err := r.property(ctx, st, params, desired, deadline)
	if err != nil {
		return outcomeOf(err)
	}
	if !ok {
		return fail("%s, expected one of [%s]", describeGot(st.api.property, got), strings.Join(desired, ", "))
	}
	return outcome{status: statusSuccess}
}

func (r *runner) waitFor(ctx context.Context, st *Step, at int, deadline time.Time, timeout int) outcome {
	params, desired, err := r.checkInputs(st, at)
	if err != nil {
		return fail("%v", err)
	}
	for {
		ok, got, err := r.property(ctx, st, params, desired, deadline)
		if err != nil {
			return outcomeOf(err)
		}
		if ok {
			return outcome{status: statusSuccess}
		}
		now := r.s.clock.Now()
		if !now.Before(deadline) {
			return outcome{status: statusTimedOut, msg: fmt.Sprintf("Step timed out after %d seconds waiting for %s to be one of [%s]; last read: %s",
				timeout, st.api.property.text, strings.Join(desired, ", "), describeGot(st.api.property, got))}
		}
		if err := r.s.clock.Sleep(ctx, min(PollInterval, deadline.Sub(now))); err != nil {
			return outcomeOf(err)
		}
	}
}

func (r *runner) branch(st *Step) outcome {
	for i, c := range st.branch.choices {
		ok, err := r.evalChoice(c)
		if err != nil {
			return fail("Choices[%d]: %v", i, err)
		}
		if ok {
			return outcome{status: statusSuccess, next: c.next}
		}
	}
	return outcome{status: statusSuccess, next: st.branch.def}
}

func (r *runner) evalChoice(c *choice) (bool, error) {
	switch {
	case c.and != nil:
		for _, sub := range c.and {
			ok, err := r.evalChoice(sub)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case c.or != nil:
		for _, sub := range c.or {
			ok, err := r.evalChoice(sub)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.not != nil:
		ok, err := r.evalChoice(c.not)
		return !ok, err
	}
	v, err := substitute(c.variable, r.lookup)
	if err != nil {
		return false, err
	}
	want, err := substitute(c.operand, r.lookup)
	if err != nil {
		return false, err
	}
	return compare(c.op, v, want)
}

func compare(op string, v, want any) (bool, error) {
	switch {
	case slices.Contains(numericOps, op):
		a, ok := number(v)
		if !ok {
			return false, fmt.Errorf("%s: Variable %s is not a number", op, clip(text(v)))
		}
		b, ok := number(want)
		if !ok {
			return false, fmt.Errorf("%s: %s is not a number", op, clip(text(want)))
		}
		switch op {
		case "NumericEquals":
			return a == b, nil
		case "NumericGreater":
			return a > b, nil
		case "NumericLesser":
			return a < b, nil
		case "NumericGreaterOrEquals":
			return a >= b, nil
		default:
			return a <= b, nil
		}
	case op == "BooleanEquals":
		a, ok := boolean(v)
		if !ok {
			return false, fmt.Errorf("%s: Variable %s is not a Boolean", op, clip(text(v)))
		}
		b, ok := boolean(want)
		if !ok {
			return false, fmt.Errorf("%s: %s is not a Boolean", op, clip(text(want)))
		}
		return a == b, nil
	}
	w, ok := scalarString(want)
	if !ok {
		return false, fmt.Errorf("%s: the operand is a list or map, not a string", op)
	}
	if l, isList := v.([]any); isList {
		if op != "Contains" {
			return false, fmt.Errorf("%s: Variable is a list; only Contains tests a list", op)
		}
		for _, e := range l {
			if text(e) == w {
				return true, nil
			}
		}
		return false, nil
	}
	s, ok := scalarString(v)
	if !ok {
		return false, fmt.Errorf("%s: Variable is a map, not a string", op)
	}
	switch op {
	case "StringEquals":
		return s == w, nil
	case "EqualsIgnoreCase":
		return strings.EqualFold(s, w), nil
	case "StartsWith":
		return strings.HasPrefix(s, w), nil
	case "EndsWith":
		return strings.HasSuffix(s, w), nil
	default:
		return strings.Contains(s, w), nil
	}
}

func (r *runner) loop(ctx context.Context, st *Step, at int, execID string, deadline time.Time) outcome {
	spec := st.loop
	var items []any
	if spec.iterators != nil {
		v, err := substitute(spec.iterators, r.lookup)
		if err != nil {
			return fail("Iterators: %v", err)
		}
		list, ok := v.([]any)
		if !ok {
			return fail("Iterators resolved to %s, not a list", clip(text(v)))
		}
		if len(list) > spec.max {
			return fail("Iterators has %d items, more than MaxIterations (%d)", len(list), spec.max)
		}
		for i, e := range list {
			it, err := iteratorValue(e, spec.dataType)
			if err != nil {
				return fail("Iterators[%d]: %v", i, err)
			}
			items = append(items, it)
		}
		r.setInputs(at, map[string]any{"Iterators": items, "IteratorDataType": spec.dataType, "MaxIterations": spec.max})
	} else {
		r.setInputs(at, map[string]any{"MaxIterations": spec.max})
	}
	inner := map[string]bool{}
	for _, s := range st.Steps {
		inner[s.Name] = true
	}
	outs := map[string]any{"CurrentIteration": int64(0)}
	for n := 1; ; n++ {
		var value any
		if spec.iterators != nil {
			if n > len(items) {
				break
			}
			value = items[n-1]
		} else if n > spec.max {
			break
		}
		if !deadline.IsZero() && !r.s.clock.Now().Before(deadline) {
			return outcome{status: statusTimedOut, msg: fmt.Sprintf("Step timed out before iteration %d", n), outs: outs}
		}
		// Each iteration starts without the previous one's inner outputs.
		for k := range r.outputs {
			if name, _, _ := strings.Cut(k, "."); inner[name] {
				delete(r.outputs, k)
			}
		}
		outs = map[string]any{"CurrentIteration": int64(n)}
		parent := &types.ParentStepDetails{StepExecutionId: aws.String(execID), StepName: aws.String(st.Name),
			Action: aws.String(ActionLoop), Iteration: aws.Int32(int32(n))}
		if spec.iterators != nil {
			outs["CurrentIteratorValue"] = text(value)
			parent.IteratorValue = aws.String(text(value))
		}
		for k, v := range outs {
			r.outputs[st.Name+"."+k] = v
		}
		cur := recordOutputs(outs)
		r.update(func(x *execution) { x.steps[at].Outputs = cur })
		res := r.sequence(ctx, st.Steps, parent)
		if res.aborted {
			where := fmt.Sprintf("iteration %d", n)
			if value != nil {
				where += " (" + text(value) + ")"
			}
			return outcome{status: res.status, msg: where + ": " + res.msg, outs: outs}
		}
		if spec.condition != nil {
			again, err := r.evalChoice(spec.condition)
			if err != nil {
				return fail("LoopCondition: %v", err)
			}
			if !again {
				break
			}
		}
	}
	return outcome{status: statusSuccess, outs: outs}
}

func iteratorValue(v any, dataType string) (any, error) {
	switch dataType {
	case "Integer":
		if i, ok := integer(v); ok {
			return i, nil
		}
	case "Boolean":
		if b, ok := boolean(v); ok {
			return b, nil
		}
	case "StringMap":
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		if s, ok := v.(string); ok {
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) == nil && m != nil {
				return normalize(m, 0)
			}
		}
	default:
		if s, ok := scalarString(v); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s is not a %s", clip(text(v)), dataType)
}

func (r *runner) sleep(ctx context.Context, st *Step, at int, deadline time.Time) outcome {
	now := r.s.clock.Now()
	var d time.Duration
	if st.sleep.duration != nil {
		v, err := substitute(st.sleep.duration, r.lookup)
		if err != nil {
			return fail("Duration: %v", err)
		}
		if d, err = parseISODuration(text(v)); err != nil {
			return fail("Duration: %v", err)
		}
		r.setInputs(at, map[string]any{"Duration": text(v)})
	} else {
		v, err := substitute(st.sleep.timestamp, r.lookup)
		if err != nil {
			return fail("Timestamp: %v", err)
		}
		t, err := time.Parse(time.RFC3339, text(v))
		if err != nil {
			return fail("Timestamp: %q is not an ISO 8601 time", clip(text(v)))
		}
		if d = t.Sub(now); d < 0 {
			d = 0
		}
		r.setInputs(at, map[string]any{"Timestamp": text(v)})
	}
	if !deadline.IsZero() && now.Add(d).After(deadline) {
		if err := r.s.clock.Sleep(ctx, deadline.Sub(now)); err != nil {
			return outcomeOf(err)
		}
		return outcome{status: statusTimedOut, msg: fmt.Sprintf("Step timed out after %d seconds of a %s sleep", st.TimeoutSeconds, d)}
	}
	if err := r.s.clock.Sleep(ctx, d); err != nil {
		return outcomeOf(err)
	}
	return outcome{status: statusSuccess}
}

func (r *runner) runCommand(ctx context.Context, st *Step, at int, deadline time.Time) outcome {
	if r.s.cmd == nil {
		return fail("aws:runCommand cannot run: this automation store has no Run Command")
	}
	in, err := r.resolveMap(st.Inputs)
	if err != nil {
		return fail("%v", err)
	}
	r.setInputs(at, in)
	doc, ok := in["DocumentName"].(string)
	if !ok || doc == "" {
		return fail("DocumentName resolved to %s, not a document name", clip(text(in["DocumentName"])))
	}
	var ids []string
	switch x := in["InstanceIds"].(type) {
	case []any:
		for _, e := range x {
			s, ok := scalarString(e)
			if !ok {
				return fail("InstanceIds holds %s, not an instance id", clip(text(e)))
			}
			ids = append(ids, s)
		}
	case string:
		ids = []string{x}
	default:
		return fail("InstanceIds resolved to %s, not a list of instance ids", clip(text(x)))
	}
	if len(ids) == 0 || len(ids) > 50 {
		return fail("InstanceIds has %d ids; Run Command takes 1 to 50", len(ids))
	}
	params := map[string][]string{}
	if p, ok := in["Parameters"].(map[string]any); ok {
		for k, v := range p {
			params[k] = stringValues(v)
		}
	}
	runCtx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, deadline.Sub(r.s.clock.Now()))
		defer cancel()
	}
	var status string
	outs := map[string]any{}
	if rc, ok := r.s.cmd.(ResultCommander); ok {
		var res CommandResult
		res, err = rc.RunCommandResult(runCtx, doc, ids, params)
		status = res.Status
		if res.CommandID != "" {
			outs["CommandId"], outs["ResponseCode"], outs["Output"] = res.CommandID, int64(res.ResponseCode), res.Output
		}
	} else {
		status, err = r.s.cmd.RunCommand(runCtx, doc, ids, params)
	}
	outs["Status"] = status
	switch {
	case ctx.Err() != nil:
		return outcomeOf(ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return outcome{status: statusTimedOut, msg: fmt.Sprintf("Step timed out after %d seconds waiting for command %s", st.TimeoutSeconds, doc)}
	case err != nil:
		return outcome{status: statusFailed, msg: fmt.Sprintf("command %s: %v", doc, err), outs: outs}
	case status != "Success":
		return outcome{status: statusFailed, msg: fmt.Sprintf("command %s ended %s", doc, status), outs: outs}
	}
	return outcome{status: statusSuccess, outs: outs}
}
