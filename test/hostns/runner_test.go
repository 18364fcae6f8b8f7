package hostns

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// nsRunner is a host.Runner that runs the real Linux step of a document on
// a namespace host: the sandbox's SendCommand reaches a real kernel's
// firewall and a real script instead of the model. Instances without a
// namespace host fall back to the model.
type nsRunner struct {
	hosts map[string]*nsHost // by instance id
	model host.ModelRunner
}

var _ host.Runner = (*nsRunner)(nil)

// Run implements host.Runner.
func (r *nsRunner) Run(ctx context.Context, inv host.Invocation) (host.Result, error) {
	h, ok := r.hosts[inv.Facts.InstanceID]
	if !ok {
		return r.model.Run(ctx, inv)
	}
	if inv.Action != "aws:runShellScript" {
		return host.Result{Status: host.ResultFailed, ResponseCode: 1, Stderr: "namespace hosts run Linux steps only"}, nil
	}
	script, err := stepScript(inv.DocumentName, inv.Step)
	if err != nil {
		return host.Result{}, err
	}
	// ENV_VAR parameters reach the script as SSM_<Name>, as agents from
	// 3.3.2746.0 pass them.
	var env []string
	names := make([]string, 0, len(inv.Parameters))
	for n := range inv.Parameters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		env = append(env, "SSM_"+n+"="+strings.Join(inv.Parameters[n], ","))
	}
	res, err := h.start(script, env)()
	if err != nil {
		return host.Result{}, err
	}
	out := host.Result{Status: host.ResultSuccess, ResponseCode: res.Code, Stdout: res.Stdout, Stderr: res.Stderr}
	if res.Code != 0 {
		out.Status = host.ResultFailed
	}
	return out, nil
}

// stepScript is a document step's runCommand lines joined as the agent
// writes them to its script file.
func stepScript(document, step string) (string, error) {
	b, err := documents.Read(document)
	if err != nil {
		return "", err
	}
	var doc struct {
		MainSteps []struct {
			Name   string `yaml:"name"`
			Inputs struct {
				RunCommand []string `yaml:"runCommand"`
			} `yaml:"inputs"`
		} `yaml:"mainSteps"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", document, err)
	}
	for _, s := range doc.MainSteps {
		if s.Name == step {
			return strings.Join(s.Inputs.RunCommand, "\n"), nil
		}
	}
	return "", fmt.Errorf("%s has no step %s", document, step)
}
