// Package docinstall creates or updates fleetdoctor's SSM documents (the
// diagnose and repair Command documents and the remediation Automation
// runbooks, package documents) in an account-region, so the CLI can
// diagnose and fix without the CDK deployment.
//
// For each document: DescribeDocument; when it does not exist,
// CreateDocument (YAML); when its default version's Sha256 hash differs
// from the embedded content, UpdateDocument to a new version and make that
// the default with UpdateDocumentDefaultVersion; otherwise nothing. An
// install interrupted between the two update calls is finished by the next
// one: a latest version that already holds the content only becomes the
// default.
package docinstall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// Action is what Install did to a document.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Failed    Action = "failed"
)

// Outcome is one document in one account-region.
type Outcome struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Name    string `json:"name"`
	// Type is Command or Automation.
	Type   string `json:"type"`
	Action Action `json:"action"`
	// Version is the default version after the install ("" on failure).
	Version string `json:"version,omitempty"`
	// Err says why the document could not be installed (Action Failed).
	Err error `json:"-"`
}

// String is the outcome in one line, e.g. "FleetDoctor-DiagnoseHost:
// updated v3".
func (o Outcome) String() string {
	switch o.Action {
	case Created:
		return o.Name + ": created v" + o.Version
	case Updated:
		return o.Name + ": updated v" + o.Version
	case Unchanged:
		return o.Name + ": unchanged (v" + o.Version + ")"
	}
	return fmt.Sprintf("%s: failed: %v", o.Name, o.Err)
}

// Source reads the documents to install.
type Source struct {
	// Names lists the documents; nil means documents.Names().
	Names []string
	// Read returns a document's YAML; nil means documents.Read.
	Read func(name string) ([]byte, error)
	// Kind returns a document's type (Command or Automation); nil means
	// documents.Kind.
	Kind func(name string) (string, error)
}

func (s Source) withDefaults() Source {
	if s.Names == nil {
		s.Names = documents.Names()
	}
	if s.Read == nil {
		s.Read = documents.Read
	}
	if s.Kind == nil {
		s.Kind = documents.Kind
	}
	return s
}

// Install installs every document of src through api (one account-region,
// named by account and region in the outcomes). It returns one outcome per
// document, in order; a document that fails does not stop the others. The
// error is set only when the context ended.
func Install(ctx context.Context, api awsapi.SSMActionsAPI, account, region string, src Source) ([]Outcome, error) {
	src = src.withDefaults()
	out := make([]Outcome, 0, len(src.Names))
	for _, name := range src.Names {
		o := Outcome{Account: account, Region: region, Name: name}
		o.Type, o.Action, o.Version, o.Err = installOne(ctx, api, name, src)
		if o.Err != nil {
			o.Action, o.Version = Failed, ""
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

// InstallAll installs the documents in every account × region through
// provider. An account that cannot be entered fails its documents.
func InstallAll(ctx context.Context, provider awsapi.Provider, accounts, regions []string, src Source) ([]Outcome, error) {
	src = src.withDefaults()
	var out []Outcome
	for _, a := range accounts {
		accErr := provider.Account(ctx, a)
		for _, r := range regions {
			var cl *awsapi.Clients
			err := accErr
			if err == nil {
				cl, err = provider.Clients(ctx, a, r)
			}
			if err == nil && cl.SSMActions == nil {
				err = errors.New("the provider has no Systems Manager actions client")
			}
			if err != nil {
				for _, n := range src.Names {
					out = append(out, Outcome{Account: a, Region: r, Name: n, Action: Failed, Err: err})
				}
				continue
			}
			res, err := Install(ctx, cl.SSMActions, a, r, src)
			out = append(out, res...)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// Hash is the Sha256 hash SSM reports for content (DescribeDocument's
// Hash, hex).
func Hash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// installOne installs one document and says what it did.
func installOne(ctx context.Context, api awsapi.SSMActionsAPI, name string, src Source) (string, Action, string, error) {
	content, err := src.Read(name)
	if err != nil {
		return "", "", "", err
	}
	typ, err := src.Kind(name)
	if err != nil {
		return "", "", "", err
	}
	want := Hash(content)

	cur, err := api.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)})
	if err != nil && !missing(err) {
		return typ, "", "", fmt.Errorf("ssm:DescribeDocument: %w", err)
	}
	if err != nil {
		created, err := api.CreateDocument(ctx, &ssm.CreateDocumentInput{
			Name:           aws.String(name),
			Content:        aws.String(string(content)),
			DocumentType:   ssmtypes.DocumentType(typ),
			DocumentFormat: ssmtypes.DocumentFormatYaml,
		})
		if err != nil {
			return typ, "", "", fmt.Errorf("ssm:CreateDocument: %w", err)
		}
		v := "1"
		if d := created.DocumentDescription; d != nil && aws.ToString(d.DocumentVersion) != "" {
			v = aws.ToString(d.DocumentVersion)
		}
		return typ, Created, v, nil
	}
	doc := cur.Document
	if doc == nil {
		return typ, "", "", errors.New("ssm:DescribeDocument returned no document")
	}
	if got := string(doc.DocumentType); got != "" && got != typ {
		return typ, "", "", fmt.Errorf("a %s document named %s already exists; fleetdoctor's is a %s document (delete or rename the existing one)", got, name, typ)
	}
	def := aws.ToString(doc.DefaultVersion)
	if def == "" {
		def = aws.ToString(doc.DocumentVersion)
	}
	if strings.EqualFold(aws.ToString(doc.Hash), want) {
		return typ, Unchanged, def, nil
	}

	// A latest version that already has the content (an earlier install
	// stopped before moving the default) only needs to become the default.
	newVersion := ""
	if latest := aws.ToString(doc.LatestVersion); latest != "" && latest != def {
		l, err := api.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name), DocumentVersion: aws.String(latest)})
		if err != nil {
			return typ, "", "", fmt.Errorf("ssm:DescribeDocument (version %s): %w", latest, err)
		}
		if l.Document != nil && strings.EqualFold(aws.ToString(l.Document.Hash), want) {
			newVersion = latest
		}
	}
	if newVersion == "" {
		upd, err := api.UpdateDocument(ctx, &ssm.UpdateDocumentInput{
			Name:            aws.String(name),
			Content:         aws.String(string(content)),
			DocumentVersion: aws.String("$LATEST"),
			DocumentFormat:  ssmtypes.DocumentFormatYaml,
		})
		if err != nil {
			return typ, "", "", fmt.Errorf("ssm:UpdateDocument: %w", err)
		}
		if upd.DocumentDescription == nil || aws.ToString(upd.DocumentDescription.DocumentVersion) == "" {
			return typ, "", "", errors.New("ssm:UpdateDocument returned no version")
		}
		newVersion = aws.ToString(upd.DocumentDescription.DocumentVersion)
	}
	if _, err := api.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{
		Name: aws.String(name), DocumentVersion: aws.String(newVersion),
	}); err != nil {
		return typ, "", "", fmt.Errorf("ssm:UpdateDocumentDefaultVersion to %s: %w", newVersion, err)
	}
	return typ, Updated, newVersion, nil
}

// missing reports whether DescribeDocument's error says the document does
// not exist.
func missing(err error) bool {
	return awsapi.ErrorCode(err) == "InvalidDocument"
}
