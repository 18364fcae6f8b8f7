// Package scenario builds the worlds the embedded AWS sandbox serves. A
// scenario is a YAML file (README.md documents the schema) that a person can
// write by hand — accounts, regions, VPCs, IAM, and groups of alike
// instances — and that a generator expands deterministically: the same
// scenario, parameters and seed give a byte-identical world.
//
// The world is pkg/fake's Fleet (what the EC2, SSM, IAM and CloudWatch APIs
// say) plus, per instance, the on-host state of pkg/sandbox/host (what only
// the diagnose document can see). Built-in scenarios are embedded:
// "demo", a small two-account fleet in which every check of the catalogue
// both fails and passes somewhere, and "scale", a parameterised fleet of
// 100,000 instances for load tests.
package scenario

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

//go:embed scenarios/*.yaml
var builtin embed.FS

// Defaults for what a scenario leaves unset.
const (
	DefaultAuditRole      = "FleetDoctorAudit"
	DefaultAutomationRole = "FleetDoctorAutomation"
)

// DefaultNow is the reference time of scenarios that do not set one.
var DefaultNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// maxFileSize caps scenario files: the largest sensible hand-written
// scenario is a few hundred lines, and yaml.v3 reads the whole document.
const maxFileSize = 4 << 20

// World is everything the sandbox serves.
//
// Instances of one group share values that never change in place (id
// strings, placement, tag and security-group slices whose capacity equals
// their length, so an append copies). State, MetadataOptions and
// IamInstanceProfile are per instance. Code that changes the world should
// replace objects rather than write through shared pointers.
type World struct {
	// Fleet is the API-side model (EC2, SSM, IAM, CloudWatch).
	Fleet *fake.Fleet
	// Hosts is the on-host state by instance id; an absent entry is a
	// healthy Amazon Linux 2023 host.
	Hosts map[string]*host.State
	// CallerAccount is the account the sandbox's base credentials belong
	// to (the hub).
	CallerAccount string
	// AuditRole is the role the auditor assumes in member accounts.
	AuditRole string
	// AutomationRole is the role remediation assumes in member accounts.
	AutomationRole string
	// Assumable maps an account id to the role names sts:AssumeRole may
	// enter there.
	Assumable map[string][]string
	// Accounts and Regions are in scenario order.
	Accounts []string
	Regions  []string
	// Now is the moment launch and ping ages count back from.
	Now time.Time
}

// Params adjusts a scenario when it is built. Zero fields keep the
// scenario's own values.
type Params struct {
	// Instances is the total number of instances (the weighted groups
	// absorb the change).
	Instances int
	// AccountRegions is how many account-regions a scenario with a
	// generate section stamps out.
	AccountRegions int
	// Seed replaces the scenario's seed.
	Seed int64
	// Now replaces the scenario's reference time; pass time.Now() for a
	// world whose ages are live (it is then no longer reproducible).
	Now time.Time
}

// Names returns the built-in scenario names, sorted.
func Names() []string {
	entries, err := fs.ReadDir(builtin, "scenarios")
	if err != nil {
		return nil // the embedded directory is fixed at build time
	}
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Load builds a built-in scenario by name, or the scenario file at a path
// (anything containing a path separator or ending in .yaml / .yml).
func Load(name string, p Params) (*World, error) {
	var data []byte
	var err error
	if strings.ContainsRune(name, os.PathSeparator) || strings.Contains(name, "/") ||
		strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		data, err = readFile(name)
	} else {
		data, err = builtin.ReadFile(path.Join("scenarios", name+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("unknown scenario %q (built-in scenarios: %s; or give a path to a .yaml file)",
				name, strings.Join(Names(), ", "))
		}
	}
	if err != nil {
		return nil, err
	}
	spec, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	w, err := spec.Build(p)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return w, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading scenario %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("scenario %s is larger than %d bytes", name, maxFileSize)
	}
	return data, nil
}

// Parse reads and validates a scenario. Unknown fields are errors that
// name the field and line; invalid values and references that do not
// resolve are errors that name the path, such as
// accounts[1].regions[0].vpcs[2].subnets[0].cidr.
func Parse(data []byte) (*Spec, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("scenario is larger than %d bytes", maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("scenario is empty")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("scenario holds more than one YAML document")
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	// Expanding with the scenario's own values checks every reference
	// from every group into every account-region it lands in.
	if _, err := s.plan(Params{}); err != nil {
		return nil, err
	}
	return &s, nil
}

// Build expands the scenario into a world.
func (s *Spec) Build(p Params) (*World, error) {
	// A Spec may have been put together in Go rather than parsed.
	if err := s.validate(); err != nil {
		return nil, err
	}
	pl, err := s.plan(p)
	if err != nil {
		return nil, err
	}
	return pl.build()
}
