package host

import (
	"context"
	"fmt"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// DiagnoseDocument is fleetdoctor's read-only diagnose Command document.
const DiagnoseDocument = hostdiag.DiagnoseDocumentName

// Result statuses a Runner reports.
const (
	ResultSuccess  = "Success"
	ResultFailed   = "Failed"
	ResultTimedOut = "TimedOut"
)

// Invocation is one document step run on one instance.
type Invocation struct {
	DocumentName string
	// Step is the step (plugin) being run: a mainSteps name for schema 2.x
	// documents, the plugin name (aws:runShellScript) for schema 1.2.
	Step string
	// Action is the step's plugin, e.g. aws:runShellScript.
	Action string
	// Parameters are SendCommand's, validated against the document.
	Parameters map[string][]string
	Facts      Facts
}

// Result is what the agent would report back for one step.
type Result struct {
	// Status is Success, Failed or TimedOut.
	Status       string
	ResponseCode int
	Stdout       string
	Stderr       string
	// State, when not nil, is the host's state after the step: the step
	// changed the host (a repair). Commands keeps it for the instance and
	// hands it, in Facts.State, to the instance's later steps and commands.
	State *State
}

// Runner runs documents on hosts. The model runner answers from Facts; the
// host tests plug in a runner that executes the real script inside a
// network namespace. Run is called once per step that runs on the
// instance's platform, possibly from several goroutines at once. An error
// means the runner itself broke; the step is reported Failed with it.
type Runner interface {
	Run(ctx context.Context, inv Invocation) (Result, error)
}

// ModelRunner answers from the model: it knows DiagnoseDocument, whose
// output is the report Diagnose derives from the invocation's Facts, and
// RepairDocument, whose output is the report Repair produces and whose
// changes it returns in Result.State. Any other document fails with a
// message saying so.
type ModelRunner struct{}

// Run implements Runner.
func (ModelRunner) Run(ctx context.Context, inv Invocation) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	switch inv.DocumentName {
	case DiagnoseDocument:
	case RepairDocument:
		return runRepair(inv), nil
	default:
		return Result{
			Status:       ResultFailed,
			ResponseCode: 1,
			Stderr: fmt.Sprintf("fleetdoctor sandbox: the model runner cannot run document %q (step %q); "+
				"it only models %s and %s. Plug a host.Runner that executes the document to run it.",
				inv.DocumentName, inv.Step, DiagnoseDocument, RepairDocument),
		}, nil
	}
	out, err := hostdiag.Encode(Diagnose(inv.Facts))
	if err != nil {
		return Result{Status: ResultFailed, ResponseCode: 1, Stderr: "fleetdoctor diagnose: " + err.Error()}, nil
	}
	return Result{Status: ResultSuccess, Stdout: string(out)}, nil
}

// runRepair answers RepairDocument from the model. Like the script, it
// exits 1 when an action failed (the model's never do) and 2 on bad
// parameters.
func runRepair(inv Invocation) Result {
	opts, err := ParseRepairParameters(inv.Parameters)
	if err != nil {
		return Result{Status: ResultFailed, ResponseCode: 2, Stderr: "fleetdoctor repair: " + err.Error()}
	}
	rep, next, changed := Repair(inv.Facts, opts)
	out, err := hostdiag.EncodeRepair(rep)
	if err != nil {
		return Result{Status: ResultFailed, ResponseCode: 1, Stderr: "fleetdoctor repair: " + err.Error()}
	}
	res := Result{Status: ResultSuccess, Stdout: string(out)}
	if changed {
		res.State = &next
	}
	return res
}
