package checks

import (
	"testing"
	"time"
)

func TestSSMNotRegistered(t *testing.T) {
	runInstanceCases(t, "ssm_not_registered", []tc{
		{name: "running past the grace period without registering", want: Fail, sev: High,
			setup:    func(f *fixture) { f.inst().Agent = nil },
			detail:   []string{instID + " has been running for 2 days"},
			evidence: map[string]any{"profileArn": profileARN, "registrationGrace": "30m0s", "subnet": subNAT}},
		{name: "no profile is named in evidence", want: Fail,
			setup: func(f *fixture) {
				f.inst().Agent = nil
				f.inst().ProfileARN = ""
			},
			evidence: map[string]any{"profileArn": "none"}},
		{name: "still within the grace period", want: "",
			setup: func(f *fixture) {
				f.inst().Agent = nil
				f.inst().LaunchTime = t0.Add(-10 * time.Minute)
			}},
		{name: "registered", want: Pass},
		{name: "stopped", want: "",
			setup: func(f *fixture) {
				f.inst().Agent = nil
				f.inst().State = "stopped"
			}},
	})
}

func TestSSMConnectionLost(t *testing.T) {
	runInstanceCases(t, "ssm_connection_lost", []tc{
		{name: "ConnectionLost", want: Fail, sev: High,
			setup:    func(f *fixture) { f.inst().Agent.PingStatus = "ConnectionLost" },
			detail:   []string{instID + " is ConnectionLost"},
			evidence: map[string]any{"PingStatus": "ConnectionLost", "agentVersion": "3.3.1142.0"}},
		{name: "Inactive", want: Fail,
			setup: func(f *fixture) { f.inst().Agent.PingStatus = "Inactive" }},
		{name: "Online", want: Pass},
		{name: "stopped instance's agent is expected to be offline", want: "",
			setup: func(f *fixture) {
				f.inst().Agent.PingStatus = "ConnectionLost"
				f.inst().State = "stopped"
			}},
		{name: "not registered", want: "",
			setup: func(f *fixture) { f.inst().Agent = nil }},
	})
}

func TestSSMAgentOutdated(t *testing.T) {
	runInstanceCases(t, "ssm_agent_outdated", []tc{
		{name: "below the fleet minimum", want: Fail, sev: Medium,
			setup: func(f *fixture) {
				f.cfg.AgentMinVersion = "3.3.0.0"
				f.inst().Agent.Version = "3.2.900.0"
			},
			detail:   []string{"older than the fleet minimum 3.3.0.0"},
			evidence: map[string]any{"agentVersion": "3.2.900.0", "minimumVersion": "3.3.0.0", "reliesOnDHMC": false}},
		{name: "DHMC relied on with agent < 3.2.582.0", want: Fail, sev: High,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.inst().ProfileARN = ""
				f.inst().Agent.Version = "3.1.1732.0"
			},
			detail:   []string{"first version that supports DHMC"},
			evidence: map[string]any{"reliesOnDHMC": true, "dhmcMinimumVersion": DHMCMinAgentVersion}},
		{name: "below the DHMC minimum without relying on DHMC, policy minimum lower", want: Pass,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.cfg.AgentMinVersion = "3.0.0.0"
				f.inst().Agent.Version = "3.1.1732.0"
			}},
		{name: "component compared as a number, not text", want: Pass,
			setup: func(f *fixture) {
				f.cfg.AgentMinVersion = "3.9.0.0"
				f.inst().Agent.Version = "3.10.0.0"
			}},
		{name: "up to date", want: Pass},
		{name: "unparsable version", want: "",
			setup: func(f *fixture) { f.inst().Agent.Version = "latest" }},
		{name: "not registered", want: "",
			setup: func(f *fixture) { f.inst().Agent = nil }},
	})
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"3.2.582.0", "3.2.582.0", 0, true},
		{"3.2.581.9", "3.2.582.0", -1, true},
		{"3.10.0.0", "3.9.99.99", 1, true},
		{"3.2", "3.2.0.0", 0, true},
		{"3.2.0.1", "3.2", 1, true},
		{"03.002.582", "3.2.582.0", 0, true},
		{" 3.3.1 ", "3.3.1", 0, true},
		{"99999999999999999999999.0", "3.0", 1, true},
		{"", "3.0", 0, false},
		{"3..1", "3.0", 0, false},
		{"3.1.", "3.0", 0, false},
		{"3.1-beta", "3.0", 0, false},
		{"v3.1", "3.0", 0, false},
	} {
		got, ok := compareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
		if ok {
			if back, _ := compareVersions(c.b, c.a); back != -got {
				t.Errorf("compareVersions(%q, %q) = %d, not the opposite of %d", c.b, c.a, back, got)
			}
		}
	}
}
