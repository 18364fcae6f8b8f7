package sandbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestDocuments drives CreateDocument, UpdateDocument,
// UpdateDocumentDefaultVersion and DescribeDocument over the wire.
func TestDocuments(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(1)})
	ctx := context.Background()
	c := ssm.NewFromConfig(sb.Config(regions[0], 1))
	other := ssm.NewFromConfig(sb.Config(regions[1], 1))
	const name = "FleetDoctor-DiagnoseHost"
	v1, err := documents.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	hash := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	if _, err := c.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)}); errCode(err) != "InvalidDocument" {
		t.Fatalf("describe before create: %v", err)
	}
	cr, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{Name: aws.String(name), Content: aws.String(string(v1)),
		DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatYaml})
	if err != nil {
		t.Fatal(err)
	}
	if d := cr.DocumentDescription; aws.ToString(d.DocumentVersion) != "1" || aws.ToString(d.Hash) != hash(v1) || d.DocumentType != ssmtypes.DocumentTypeCommand || aws.ToString(d.SchemaVersion) != "2.2" {
		t.Errorf("created %+v", d)
	}
	if _, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{Name: aws.String(name), Content: aws.String(string(v1)),
		DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatYaml}); errCode(err) != "DocumentAlreadyExists" {
		t.Errorf("second create: %v", err)
	}
	// Documents are per account-region.
	if _, err := other.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)}); errCode(err) != "InvalidDocument" {
		t.Errorf("describe in another region: %v", err)
	}
	// Bad input.
	for _, in := range []*ssm.CreateDocumentInput{
		{Name: aws.String("FleetDoctor-X"), Content: aws.String("schemaVersion: '0.3'\n"), DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatYaml},
		{Name: aws.String("FleetDoctor-X"), Content: aws.String("[not: a map"), DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatYaml},
		{Name: aws.String("FleetDoctor-X"), Content: aws.String(string(v1)), DocumentType: ssmtypes.DocumentTypeCommand}, // JSON by default
		{Name: aws.String("AWS-Mine"), Content: aws.String(string(v1)), DocumentType: ssmtypes.DocumentTypeCommand, DocumentFormat: ssmtypes.DocumentFormatYaml},
	} {
		if _, err := c.CreateDocument(ctx, in); err == nil {
			t.Errorf("CreateDocument %s accepted %.30q", aws.ToString(in.Name), aws.ToString(in.Content))
		}
	}

	if _, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String(name), Content: aws.String(string(v1)),
		DocumentVersion: aws.String("$LATEST"), DocumentFormat: ssmtypes.DocumentFormatYaml}); errCode(err) != "DuplicateDocumentContent" {
		t.Errorf("update with the same content: %v", err)
	}
	v2 := append(append([]byte{}, v1...), "# v2\n"...)
	up, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String(name), Content: aws.String(string(v2)),
		DocumentVersion: aws.String("$LATEST"), DocumentFormat: ssmtypes.DocumentFormatYaml})
	if err != nil {
		t.Fatal(err)
	}
	if d := up.DocumentDescription; aws.ToString(d.DocumentVersion) != "2" || aws.ToString(d.DefaultVersion) != "1" || aws.ToString(d.LatestVersion) != "2" {
		t.Errorf("updated %+v", d)
	}
	if _, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String(name), Content: aws.String(string(v1) + "# v3\n"),
		DocumentVersion: aws.String("1"), DocumentFormat: ssmtypes.DocumentFormatYaml}); errCode(err) != "InvalidDocumentVersion" {
		t.Errorf("update of an old version: %v", err)
	}
	// The default stays at 1 until moved.
	d, err := c.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)})
	if err != nil || aws.ToString(d.Document.Hash) != hash(v1) || aws.ToString(d.Document.DocumentVersion) != "1" {
		t.Fatalf("default before the move: %+v, %v", d, err)
	}
	if _, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String(name), DocumentVersion: aws.String("3")}); errCode(err) != "InvalidDocumentVersion" {
		t.Errorf("default to a missing version: %v", err)
	}
	if _, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String("FleetDoctor-Nope"), DocumentVersion: aws.String("1")}); errCode(err) != "InvalidDocument" {
		t.Errorf("default of a missing document: %v", err)
	}
	dv, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String(name), DocumentVersion: aws.String("2")})
	if err != nil || aws.ToString(dv.Description.DefaultVersion) != "2" {
		t.Fatalf("default version: %+v, %v", dv, err)
	}
	d, err = c.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name)})
	if err != nil || aws.ToString(d.Document.Hash) != hash(v2) || aws.ToString(d.Document.DefaultVersion) != "2" {
		t.Errorf("after the move: %+v, %v", d, err)
	}
	d, err = c.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String(name), DocumentVersion: aws.String("1")})
	if err != nil || aws.ToString(d.Document.Hash) != hash(v1) {
		t.Errorf("version 1: %+v, %v", d, err)
	}
	if st := sb.Stats()["ssm:CreateDocument"]; st.Calls != 6 || st.Errors != 5 {
		t.Errorf("CreateDocument stats %+v", st)
	}
}
