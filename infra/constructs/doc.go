// Package constructs holds fleetdoctor's CDK constructs, one per concern:
// Storage (the report bucket), Notifications (SNS topic and Slack secret),
// Documents (the SSM documents), Functions (the five Lambdas),
// StateMachine, Schedule, Automation (the Automation and instance roles),
// Monitoring (dashboard and alarms) and MemberRole (the role the hub
// assumes in each audited account). Constructs take their settings as
// props and never read the environment.
package constructs

import (
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records cdk-nag suppressions on scope (and its children), each
// rule with the reason it does not apply.
func suppress(scope any, reasons map[string]string) {
	var s []*cdknag.NagPackSuppression
	for id, reason := range reasons {
		s = append(s, &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(scope, &s, jsii.Bool(true))
}
