package hostns

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// vocabulary is a set of evidence key paths, "check_id.key.list[].key":
// the shape of what a producer emits, without the values.
type vocabulary struct {
	mu    sync.Mutex
	paths map[string]bool
}

func newVocabulary() *vocabulary { return &vocabulary{paths: map[string]bool{}} }

// add records every key path of r's evidence.
func (v *vocabulary) add(r hostdiag.Report) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range r.Checks {
		// Round-trip through JSON so both producers' values have JSON's
		// shapes ([]string and []any alike become lists).
		b, err := json.Marshal(c.Evidence)
		if err != nil {
			continue
		}
		var ev any
		_ = json.Unmarshal(b, &ev)
		walkPaths(c.ID, ev, v.paths)
	}
}

func walkPaths(prefix string, v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + "." + k
			into[p] = true
			walkPaths(p, e, into)
		}
	case []any:
		for _, e := range x {
			walkPaths(prefix+"[]", e, into)
		}
	}
}

// missingFrom lists v's paths that other lacks.
func (v *vocabulary) missingFrom(other *vocabulary) []string {
	var out []string
	for p := range v.paths {
		if !other.paths[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// hasPrefix says whether any path starts with prefix.
func (v *vocabulary) hasPrefix(prefix string) bool {
	for p := range v.paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// modelFacts is the healthy host as the sandbox's model sees it.
func modelFacts() host.Facts {
	return host.Facts{
		InstanceID: testInstanceID, Region: testRegion, Platform: "Linux", HTTPEndpoint: "enabled", HTTPTokens: "optional",
		HopLimit: 2, HasCredentials: true, AgentVersion: testAgentVersion, RoleName: testRole, Now: time.Now(),
	}
}

// modelVocabulary is every evidence key path the model emits for a Linux
// host, over states that exercise each optional key.
func modelVocabulary() *vocabulary {
	v := newVocabulary()
	states := []*host.State{
		nil,
		{Firewall: []host.Rule{{Tool: "iptables", Action: "REJECT", UIDRange: "1000-10000", Text: "-A OUTPUT -d 169.254.169.254/32 -m owner --uid-owner 1000-10000 -j REJECT"}}},
		{Firewall: []host.Rule{{Tool: "nftables", Action: "DROP", Text: "ip daddr 169.254.169.254 drop"}}},
		{AgentEnv: map[string]string{"HTTP_PROXY": "http://p:3128", "HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost"}},
		{SystemEnv: map[string]string{"http_proxy": "http://p:3128", "no_proxy": "169.254.169.254"}},
		{EndpointFailures: map[string]string{"ssm": "dns", "ec2messages": "refused", "ssmmessages": "timeout"}},
		{NoRouteToIMDS: true},
		{PolicyRoutesLost: true, NetUtilsVersion: "2.5.0"},
		{IMDSStatus: 404},
		{IMDSStatus: 403},
		{Agent: host.Agent{Stopped: true}},
		{ContainerRuntimes: []string{"docker"}, LinkLocalAllowanceExceeded: 3, ClockSkewSeconds: 900},
	}
	for _, st := range states {
		f := modelFacts()
		f.State = st
		v.add(host.Diagnose(f))
	}
	return v
}

// checkVocabulary asserts that the script emits no evidence key the model
// never emits (the sandbox's model is documented as "the evidence the real
// script shows"), and that the healthy script report carries every key of
// the model's healthy report.
func checkVocabulary(t *testing.T, script, scriptHealthy *vocabulary) {
	t.Helper()
	if extra := script.missingFrom(modelVocabulary()); len(extra) > 0 {
		t.Errorf("the script emits evidence the sandbox model (pkg/sandbox/host) never does:\n  %s", strings.Join(extra, "\n  "))
	}
	if scriptHealthy == nil || len(scriptHealthy.paths) == 0 {
		return
	}
	healthy := newVocabulary()
	healthy.add(host.Diagnose(modelFacts()))
	var missing []string
	for _, p := range healthy.missingFrom(scriptHealthy) {
		// Elements of a list that is empty on the namespace host (no ENA
		// interface there) cannot show their keys.
		if i := strings.Index(p, "[]"); i >= 0 && !scriptHealthy.hasPrefix(p[:i+2]) {
			continue
		}
		missing = append(missing, p)
	}
	if len(missing) > 0 {
		t.Errorf("on a healthy host the model emits evidence the script does not:\n  %s", strings.Join(missing, "\n  "))
	}
}
