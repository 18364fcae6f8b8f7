package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// DefaultEMFNamespace is the CloudWatch namespace `--format emf` writes.
const DefaultEMFNamespace = "FleetDoctor"

// EMF limits (CloudWatch Embedded Metric Format specification).
const (
	// EMFMaxMetrics is the most metrics one directive may declare.
	EMFMaxMetrics = 100
	// EMFMaxDimensions is the most dimensions one dimension set may name.
	EMFMaxDimensions = 30
)

// emfGlobalRegion stands for the region of account-wide findings (IAM, an
// account that could not be entered).
const emfGlobalRegion = "global"

// WriteEMF writes run as CloudWatch Embedded Metric Format, one JSON object
// per line, all stamped with the run's start time:
//   - per account-region (dimensions Account, Region): FailingFindings
//     (FAIL), ErrorFindings (ERROR) and, when the run carries its
//     inventory, Instances and HealthyInstances (without a FAIL finding);
//   - per account-region and severity (Account, Region, Severity):
//     FailingFindings, for every severity, zeros included, so alarms see
//     data rather than missing points;
//   - per account-region and check (Account, Region, Check):
//     FailingFindings, for every check the run evaluated or found.
//
// Account-wide findings (no region) are reported under Region "global".
// Every value is a count (Unit "Count"); every directive stays within the
// EMF limits (EMFMaxMetrics, EMFMaxDimensions).
func WriteEMF(w io.Writer, run *audit.Run, namespace string) error {
	if namespace == "" {
		namespace = DefaultEMFNamespace
	}
	type where struct{ account, region string }
	type counts struct {
		fail, errs int
		bySev      map[checks.Severity]int
		byCheck    map[string]int
		failing    map[string]bool // instance ids with a FAIL
	}
	places := map[where]*counts{}
	at := func(account, region string) *counts {
		if region == "" {
			region = emfGlobalRegion
		}
		k := where{account, region}
		c, ok := places[k]
		if !ok {
			c = &counts{bySev: map[checks.Severity]int{}, byCheck: map[string]int{}, failing: map[string]bool{}}
			places[k] = c
		}
		return c
	}
	for _, a := range run.Run.Scope.Accounts {
		for _, r := range run.Run.Scope.Regions {
			at(a, r)
		}
	}
	instances := map[where][]string{}
	if run.Snapshot != nil {
		for _, a := range run.Snapshot.Accounts {
			for _, r := range a.Regions {
				at(a.ID, r.Name)
				ids := make([]string, 0, len(r.Instances))
				for i := range r.Instances {
					ids = append(ids, r.Instances[i].ID)
				}
				instances[where{a.ID, r.Name}] = ids
			}
		}
	}
	checkIDs := map[string]bool{}
	for _, st := range run.Summary.Checks {
		checkIDs[st.Check] = true
	}
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		checkIDs[f.Check] = true
		c := at(f.Account, f.Region)
		if f.Status == checks.Error {
			c.errs++
			continue
		}
		c.fail++
		c.bySev[f.Severity]++
		c.byCheck[f.Check]++
		if f.ResourceType == checks.TypeInstance {
			c.failing[f.Resource] = true
		}
	}
	ids := make([]string, 0, len(checkIDs))
	for id := range checkIDs {
		ids = append(ids, id)
	}
	rank := hostdiag.CatalogueRank()
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })
	keys := make([]where, 0, len(places))
	for k := range places {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b where) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region))
	})

	ts := run.Run.StartedAt.UnixMilli()
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		c := places[k]
		base := map[string]any{"Account": k.account, "Region": k.region}
		values := map[string]int{"FailingFindings": c.fail, "ErrorFindings": c.errs}
		if instIDs, ok := instances[k]; ok {
			healthy := 0
			for _, id := range instIDs {
				if !c.failing[id] {
					healthy++
				}
			}
			values["Instances"], values["HealthyInstances"] = len(instIDs), healthy
		}
		if err := writeEMFLines(bw, ts, namespace, []string{"Account", "Region"}, base, values); err != nil {
			return err
		}
		for _, sev := range checks.Severities {
			props := map[string]any{"Account": k.account, "Region": k.region, "Severity": string(sev)}
			if err := writeEMFLines(bw, ts, namespace, []string{"Account", "Region", "Severity"}, props,
				map[string]int{"FailingFindings": c.bySev[sev]}); err != nil {
				return err
			}
		}
		for _, id := range ids {
			props := map[string]any{"Account": k.account, "Region": k.region, "Check": id}
			if err := writeEMFLines(bw, ts, namespace, []string{"Account", "Region", "Check"}, props,
				map[string]int{"FailingFindings": c.byCheck[id]}); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// emfMetric declares one metric of a directive.
type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// emfDirective is one entry of _aws.CloudWatchMetrics.
type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

// emfMetadata is the _aws member of an EMF line.
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// writeEMFLines writes values with the dimension set dims (whose values
// are in props) as EMF lines of at most EMFMaxMetrics metrics each.
func writeEMFLines(w io.Writer, ts int64, namespace string, dims []string, props map[string]any, values map[string]int) error {
	if len(dims) > EMFMaxDimensions {
		return fmt.Errorf("EMF: %d dimensions, at most %d", len(dims), EMFMaxDimensions)
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	for len(names) > 0 {
		chunk := names[:min(len(names), EMFMaxMetrics)]
		names = names[len(chunk):]
		line := make(map[string]any, len(props)+len(chunk)+1)
		for k, v := range props {
			line[k] = v
		}
		metrics := make([]emfMetric, len(chunk))
		for i, n := range chunk {
			metrics[i] = emfMetric{Name: n, Unit: "Count"}
			line[n] = values[n]
		}
		line["_aws"] = emfMetadata{Timestamp: ts, CloudWatchMetrics: []emfDirective{{
			Namespace: namespace, Dimensions: [][]string{dims}, Metrics: metrics,
		}}}
		data, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("encoding EMF: %w", err)
		}
		data = append(escapeUnsafeRunes(data), '\n')
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
