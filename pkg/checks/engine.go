package checks

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// IncompleteID is the check that reports what could not be collected.
const IncompleteID = "audit_incomplete"

// incomplete is the catalogue entry for collection failures. It has no Eval:
// the engine emits it from the snapshot's collection errors, once per failed
// source and resource, naming the checks that therefore did not run.
var incomplete = &Check{Meta: Meta{
	ID:           IncompleteID,
	Family:       FamilyAudit,
	Title:        "Part of the fleet could not be audited",
	Severity:     High,
	ResourceType: TypeRegion,
	Risk: "An API call fleetdoctor needs failed (access denied, unsupported or throttled past retries), " +
		"so the checks that read it did not run there: problems there stay invisible until it is fixed.",
	Remediation: Remediation{Manual: "Grant the permission the finding names to the audit role " +
		"(or enable the region / raise the quota); there is nothing to change on the instances."},
}}

// Stat counts one check's verdicts in a run.
type Stat struct {
	Check string `json:"check"`
	// Evaluated counts resources the check judged (PASS or FAIL).
	Evaluated int `json:"evaluated"`
	Failed    int `json:"failed"`
	// Errored counts ERROR findings: resources or regions it could not judge.
	Errored int `json:"errored"`
}

// Result is the outcome of evaluating a snapshot. Passing resources are
// counted in Stats, not listed, so a 100,000-instance fleet does not carry a
// million PASS findings around.
type Result struct {
	// Findings are FAIL and ERROR findings, sorted by catalogue order,
	// account, region and resource.
	Findings []Finding
	// Stats has one entry per evaluated check, in catalogue order.
	Stats []Stat
}

// Select returns the catalogue entries named by ids (all when ids is empty),
// in catalogue order, or an error naming the first unknown id.
func Select(ids []string) ([]*Check, error) {
	all := Catalogue()
	if len(ids) == 0 {
		return all, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		if Lookup(id) == nil {
			return nil, fmt.Errorf("unknown check %q (run 'fleetdoctor checks' for the catalogue)", id)
		}
		want[id] = true
	}
	var out []*Check
	for _, c := range all {
		if want[c.ID] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Evaluate runs the selected checks (cfg.Checks, or all) over snap.
func Evaluate(snap *inventory.Snapshot, cfg Config) (*Result, error) {
	selected, err := Select(cfg.Checks)
	if err != nil {
		return nil, err
	}
	if cfg.Now.IsZero() {
		cfg.Now = snap.CollectedAt
	}
	e := &evaluation{cfg: &cfg, snap: snap, stats: map[string]*Stat{}}
	for _, c := range selected {
		e.stats[c.ID] = &Stat{Check: c.ID}
	}
	e.stats[IncompleteID] = &Stat{Check: IncompleteID}
	for _, acct := range snap.Accounts {
		e.account(acct, selected)
	}

	order := map[string]int{}
	for i, c := range Catalogue() {
		order[c.ID] = i
	}
	slices.SortStableFunc(e.findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(order[a.Check], order[b.Check]),
			cmp.Compare(a.Account, b.Account),
			cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Resource, b.Resource),
		)
	})
	res := &Result{Findings: e.findings}
	for _, c := range Catalogue() {
		if st, ok := e.stats[c.ID]; ok && (c.ID != IncompleteID || st.Errored > 0) {
			res.Stats = append(res.Stats, *st)
		}
	}
	return res, nil
}

type evaluation struct {
	cfg      *Config
	snap     *inventory.Snapshot
	findings []Finding
	stats    map[string]*Stat
}

func (e *evaluation) account(acct *inventory.Account, selected []*Check) {
	if acct.Err != nil {
		notChecked := ids(selected)
		for _, id := range notChecked {
			e.stats[id].Errored++ // named by the audit_incomplete finding below
		}
		e.incomplete(acct.ID, "", TypeAccount, acct.ID, acct.Err, notChecked)
		return
	}
	needIAM := needing(selected, inventory.SourceIAM)
	if acct.IAM.Err != nil {
		e.incomplete(acct.ID, "global", TypeAccount, acct.ID, acct.IAM.Err, needIAM)
	} else if len(needIAM) > 0 {
		// Per-resource IAM failures: the checks skip instances whose
		// profile or role is unknown, and this names why.
		for _, key := range slices.Sorted(maps.Keys(acct.IAM.Profiles)) {
			if p := acct.IAM.Profiles[key]; p.Err != nil {
				e.incomplete(acct.ID, "global", TypeProfile, p.ARN, p.Err, needIAM)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(acct.IAM.Roles)) {
			if r := acct.IAM.Roles[key]; r.Err != nil {
				e.incomplete(acct.ID, "global", TypeRole, r.Name, r.Err, needIAM)
			}
		}
	}
	for _, region := range acct.Regions {
		s := newScope(e.cfg, e.snap, acct, region)
		for _, src := range slices.Sorted(maps.Keys(region.Errors)) {
			if affected := needing(selected, src); len(affected) > 0 {
				e.incomplete(acct.ID, region.Name, TypeRegion, acct.ID+"/"+region.Name, region.Errors[src], affected)
			}
		}
		for _, c := range selected {
			e.run(c, s)
		}
	}
}

func (e *evaluation) run(c *Check, s *Scope) {
	st := e.stats[c.ID]
	for _, src := range c.Needs {
		if s.Region.Failed(src) != nil || (src == inventory.SourceIAM && s.Account.IAM.Err != nil) {
			st.Errored++ // named by the audit_incomplete finding for src
			return
		}
	}
	switch {
	case c.Instance != nil:
		insts := s.Region.Instances
		for i := range insts {
			e.record(c, s, st, &insts[i], c.Instance(s, &insts[i]))
		}
	case c.Region != nil:
		for _, o := range c.Region(s) {
			e.record(c, s, st, nil, o)
		}
	}
}

func (e *evaluation) record(c *Check, s *Scope, st *Stat, in *inventory.Instance, o Outcome) {
	switch o.Status {
	case "":
		return
	case Pass:
		st.Evaluated++
		return
	case Fail:
		st.Evaluated++
		st.Failed++
	case Error:
		st.Errored++
	}
	f := Finding{
		Check:        c.ID,
		Status:       o.Status,
		Severity:     cmp.Or(o.Severity, c.Severity),
		Account:      s.Account.ID,
		Region:       s.Region.Name,
		ResourceType: cmp.Or(o.ResourceType, c.ResourceType),
		Resource:     o.Resource,
		Detail:       o.Detail,
		Evidence:     o.Evidence,
		Remediation:  cmp.Or(o.Remediation, &c.Remediation),
	}
	if in != nil && f.Resource == "" {
		f.Resource = in.ID
	}
	e.findings = append(e.findings, f)
}

func (e *evaluation) incomplete(account, region, rtype, resource string, ce *inventory.CollectError, notChecked []string) {
	e.stats[IncompleteID].Errored++
	where := account
	if region != "" && region != "global" {
		where += "/" + region
	}
	why := ce.Kind
	if ce.Permission != "" {
		why += "; grant " + ce.Permission + " to the audit role"
	} else if ce.Code != "" {
		why += " (" + ce.Code + ")"
	}
	ev := map[string]any{
		"api":        ce.API,
		"kind":       ce.Kind,
		"message":    ce.Message,
		"notChecked": notChecked,
	}
	if ce.Code != "" {
		ev["code"] = ce.Code
	}
	if ce.Permission != "" {
		ev["permission"] = ce.Permission
	}
	e.findings = append(e.findings, Finding{
		Check:        IncompleteID,
		Status:       Error,
		Severity:     incomplete.Severity,
		Account:      account,
		Region:       region,
		ResourceType: rtype,
		Resource:     resource,
		Detail: fmt.Sprintf("Could not read %s in %s (%s: %s); not checked: %s.",
			ce.What, where, ce.API, why, strings.Join(notChecked, ", ")),
		Evidence:    ev,
		Remediation: &incomplete.Remediation,
	})
}

// ids names the checks, leaving out audit_incomplete, which reports the
// failure rather than being skipped by it.
func ids(cs []*Check) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.ID != IncompleteID {
			out = append(out, c.ID)
		}
	}
	return out
}

func needing(cs []*Check, src inventory.Source) []string {
	var out []string
	for _, c := range cs {
		if slices.Contains(c.Needs, src) {
			out = append(out, c.ID)
		}
	}
	return out
}
