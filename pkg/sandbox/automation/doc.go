// Package automation is the sandbox's SSM Automation: it parses runbooks
// (schemaVersion 0.3) as strictly as SSM validates them when they are
// created, and runs executions in the background the way the service does,
// so fleetdoctor's remediation runbooks (documents/) can be exercised end to
// end without AWS.
//
// Parse validates a runbook: the schema version, each step's action and
// inputs, unique step names, nextStep / onFailure / Choices targets, output
// selectors and types, parameter definitions (type, default,
// allowedValues, allowedPattern, min/max items and chars), and every
// {{ reference }} — to a parameter, to an output some step declares, to a
// loop's CurrentIteration / CurrentIteratorValue, or to a system variable
// (global:ACCOUNT_ID, global:REGION, global:AWS_PARTITION, global:DATE,
// global:DATE_TIME, automation:EXECUTION_ID).
//
// The interpreter runs aws:executeAwsApi, aws:assertAwsResourceProperty,
// aws:waitForAwsResourceProperty (through an Invoker that calls the
// sandbox's own API handlers), aws:runCommand (through a Commander; its
// outputs are Status, and CommandId, ResponseCode and Output when the
// Commander is a ResultCommander),
// aws:branch, aws:loop and aws:sleep, with each step's onFailure (Abort,
// Continue, step:NAME), isCritical, nextStep, isEnd, maxAttempts and
// timeoutSeconds. Other actions are refused by Parse. Sleeps, polls and
// timeouts use a Clock, so tests run them instantly.
//
// Semantics where AWS documents little, chosen to be predictable:
//   - a selector that matches nothing fails the step (a wait keeps polling);
//   - a String / Integer / Boolean / StringMap output takes exactly one
//     matched value; a wildcard selector yields a list;
//   - aws:waitForAwsResourceProperty and aws:assertAwsResourceProperty
//     require every matched value to be one of DesiredValues;
//   - inside a loop, nextStep / onFailure / Choices stay within the loop's
//     steps, isEnd ends the iteration, and each iteration starts without
//     the previous iteration's inner outputs (after the loop, the last
//     iteration's outputs remain); loops do not nest;
//   - a failed critical step fails the execution even when onFailure let it
//     go on; a timed-out step that aborts the execution makes it TimedOut;
//   - throttling errors from the Invoker are retried with backoff.
//
// Store keeps one account-region's executions: StartAutomationExecution
// (parameter validation, at most MaxConcurrentExecutions running),
// GetAutomationExecution (status, step executions — loop steps once per
// iteration with ParentStepDetails — outputs and failure message) and
// StopAutomationExecution, with the SDK's own input and output types and
// errors as *smithy.GenericAPIError with SSM's codes.
package automation
