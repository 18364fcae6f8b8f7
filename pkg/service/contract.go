// Package service is what the deployed fleetdoctor does in each Lambda: the
// events the state machine sends, the responses it gets back, the S3 layout
// that carries everything bigger than a count between states, and the
// handlers (one per Lambda) over pkg/audit, pkg/diagnose, pkg/remediate and
// pkg/report. The Lambda mains in lambdas/ only read configuration and call
// these handlers, so the same code runs in the tests against the sandbox.
//
// Step Functions passes at most 256 KiB between states, so no state ever
// carries findings or a fleet: Lambdas write them to the report bucket and
// return keys and counts.
package service

import "time"

// Lambda function names (the directory under lambdas/ and the suffix of the
// deployed function's logical name).
const (
	LambdaTargets   = "targets"
	LambdaDiscover  = "discover"
	LambdaDiagnose  = "diagnose"
	LambdaRemediate = "remediate"
	LambdaReport    = "report"
)

// State names of the state machine. The e2e test binds each Task state to
// its Lambda by these names, so they are part of the contract.
const (
	StateValidateInput     = "ValidateInput"
	StateInputRejected     = "InputRejected"
	StateResolveTargets    = "ResolveTargets"
	StateDiscoverMap       = "DiscoverAccountRegions"
	StateDiscover          = "Discover"
	StateDiscoverFailed    = "RecordDiscoverFailure"
	StateChooseDiagnose    = "DiagnoseRequested"
	StatePlanDiagnosis     = "PlanDiagnosis"
	StateDiagnoseMap       = "DiagnoseBatches"
	StateDiagnoseBatch     = "DiagnoseBatch"
	StateDiagnoseFailed    = "RecordDiagnoseFailure"
	StateChooseRemediate   = "RemediateRequested"
	StatePlanRemediation   = "PlanRemediation"
	StateChooseApply       = "ApplyRequested"
	StateRemediateMap      = "RemediateBatches"
	StateRemediateBatch    = "RemediateBatch"
	StateRemediateFailed   = "RecordRemediateFailure"
	StateReport            = "Report"
	StateReportFailed      = "ReportFailed"
	StateSucceeded         = "Done"
	ErrorInvalidInput      = "fleetdoctor.InvalidInput"
	ErrorUnknownAction     = "fleetdoctor.UnknownAction"
	ErrorDeadlineExhausted = "fleetdoctor.DeadlineExhausted"
)

// Modes of a run (Input.Mode).
const (
	ModeAudit     = "audit"
	ModeDiagnose  = "diagnose"
	ModeRemediate = "remediate"
)

// Input is the state machine's input (DESIGN §3), validated by the targets
// Lambda's "validate" action against input.schema.json. The scheduled run
// sends {"mode":"audit","dryRun":true}.
type Input struct {
	Mode   string `json:"mode"`
	DryRun *bool  `json:"dryRun,omitempty"`
	Scope  Scope  `json:"scope"`
	// Checks limits the audit to these check ids (empty: all).
	Checks []string `json:"checks,omitempty"`
	// Remediations limits fixing to these remediation ids (empty: those
	// the deployed policy enables).
	Remediations []string `json:"remediations,omitempty"`
	// MaxChanges caps the changes of the run (0: the policy's cap).
	MaxChanges int `json:"maxChanges,omitempty"`
	// RunID names the run; the validate action fills it in from the
	// execution name when empty.
	RunID string `json:"runId,omitempty"`

	// raw is the input as it arrived (see UnmarshalJSON): the schema
	// validates what the caller sent, unknown fields and wrong types
	// included, not what survived decoding into this struct.
	raw []byte
}

// Scope narrows a run; empty lists mean the deployment's defaults.
type Scope struct {
	Accounts    []string          `json:"accounts,omitempty"`
	Regions     []string          `json:"regions,omitempty"`
	InstanceIDs []string          `json:"instanceIds,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// TargetsEvent is the targets Lambda's event. Action "validate" checks and
// normalises Input (filling RunID from ExecutionName and DryRun with true)
// and returns it as ValidateResponse; action "resolve" expands the scope
// into account-regions, writes them to the bucket as a JSON array of
// Target (the Distributed Map's ItemReader reads it) and returns
// ResolveResponse.
type TargetsEvent struct {
	Action        string `json:"action"`
	Input         Input  `json:"input"`
	ExecutionName string `json:"executionName,omitempty"`
}

// ValidateResponse is the normalised input.
type ValidateResponse struct {
	Input Input `json:"input"`
}

// Target is one account-region of a run: one item of the discover map.
type Target struct {
	RunID   string `json:"runId"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// ResolveResponse says where the targets are.
type ResolveResponse struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Count  int    `json:"count"`
}

// DiscoverEvent is one item of the discover map: the target plus what the
// run audits. Action is "" (audit the account-region) or "recordFailure"
// (the Task failed after its retries: write a part holding an
// audit_incomplete ERROR finding that names Error and Cause, so the report
// says which account-region was not audited).
type DiscoverEvent struct {
	Action string `json:"action,omitempty"`
	Target
	Input Input  `json:"input"`
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// PartResponse is what discover, diagnose and remediate batches return:
// where their part of the run is and its counts. The map's results are
// not used downstream (ResultPath null): the next state lists the parts.
type PartResponse struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Instances int    `json:"instances"`
	Findings  int    `json:"findings"`
	// Partial is true when the Lambda stopped early because its remaining
	// time ran out; what it finished is in the part.
	Partial bool `json:"partial,omitempty"`
}

// DiagnoseEvent is the diagnose Lambda's event. Action "plan" reads the
// discover parts, picks Online instances with failing API-side findings
// and writes batches (≤ 50 instances, one account-region each); action
// "batch" diagnoses one batch; "recordFailure" writes a part saying the
// batch could not be diagnosed.
type DiagnoseEvent struct {
	Action string `json:"action"`
	RunID  string `json:"runId"`
	Input  Input  `json:"input"`
	Batch  *Batch `json:"batch,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// Batch names one batch file in the bucket.
type Batch struct {
	Key     string `json:"key"`
	Account string `json:"account"`
	Region  string `json:"region"`
	Size    int    `json:"size"`
}

// PlanResponse lists the batches of a plan (diagnose or remediate). The
// list is small (one entry per ≤ 50 or ≤ 100 instances); the instances are
// in the batch files.
type PlanResponse struct {
	Batches []Batch `json:"batches"`
	// Planned counts the changes (remediate) or instances (diagnose).
	Planned int `json:"planned"`
	// PlanKey is the plan document (remediate) in the bucket.
	PlanKey string `json:"planKey,omitempty"`
}

// RemediateEvent is the remediate Lambda's event: action "plan" (build the
// plan from the parts and the deployed policy, honouring Input.DryRun,
// Remediations and MaxChanges), "batch" (apply one batch with the S3
// journal) or "recordFailure".
type RemediateEvent struct {
	Action string `json:"action"`
	RunID  string `json:"runId"`
	Input  Input  `json:"input"`
	Batch  *Batch `json:"batch,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// ReportEvent is the report Lambda's event.
type ReportEvent struct {
	RunID string `json:"runId"`
	Input Input  `json:"input"`
}

// ReportResponse is the run at a glance plus where its report set is.
type ReportResponse struct {
	RunID            string         `json:"runId"`
	Bucket           string         `json:"bucket"`
	RunKey           string         `json:"runKey"`
	HTMLKey          string         `json:"htmlKey"`
	CSVKey           string         `json:"csvKey"`
	Instances        int            `json:"instances"`
	FailingInstances int            `json:"failingInstances"`
	Health           float64        `json:"health"`
	New              int            `json:"new"`
	Resolved         int            `json:"resolved"`
	BySeverity       map[string]int `json:"bySeverity"`
	Notified         []string       `json:"notified"`
	// NotifyErrors says why a notification (Slack, SNS, Security Hub)
	// failed; a failed notification does not fail the report.
	NotifyErrors []string  `json:"notifyErrors,omitempty"`
	FinishedAt   time.Time `json:"finishedAt"`
}

// S3 layout of the report bucket, under the deployment's prefix:
//
//	runs/<runId>/targets.json                   ResolveResponse's array of Target
//	runs/<runId>/discover/<account>-<region>.json  audit.Run of one account-region
//	runs/<runId>/diagnose/batches/<n>.json      a diagnose batch (instance ids)
//	runs/<runId>/diagnose/results/<n>.json      its diagnose result
//	runs/<runId>/remediate/plan.json            the plan
//	runs/<runId>/remediate/batches/<n>.json     a remediate batch
//	runs/<runId>/remediate/results/<n>.json     its outcome
//	runs/<runId>/journal/<runId>/...            remediate.S3Journal (it adds journal/<runId>/)
//	runs/<runId>/report/run.json|findings.csv|report.html
//	latest.json                                 the last finished run (for the diff)
//	history.json                                trend points of the last runs
const (
	KeyRuns    = "runs/"
	KeyLatest  = "latest.json"
	KeyHistory = "history.json"
)

// Environment variables the deployment sets on the Lambdas (infra/) and
// Config reads (lambdas/). Lists are comma-separated.
const (
	// EnvBucket is the report bucket (required).
	EnvBucket = "FLEETDOCTOR_BUCKET"
	// EnvRoleName is the role assumed in each member account.
	EnvRoleName = "FLEETDOCTOR_ROLE_NAME"
	// EnvExternalID is the external id the member role's trust requires.
	EnvExternalID = "FLEETDOCTOR_EXTERNAL_ID"
	// EnvAccounts and EnvRegions are the default scope.
	EnvAccounts = "FLEETDOCTOR_ACCOUNTS"
	EnvRegions  = "FLEETDOCTOR_REGIONS"
	// EnvOrgOU, when set, lists the accounts of this Organizations OU (and
	// its children) instead of EnvAccounts.
	EnvOrgOU = "FLEETDOCTOR_ORG_OU"
	// EnvSlackSecretARN names the Secrets Manager secret holding the Slack
	// webhook or bot token (see pkg/notify).
	EnvSlackSecretARN = "FLEETDOCTOR_SLACK_SECRET_ARN"
	// EnvSNSTopicARN is the topic the report is published to.
	EnvSNSTopicARN = "FLEETDOCTOR_SNS_TOPIC_ARN"
	// EnvSecurityHub is "true" to import findings into Security Hub.
	EnvSecurityHub = "FLEETDOCTOR_SECURITY_HUB"
	// EnvPolicy is the remediation policy document (YAML or JSON, see
	// pkg/policy); empty means policy.Default.
	EnvPolicy = "FLEETDOCTOR_POLICY"
	// EnvAutomationRoleARN is the AutomationAssumeRole passed to runbooks.
	EnvAutomationRoleARN = "FLEETDOCTOR_AUTOMATION_ROLE_ARN"
	// EnvInstanceProfile is the instance profile the attach-profile
	// remediation associates.
	EnvInstanceProfile = "FLEETDOCTOR_INSTANCE_PROFILE"
	// EnvReportURL is the base URL people open the S3 report set at
	// (e.g. a console link prefix); optional.
	EnvReportURL = "FLEETDOCTOR_REPORT_URL"
)
