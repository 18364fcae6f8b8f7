// Package documents holds fleetdoctor's SSM documents — the Automation
// runbooks that carry its fixes and the Command documents that diagnose
// and repair hosts — as YAML files embedded in the binary, so the Go code
// (the sandbox, the remediation executor) and the CDK stack that creates
// them in AWS read the same bytes.
//
// A document's name is its file name without the .yaml extension, which is
// also the name it has in SSM (for example FleetDoctor-SetMetadataOptions).
package documents

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FS is every *.yaml document in this directory.
//
//go:embed *.yaml
var FS embed.FS

// Document types, as SSM's DocumentType names them.
const (
	TypeAutomation = "Automation"
	TypeCommand    = "Command"
)

// ext is the extension of the embedded files; DocumentFormat is YAML.
const ext = ".yaml"

// Header is what a document says about itself at its top level.
type Header struct {
	// Name is the document's name (its file name without extension).
	Name string
	// SchemaVersion is the document's schemaVersion: "0.3" for Automation
	// runbooks, "2.2" for Command documents.
	SchemaVersion string
	// Type is TypeAutomation or TypeCommand, derived from SchemaVersion.
	Type string
	// Description is the document's description (Markdown).
	Description string
}

// Names lists the documents, sorted.
func Names() []string {
	// The embedded root always exists, so ReadDir on it cannot fail.
	entries, _ := fs.ReadDir(FS, ".")
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ext) {
			names = append(names, strings.TrimSuffix(e.Name(), ext))
		}
	}
	sort.Strings(names)
	return names
}

// ErrNotFound is returned for a name that is not an embedded document.
var ErrNotFound = errors.New("document not found")

// Read returns the YAML text of the named document (name without
// extension).
func Read(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || path.Ext(name) == ext {
		return nil, fmt.Errorf("documents: %q: %w (give the name without directory or extension)", name, ErrNotFound)
	}
	b, err := FS.ReadFile(name + ext)
	if err != nil {
		return nil, fmt.Errorf("documents: %q: %w", name, ErrNotFound)
	}
	return b, nil
}

// Info reads the named document's header.
func Info(name string) (Header, error) {
	b, err := Read(name)
	if err != nil {
		return Header{}, err
	}
	var top struct {
		SchemaVersion string `yaml:"schemaVersion"`
		Description   string `yaml:"description"`
	}
	if err := yaml.Unmarshal(b, &top); err != nil {
		return Header{}, fmt.Errorf("documents: %s: %w", name, err)
	}
	typ, err := TypeOf(top.SchemaVersion)
	if err != nil {
		return Header{}, fmt.Errorf("documents: %s: %w", name, err)
	}
	return Header{Name: name, SchemaVersion: top.SchemaVersion, Type: typ, Description: top.Description}, nil
}

// Kind returns the named document's SSM document type: TypeAutomation or
// TypeCommand.
func Kind(name string) (string, error) {
	h, err := Info(name)
	if err != nil {
		return "", err
	}
	return h.Type, nil
}

// TypeOf maps a schemaVersion to the document type SSM requires for it:
// Automation runbooks use 0.3, Command documents 1.2, 2.0 or 2.2.
func TypeOf(schemaVersion string) (string, error) {
	switch schemaVersion {
	case "0.3":
		return TypeAutomation, nil
	case "1.2", "2.0", "2.2":
		return TypeCommand, nil
	case "":
		return "", errors.New("schemaVersion is missing")
	default:
		return "", fmt.Errorf("schemaVersion %q is not one SSM accepts for Automation (0.3) or Command (1.2, 2.0, 2.2) documents", schemaVersion)
	}
}
