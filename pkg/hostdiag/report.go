// Package hostdiag is the on-host report contract (DESIGN §3): the one JSON
// object the FleetDoctor-DiagnoseHost document prints on stdout, read back
// through GetCommandInvocation. The report is schema-versioned and sized to
// fit the 24,000 characters of StandardOutputContent; Encode guarantees both.
//
// Producers (the Linux and Windows scripts, and the sandbox's model of a
// host, pkg/sandbox/host) and the consumer (the parser that turns reports
// into findings, which treats the report as hostile input) agree on this
// package's types, check ids and evidence vocabulary.
package hostdiag

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the report schema this package writes.
const SchemaVersion = 1

// MaxOutput is the most characters a report may take on stdout: what
// GetCommandInvocation returns in StandardOutputContent.
const MaxOutput = 24000

// Status is a host check's outcome.
type Status string

// Host check statuses.
const (
	Pass  Status = "PASS"
	Fail  Status = "FAIL"
	Error Status = "ERROR" // the script could not evaluate the check
)

// Host check ids (DESIGN §4). They are stable: add, never rename.
const (
	CheckIMDSUnreachable        = "host_imds_unreachable"
	CheckIMDSBlockedByFirewall  = "host_imds_blocked_by_firewall"
	CheckProxyWithoutNoProxy    = "host_proxy_without_no_proxy"
	CheckAgentNotRunning        = "host_agent_not_running"
	CheckSSMEndpointUnreachable = "host_ssm_endpoint_unreachable"
	CheckIMDSThrottled          = "host_imds_throttled"
	CheckNoRouteToIMDS          = "host_no_route_to_imds"
	CheckAgentCredentialErrors  = "host_agent_credential_errors"
	CheckClockSkew              = "host_clock_skew"
	// CheckContainerRuntime is informational (always PASS): the container
	// runtimes on the host, evidence for imds_hop_limit_too_low_for_containers.
	CheckContainerRuntime = "host_container_runtime"
)

// CheckIDs returns every host check id in report order.
func CheckIDs() []string {
	return []string{
		CheckIMDSUnreachable, CheckIMDSBlockedByFirewall, CheckProxyWithoutNoProxy,
		CheckAgentNotRunning, CheckSSMEndpointUnreachable, CheckIMDSThrottled,
		CheckNoRouteToIMDS, CheckAgentCredentialErrors, CheckClockSkew,
		CheckContainerRuntime,
	}
}

// Probe classifications: how an IMDS probe (the "classification" of each
// probe in host_imds_unreachable's evidence) or an SSM endpoint probe (the
// "result" in host_ssm_endpoint_unreachable's) ended.
const (
	ProbeOK      = "ok"
	ProbeRefused = "refused"  // TCP connection refused (a REJECT rule)
	ProbeTimeout = "timeout"  // no answer (a DROP rule, lost routes)
	ProbeNoRoute = "no_route" // network unreachable
	ProbeDNS     = "dns"      // the endpoint name does not resolve
)

// ProbeHTTP is the classification of an HTTP error answer, e.g. "http_403"
// (IMDS turned off), "http_401" (IMDSv1 when tokens are required).
func ProbeHTTP(status int) string { return "http_" + strconv.Itoa(status) }

// Report is the diagnose document's output.
type Report struct {
	// Schema is SchemaVersion.
	Schema int `json:"schema"`
	// Host identifies the host that wrote the report.
	Host Host `json:"host"`
	// Checks holds one entry per host check.
	Checks []Check `json:"checks"`
	// Omitted counts checks Encode had to leave out to stay within
	// MaxOutput (the full report goes to S3 when an output bucket is set).
	Omitted int `json:"omitted,omitempty"`
}

// Host identifies the host a report comes from.
type Host struct {
	InstanceID string `json:"instanceId"`
	Region     string `json:"region"`
	// Platform is "Linux" or "Windows".
	Platform string `json:"platform"`
	// OS is the distribution's pretty name (PRETTY_NAME, or the Windows
	// product name).
	OS string `json:"os"`
	// Kernel is `uname -r`, or the Windows build.
	Kernel string `json:"kernel"`
	// AgentVersion is the installed SSM agent ("" when not installed).
	AgentVersion string `json:"agentVersion"`
	Hostname     string `json:"hostname,omitempty"`
	// GeneratedAt is the host's clock when the report was written (so it
	// carries the host's clock skew).
	GeneratedAt time.Time `json:"generatedAt"`
}

// Check is one host check's verdict.
type Check struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Detail says what was found, in a sentence.
	Detail string `json:"detail,omitempty"`
	// Evidence is what the script saw (rule text, probe results, ...).
	Evidence map[string]any `json:"evidence,omitempty"`
	// Truncated marks evidence that Encode shortened or dropped to fit
	// MaxOutput.
	Truncated bool `json:"truncated,omitempty"`
}

// truncMark ends every string Encode shortens.
const truncMark = "...(truncated)"

// trimLevels are the successive caps Encode applies: the longest string (in
// runes) and the most elements of an evidence list.
var trimLevels = []struct{ runes, items int }{
	{4096, 200}, {1024, 50}, {256, 20}, {64, 5},
}

// Encode writes r as compact JSON of at most MaxOutput bytes (so at most
// MaxOutput characters). When r is too large it is shortened
// deterministically, in this order, each step only as far as needed: long
// strings and long evidence lists are cut (ever shorter); then whole
// evidence maps are dropped, largest first; then checks are left out from
// the end and counted in Omitted. Every check touched is marked Truncated.
// The output is always valid JSON; an error means r holds something JSON
// cannot encode.
func Encode(r Report) ([]byte, error) {
	b, err := marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) <= MaxOutput {
		return b, nil
	}
	w, err := generic(r)
	if err != nil {
		return nil, err
	}
	for _, lv := range trimLevels {
		trimHost(&w.Host, lv.runes)
		for i := range w.Checks {
			c := &w.Checks[i]
			var idCut, detailCut bool
			c.ID, idCut = trimString(c.ID, lv.runes)
			status, statusCut := trimString(string(c.Status), lv.runes)
			c.Status = Status(status)
			c.Detail, detailCut = trimString(c.Detail, lv.runes)
			evidenceCut := trimMap(c.Evidence, lv.runes, lv.items)
			if idCut || statusCut || detailCut || evidenceCut {
				c.Truncated = true
			}
		}
		if b, err = fits(w); err != nil || b != nil {
			return b, err
		}
	}
	// Drop whole evidence maps, largest first (ties by position). Sizes
	// are tracked per check so the whole report is marshalled again only
	// when it should fit.
	total := len(b)
	sizes := make([]int, len(w.Checks))
	order := make([]int, len(w.Checks))
	for i, c := range w.Checks {
		order[i] = i
		eb, err := json.Marshal(c.Evidence)
		if err != nil {
			return nil, fmt.Errorf("hostdiag: encoding evidence of check %d: %w", i, err)
		}
		sizes[i] = len(eb)
	}
	sort.SliceStable(order, func(a, b int) bool { return sizes[order[a]] > sizes[order[b]] })
	for _, i := range order {
		if w.Checks[i].Evidence == nil {
			continue
		}
		before, err := checkSize(w.Checks[i])
		if err != nil {
			return nil, err
		}
		w.Checks[i].Evidence = nil
		w.Checks[i].Truncated = true
		after, err := checkSize(w.Checks[i])
		if err != nil {
			return nil, err
		}
		if total += after - before; total > MaxOutput {
			continue
		}
		if b, err = fits(w); err != nil || b != nil {
			return b, err
		}
	}
	// Leave checks out from the end.
	for len(w.Checks) > 0 {
		n, err := checkSize(w.Checks[len(w.Checks)-1])
		if err != nil {
			return nil, err
		}
		w.Checks = w.Checks[:len(w.Checks)-1]
		w.Omitted++
		if total -= n + 1; total > MaxOutput {
			continue
		}
		if b, err = fits(w); err != nil || b != nil {
			return b, err
		}
	}
	if b, err = fits(w); err != nil || b != nil {
		return b, err
	}
	// Unreachable: the host's strings are capped at 64 runes by now.
	return nil, fmt.Errorf("hostdiag: report does not fit in %d characters even without checks", MaxOutput)
}

func checkSize(c Check) (int, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("hostdiag: encoding check %q: %w", c.ID, err)
	}
	return len(b), nil
}

// fits marshals r and returns the bytes when they fit, nil when they do not.
func fits(r Report) ([]byte, error) {
	b, err := marshal(r)
	if err != nil || len(b) > MaxOutput {
		return nil, err
	}
	return b, nil
}

func marshal(r Report) ([]byte, error) {
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("hostdiag: encoding report: %w", err)
	}
	return b, nil
}

// generic returns a deep copy of r whose evidence holds only JSON's own
// types (map[string]any, []any, string, json.Number, bool, nil), so that it
// can be cut without touching the caller's values.
func generic(r Report) (Report, error) {
	w := r
	w.Checks = make([]Check, len(r.Checks))
	for i, c := range r.Checks {
		w.Checks[i] = c
		if c.Evidence == nil {
			continue
		}
		b, err := json.Marshal(c.Evidence)
		if err != nil {
			return Report{}, fmt.Errorf("hostdiag: encoding evidence of check %q: %w", c.ID, err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var ev map[string]any
		if err := d.Decode(&ev); err != nil {
			return Report{}, fmt.Errorf("hostdiag: copying evidence of check %q: %w", c.ID, err)
		}
		w.Checks[i].Evidence = ev
	}
	return w, nil
}

func trimHost(h *Host, n int) {
	for _, p := range []*string{&h.InstanceID, &h.Region, &h.Platform, &h.OS, &h.Kernel, &h.AgentVersion, &h.Hostname} {
		*p, _ = trimString(*p, n)
	}
}

// trimString cuts s to n runes plus truncMark; it reports whether it cut.
func trimString(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + truncMark, true
}

// trimMap cuts the strings (keys included) and lists inside m in place.
func trimMap(m map[string]any, runes, items int) bool {
	cut := false
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, vc := trimValue(m[k], runes, items)
		nk, kc := trimString(k, runes)
		if kc {
			delete(m, k)
			if _, taken := m[nk]; taken {
				cut = true
				continue
			}
		}
		m[nk] = v
		cut = cut || vc || kc
	}
	return cut
}

func trimValue(v any, runes, items int) (any, bool) {
	switch x := v.(type) {
	case string:
		return trimString(x, runes)
	case map[string]any:
		return x, trimMap(x, runes, items)
	case []any:
		cut := false
		if len(x) > items {
			x, cut = x[:items], true
		}
		for i := range x {
			var c bool
			x[i], c = trimValue(x[i], runes, items)
			cut = cut || c
		}
		return x, cut
	default:
		return v, false
	}
}
