package sandbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/automation"
)

// skippedStep starts the output the agent reports for a step whose
// precondition excluded the platform.
const skippedStep = "Step execution skipped due to"

// RunCommandResult implements automation.ResultCommander: send, wait until
// every invocation is terminal, and report the command id with the first
// instance's response code and output (its CommandPlugin outputs, at most
// 2,500 characters each, of the steps that ran, joined by newlines).
func (m *commander) RunCommandResult(ctx context.Context, document string, ids []string, params map[string][]string) (automation.CommandResult, error) {
	st := m.s.state(m.account, m.region)
	out, err := m.s.sendCommand(&call{ctx: ctx, s: m.s, account: m.account, region: m.region}, &ssm.SendCommandInput{DocumentName: aws.String(document), InstanceIds: ids, Parameters: params})
	if err != nil {
		return automation.CommandResult{}, err
	}
	res := automation.CommandResult{CommandID: aws.ToString(out.Command.CommandId)}
	for {
		list, err := st.commands.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(res.CommandID), MaxResults: aws.Int32(50), Details: true})
		if err != nil {
			return res, err
		}
		status, done := "Success", true
		for _, inv := range list.CommandInvocations {
			switch inv.Status {
			case ssmtypes.CommandInvocationStatusSuccess:
			case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress, ssmtypes.CommandInvocationStatusDelayed:
				done = false
			default:
				status = string(inv.Status)
			}
		}
		if done {
			res.Status = status
			if len(list.CommandInvocations) > 0 {
				first := list.CommandInvocations[0]
				for _, inv := range list.CommandInvocations {
					if len(ids) > 0 && aws.ToString(inv.InstanceId) == ids[0] {
						first = inv
					}
				}
				var outs []string
				for _, p := range first.CommandPlugins {
					o := aws.ToString(p.Output)
					if strings.HasPrefix(o, skippedStep) {
						continue
					}
					outs = append(outs, o)
					if p.ResponseCode != 0 && res.ResponseCode == 0 {
						res.ResponseCode = int(p.ResponseCode)
					}
				}
				res.Output = strings.Join(outs, "\n")
			}
			if status != "Success" {
				return res, fmt.Errorf("command %s ended %s on at least one instance", res.CommandID, status)
			}
			return res, nil
		}
		if err := m.s.opts.AutomationClock.Sleep(ctx, 200*time.Millisecond); err != nil {
			return res, err
		}
	}
}
