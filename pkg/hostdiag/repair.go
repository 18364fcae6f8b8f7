package hostdiag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// RepairSchemaVersion is the repair report schema this package reads and
// writes.
const RepairSchemaVersion = 1

// Repair action ids: the host remediation ids of DESIGN §5. They are
// stable: add, never rename.
const (
	// ActionRemoveIMDSFirewallRule deletes host firewall rules matching
	// 169.254.169.254 (iptables/ip6tables, nftables, ufw, firewalld,
	// Windows Firewall).
	ActionRemoveIMDSFirewallRule = "host_remove_imds_firewall_rule"
	// ActionAddNoProxy adds 169.254.169.254 (and the VPC endpoint names
	// asked for) to NO_PROXY / no_proxy for the agent and the system.
	ActionAddNoProxy = "host_add_no_proxy"
	// ActionRestartAgent restarts the SSM agent so it picks up the
	// changes. The restart is scheduled a few seconds after the report is
	// printed, because restarting the agent ends the command running it.
	ActionRestartAgent = "host_restart_agent"
)

// RepairActionIDs returns every repair action id, in the order the repair
// document runs them.
func RepairActionIDs() []string {
	return []string{ActionRemoveIMDSFirewallRule, ActionAddNoProxy, ActionRestartAgent}
}

// RepairStatus is one repair action's outcome.
type RepairStatus string

// Repair action statuses.
const (
	// RepairChanged: the action changed the host (DryRun=false).
	RepairChanged RepairStatus = "changed"
	// RepairUnchanged: the host already was as the action wants it.
	RepairUnchanged RepairStatus = "unchanged"
	// RepairWouldChange: DryRun=true and the action would change the host.
	RepairWouldChange RepairStatus = "would_change"
	// RepairFailed: the action tried and failed; Detail says why.
	RepairFailed RepairStatus = "failed"
	// RepairSkipped: the action was not asked for, or cannot apply on this
	// host (e.g. no agent installed to restart).
	RepairSkipped RepairStatus = "skipped"
)

// RepairStatuses returns every repair status.
func RepairStatuses() []RepairStatus {
	return []RepairStatus{RepairChanged, RepairUnchanged, RepairWouldChange, RepairFailed, RepairSkipped}
}

// RepairReport is the output of the FleetDoctor-RepairHost document: one
// JSON object on stdout, at most MaxOutput characters.
//
// Before and After of each action describe the state the action looked at,
// before it ran and after it ran (after = before for unchanged, skipped and
// would_change; for would_change, After is what the action would leave):
//   - host_remove_imds_firewall_rule: "rules", a list of "<tool>: <rule>"
//     strings (iptables -S specs, nft rules with their handle, ufw
//     numbered rules, firewalld rich rules, Windows rule names);
//   - host_add_no_proxy: "agent" and "system", the NO_PROXY value of the
//     agent's drop-in and of /etc/environment (Windows: the service's and
//     the machine's environment); "dropIn", the file written;
//   - host_restart_agent: "service" and "active" (the service state);
//     After also carries "scheduled", how the restart was scheduled.
type RepairReport struct {
	// Schema is RepairSchemaVersion.
	Schema int `json:"schema"`
	// Host identifies the host (its InstanceID may be empty when IMDS was
	// unreachable, which is what the repair is for).
	Host Host `json:"host"`
	// DryRun is true when nothing was changed on purpose.
	DryRun bool `json:"dryRun"`
	// Actions has one entry per action the document knows, in
	// RepairActionIDs order; actions not asked for are skipped.
	Actions []RepairAction `json:"actions"`
}

// RepairAction is one repair action's outcome.
type RepairAction struct {
	ID     string       `json:"id"`
	Status RepairStatus `json:"status"`
	// Detail says what was (or would be) done, in a sentence.
	Detail string `json:"detail,omitempty"`
	// Before is the relevant state before the action.
	Before map[string]any `json:"before,omitempty"`
	// After is the relevant state after the action (would leave, for a
	// dry run).
	After map[string]any `json:"after,omitempty"`
}

// Limits ParseRepair enforces on hostile input.
const (
	// MaxRepairString caps every string in a repair report (runes),
	// including keys and values inside Before / After.
	MaxRepairString = 4096
	// MaxRepairItems caps every list and map inside Before / After.
	MaxRepairItems = 200
	// MaxRepairDepth caps the nesting of Before / After values.
	MaxRepairDepth = 6
)

// ErrRepairReport wraps every error ParseRepair returns.
var ErrRepairReport = errors.New("hostdiag: invalid repair report")

func repairErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRepairReport, fmt.Sprintf(format, args...))
}

// ParseRepair reads a repair report printed by the repair document, as
// hostile input: at most MaxOutput bytes, exactly one JSON object with no
// unknown fields and nothing after it, the schema this package knows, a
// Linux or Windows host, known and distinct action ids, known statuses
// consistent with DryRun (no "changed" in a dry run, no "would_change"
// outside one), and every string, list and map within the limits above.
// Numbers inside Before / After decode as json.Number.
func ParseRepair(b []byte) (RepairReport, error) {
	var r RepairReport
	if len(b) > MaxOutput {
		return r, repairErr("%d bytes, more than the %d GetCommandInvocation returns", len(b), MaxOutput)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return RepairReport{}, repairErr("%v", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return RepairReport{}, repairErr("data after the report object")
	}
	if err := r.validate(); err != nil {
		return RepairReport{}, err
	}
	return r, nil
}

func (r RepairReport) validate() error {
	if r.Schema != RepairSchemaVersion {
		return repairErr("schema %d, want %d", r.Schema, RepairSchemaVersion)
	}
	h := r.Host
	for name, s := range map[string]string{
		"instanceId": h.InstanceID, "region": h.Region, "platform": h.Platform, "os": h.OS,
		"kernel": h.Kernel, "agentVersion": h.AgentVersion, "hostname": h.Hostname,
	} {
		if utf8.RuneCountInString(s) > MaxRepairString {
			return repairErr("host.%s is longer than %d characters", name, MaxRepairString)
		}
	}
	if h.Platform != "Linux" && h.Platform != "Windows" {
		return repairErr("host.platform %q is not Linux or Windows", clipString(h.Platform))
	}
	if r.Actions == nil {
		return repairErr("actions is missing")
	}
	if len(r.Actions) > len(RepairActionIDs()) {
		return repairErr("%d actions, the document knows %d", len(r.Actions), len(RepairActionIDs()))
	}
	seen := map[string]bool{}
	for i, a := range r.Actions {
		if !slices.Contains(RepairActionIDs(), a.ID) {
			return repairErr("actions[%d].id %q is not a repair action", i, clipString(a.ID))
		}
		if seen[a.ID] {
			return repairErr("actions[%d].id %q appears twice", i, a.ID)
		}
		seen[a.ID] = true
		if !slices.Contains(RepairStatuses(), a.Status) {
			return repairErr("actions[%d] (%s).status %q is not a repair status", i, a.ID, clipString(string(a.Status)))
		}
		if r.DryRun && a.Status == RepairChanged {
			return repairErr("actions[%d] (%s) changed the host in a dry run", i, a.ID)
		}
		if !r.DryRun && a.Status == RepairWouldChange {
			return repairErr("actions[%d] (%s) is would_change outside a dry run", i, a.ID)
		}
		if utf8.RuneCountInString(a.Detail) > MaxRepairString {
			return repairErr("actions[%d] (%s).detail is longer than %d characters", i, a.ID, MaxRepairString)
		}
		for name, m := range map[string]map[string]any{"before": a.Before, "after": a.After} {
			if err := checkValue(m, 0); err != nil {
				return repairErr("actions[%d] (%s).%s: %v", i, a.ID, name, err)
			}
		}
	}
	return nil
}

// checkValue enforces the string, size and depth limits on a decoded JSON
// value.
func checkValue(v any, depth int) error {
	if depth > MaxRepairDepth {
		return fmt.Errorf("nested deeper than %d levels", MaxRepairDepth)
	}
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) > MaxRepairString {
			return fmt.Errorf("a string is longer than %d characters", MaxRepairString)
		}
	case map[string]any:
		if len(x) > MaxRepairItems {
			return fmt.Errorf("a map has more than %d entries", MaxRepairItems)
		}
		for k, e := range x {
			if utf8.RuneCountInString(k) > MaxRepairString {
				return fmt.Errorf("a key is longer than %d characters", MaxRepairString)
			}
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		if len(x) > MaxRepairItems {
			return fmt.Errorf("a list has more than %d items", MaxRepairItems)
		}
		for _, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	case nil, bool, json.Number, float64:
	default:
		return fmt.Errorf("unexpected value of type %T", v)
	}
	return nil
}

// clipString shortens s for an error message.
func clipString(s string) string {
	s, _ = trimString(s, 64)
	return s
}

// EncodeRepair writes r as compact JSON of at most MaxOutput bytes. When r
// is too large, Before / After maps are dropped (from the last action
// back) and their action's Detail says so; an error means r still does not
// fit or holds something JSON cannot encode.
func EncodeRepair(r RepairReport) ([]byte, error) {
	if r.Actions == nil {
		r.Actions = []RepairAction{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("hostdiag: encoding repair report: %w", err)
	}
	if len(b) <= MaxOutput {
		return b, nil
	}
	r.Actions = slices.Clone(r.Actions)
	for i := len(r.Actions) - 1; i >= 0; i-- {
		a := &r.Actions[i]
		a.Before, a.After = nil, nil
		a.Detail, _ = trimString(a.Detail, 1024)
		a.Detail += " (before/after left out to fit the output)"
		if b, err = json.Marshal(r); err != nil {
			return nil, fmt.Errorf("hostdiag: encoding repair report: %w", err)
		}
		if len(b) <= MaxOutput {
			return b, nil
		}
	}
	return nil, fmt.Errorf("hostdiag: repair report does not fit in %d characters", MaxOutput)
}
