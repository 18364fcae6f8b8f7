package remediate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// Rollback restores the before-values of every change runID applied,
// through the same runbooks, journaling rollback-intent before and
// rollback-outcome after each restore. It reads the journal only: the
// changes to undo are those whose outcome is applied (or unverified: made,
// perhaps in effect), with the before-value their intent recorded (the
// value the executor read just before the change).
//
// What can be restored:
//   - instance metadata options: FleetDoctor-SetMetadataOptions with the
//     before-values of the options the change set;
//   - the account's metadata defaults: FleetDoctor-SetAccountMetadataDefaults
//     with the before-values, when both were set (a default that had "no
//     preference" cannot be set back by the runbook);
//   - DHMC: FleetDoctor-EnableDHMC with the previous role, when there was
//     one.
//
// What cannot, journaled as rollback outcome "not-rollbackable" with the
// reason: an attached instance profile (no fleetdoctor runbook calls
// ec2:DisassociateIamInstanceProfile: a profile may have been put to use
// at once), DHMC that was off before (turning it off needs
// ssm:ResetServiceSetting, which no runbook does), and host repairs (the
// removed firewall rule is in the journal's before-value; putting a
// blocking rule back is for a person to decide).
//
// A resource that was changed again since the run (it reads neither the
// run's after-value nor its before-value) is not touched: its rollback
// outcome is failed, with what it reads. A rollback runs every change at
// once (no waves, no MaxErrors) and resumes like Apply. Rolling back
// again is a no-op, except that changes whose rollback failed are tried
// again.
func (e *Executor) Rollback(ctx context.Context, runID string) (*Result, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	entries, err := e.Journal.Entries(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("remediate: reading the journal of %s: %w", runID, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("remediate: run %s has no journal entries", runID)
	}
	intents := map[string]Entry{}
	var order []string
	applied := map[string]bool{}
	for _, en := range entries {
		switch en.Kind {
		case KindIntent:
			intents[en.ChangeID] = en
		case KindOutcome:
			if en.Outcome == OutcomeApplied || en.Outcome == OutcomeUnverified {
				if !applied[en.ChangeID] {
					order = append(order, en.ChangeID)
				}
				applied[en.ChangeID] = true
			}
		}
	}
	var jobs []*job
	for _, id := range order {
		in, ok := intents[id]
		if !ok {
			return nil, errors.New("remediate: journal of " + runID + ": change " + id + " has an outcome but no intent")
		}
		jobs = append(jobs, rollbackJob(in))
	}
	ex := *e
	ex.Options.MaxErrors = -1
	return ex.execute(ctx, runID, rollbackMode, jobs, entries)
}

// rollbackJob turns a change's intent into the change that undoes it.
func rollbackJob(in Entry) *job {
	j := &job{account: in.Account, region: in.Region, remediation: in.Remediation, kind: kindInstance,
		change: Change{ID: in.ChangeID, Resource: in.Resource, Before: in.After, After: map[string]string{},
			Reason: "rollback of run " + in.RunID}}
	if in.Resource == AccountResource {
		j.kind = kindAccount
	}
	switch {
	case in.Resource != AccountResource && hasMetadataField(in.After):
		j.document, j.params = checks.DocSetMetadataOptions, map[string][]string{}
		for _, k := range []string{FieldHttpEndpoint, FieldHttpTokens, FieldHopLimit} {
			if _, ok := in.After[k]; !ok {
				continue
			}
			v := in.Before[k]
			if !validOption(k, v) {
				j.refuse = fmt.Sprintf("the before-value of %s (%q) is not one SetMetadataOptions can set", k, v)
				return j
			}
			j.params[k] = []string{v}
			j.change.After[k] = v
		}
	case in.Resource == AccountResource && isDHMC(in.After):
		v := cmp.Or(in.Before[FieldSettingValue], in.Before[FieldDHMCRole])
		if v == "" || v == "$None" {
			j.refuse = "DHMC was off before the run; turning it off needs ssm:ResetServiceSetting, which no fleetdoctor runbook does " +
				"(aws ssm reset-service-setting --setting-id /ssm/managed-instance/default-ec2-instance-management-role)"
			return j
		}
		j.document, j.params = checks.DocEnableDHMC, map[string][]string{"RoleName": {v}}
		j.change.After[FieldSettingValue], j.change.After[FieldDHMCRole] = v, path.Base(v)
	case in.Resource == AccountResource:
		t, h := in.Before[FieldHttpTokens], in.Before[FieldHopLimit]
		n, err := strconv.Atoi(h)
		if (t != "required" && t != "optional") || err != nil || n < 1 || n > 64 {
			j.refuse = fmt.Sprintf("the account's metadata defaults were HttpTokens=%q, hop limit %q before the run; "+
				"SetAccountMetadataDefaults cannot set \"no preference\" back (ec2:ModifyInstanceMetadataDefaults with no-preference / -1 can)", t, h)
			return j
		}
		j.document, j.params = checks.DocSetAccountMetadataDefaults, map[string][]string{"HttpTokens": {t}, "HttpPutResponseHopLimit": {h}}
		j.change.After[FieldHttpTokens], j.change.After[FieldHopLimit] = t, h
	case in.After[FieldInstanceProfileName] != "":
		j.refuse = "an attached instance profile is not rolled back: no fleetdoctor runbook detaches profiles " +
			"(ec2:DisassociateIamInstanceProfile), and the agent may already depend on it"
	default:
		j.kind = kindHost
		j.refuse = "host repairs are not rolled back: putting a rule that blocks IMDS, or a proxy without NO_PROXY, " +
			"back is for a person to decide (the journal's before-value says what was there)"
	}
	return j
}

// validOption says whether v is a value SetMetadataOptions takes for k.
func validOption(k, v string) bool {
	switch k {
	case FieldHttpEndpoint:
		return v == "enabled" || v == "disabled"
	case FieldHttpTokens:
		return v == "required" || v == "optional"
	case FieldHopLimit:
		n, err := strconv.Atoi(v)
		return err == nil && n >= 1 && n <= 64
	}
	return false
}
