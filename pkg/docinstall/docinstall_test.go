package docinstall

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// fakeSSM keeps documents as SSM does: numbered versions and a default.
type fakeSSM struct {
	awsapi.SSMActionsAPI // the Run Command and Automation calls are not used
	docs                 map[string]*fakeDoc
	calls                map[string]int
	failSetDefault       bool
}

type fakeDoc struct {
	typ      ssmtypes.DocumentType
	versions []string // content
	def      int
}

func newFake() *fakeSSM { return &fakeSSM{docs: map[string]*fakeDoc{}, calls: map[string]int{}} }

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (f *fakeSSM) desc(name string, d *fakeDoc, v int) *ssmtypes.DocumentDescription {
	return &ssmtypes.DocumentDescription{
		Name: aws.String(name), DocumentType: d.typ, Hash: aws.String(Hash([]byte(d.versions[v-1]))),
		DocumentVersion: aws.String(strconv.Itoa(v)), DefaultVersion: aws.String(strconv.Itoa(d.def)),
		LatestVersion: aws.String(strconv.Itoa(len(d.versions))),
	}
}

func (f *fakeSSM) DescribeDocument(_ context.Context, in *ssm.DescribeDocumentInput, _ ...func(*ssm.Options)) (*ssm.DescribeDocumentOutput, error) {
	f.calls["DescribeDocument"]++
	d, ok := f.docs[*in.Name]
	if !ok {
		return nil, apiErr("InvalidDocument")
	}
	v := d.def
	if in.DocumentVersion != nil {
		v, _ = strconv.Atoi(*in.DocumentVersion)
	}
	return &ssm.DescribeDocumentOutput{Document: f.desc(*in.Name, d, v)}, nil
}

func (f *fakeSSM) CreateDocument(_ context.Context, in *ssm.CreateDocumentInput, _ ...func(*ssm.Options)) (*ssm.CreateDocumentOutput, error) {
	f.calls["CreateDocument"]++
	if _, ok := f.docs[*in.Name]; ok {
		return nil, apiErr("DocumentAlreadyExists")
	}
	if in.DocumentFormat != ssmtypes.DocumentFormatYaml {
		return nil, apiErr("InvalidDocumentContent")
	}
	d := &fakeDoc{typ: in.DocumentType, versions: []string{*in.Content}, def: 1}
	f.docs[*in.Name] = d
	return &ssm.CreateDocumentOutput{DocumentDescription: f.desc(*in.Name, d, 1)}, nil
}

func (f *fakeSSM) UpdateDocument(_ context.Context, in *ssm.UpdateDocumentInput, _ ...func(*ssm.Options)) (*ssm.UpdateDocumentOutput, error) {
	f.calls["UpdateDocument"]++
	d, ok := f.docs[*in.Name]
	if !ok {
		return nil, apiErr("InvalidDocument")
	}
	if aws.ToString(in.DocumentVersion) != "$LATEST" {
		return nil, apiErr("InvalidDocumentVersion")
	}
	if d.versions[len(d.versions)-1] == *in.Content {
		return nil, apiErr("DuplicateDocumentContent")
	}
	d.versions = append(d.versions, *in.Content)
	return &ssm.UpdateDocumentOutput{DocumentDescription: f.desc(*in.Name, d, len(d.versions))}, nil
}

func (f *fakeSSM) UpdateDocumentDefaultVersion(_ context.Context, in *ssm.UpdateDocumentDefaultVersionInput, _ ...func(*ssm.Options)) (*ssm.UpdateDocumentDefaultVersionOutput, error) {
	f.calls["UpdateDocumentDefaultVersion"]++
	if f.failSetDefault {
		return nil, apiErr("ThrottlingException")
	}
	d := f.docs[*in.Name]
	v, err := strconv.Atoi(*in.DocumentVersion)
	if d == nil || err != nil || v < 1 || v > len(d.versions) {
		return nil, apiErr("InvalidDocumentVersion")
	}
	d.def = v
	return &ssm.UpdateDocumentDefaultVersionOutput{}, nil
}

// source serves two documents whose content the test changes.
func source(content map[string]string) Source {
	return Source{
		Names: []string{"FleetDoctor-A", "FleetDoctor-B"},
		Read: func(n string) ([]byte, error) {
			c, ok := content[n]
			if !ok {
				return nil, errors.New("no such document")
			}
			return []byte(c), nil
		},
		Kind: func(string) (string, error) { return "Command", nil },
	}
}

func install(t *testing.T, f *fakeSSM, content map[string]string) []string {
	t.Helper()
	out, err := Install(context.Background(), f, "111122223333", "eu-west-1", source(content))
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, o := range out {
		s = append(s, o.String())
	}
	return s
}

func TestInstallCreateUpdateUnchanged(t *testing.T) {
	f := newFake()
	content := map[string]string{"FleetDoctor-A": "schemaVersion: '2.2'\n# a1\n", "FleetDoctor-B": "schemaVersion: '2.2'\n# b1\n"}
	got := install(t, f, content)
	if want := []string{"FleetDoctor-A: created v1", "FleetDoctor-B: created v1"}; !equal(got, want) {
		t.Errorf("first install: %q, want %q", got, want)
	}
	got = install(t, f, content)
	if want := []string{"FleetDoctor-A: unchanged (v1)", "FleetDoctor-B: unchanged (v1)"}; !equal(got, want) {
		t.Errorf("second install: %q, want %q", got, want)
	}
	if f.calls["UpdateDocument"] != 0 || f.calls["CreateDocument"] != 2 {
		t.Errorf("calls %v", f.calls)
	}

	// A changed document gets a new version, which becomes the default.
	content["FleetDoctor-B"] = "schemaVersion: '2.2'\n# b2\n"
	got = install(t, f, content)
	if want := []string{"FleetDoctor-A: unchanged (v1)", "FleetDoctor-B: updated v2"}; !equal(got, want) {
		t.Errorf("after a change: %q, want %q", got, want)
	}
	if d := f.docs["FleetDoctor-B"]; d.def != 2 || len(d.versions) != 2 || d.versions[1] != content["FleetDoctor-B"] {
		t.Errorf("B: default %d, versions %q", d.def, d.versions)
	}

	// An update whose default-version call failed is finished by the next
	// install without a duplicate version.
	content["FleetDoctor-B"] = "schemaVersion: '2.2'\n# b3\n"
	f.failSetDefault = true
	out, err := Install(context.Background(), f, "111122223333", "eu-west-1", source(content))
	if err != nil || out[1].Action != Failed || out[1].Err == nil {
		t.Fatalf("failing default version: %+v, %v", out, err)
	}
	f.failSetDefault = false
	updates := f.calls["UpdateDocument"]
	got = install(t, f, content)
	if want := []string{"FleetDoctor-A: unchanged (v1)", "FleetDoctor-B: updated v3"}; !equal(got, want) {
		t.Errorf("resumed update: %q, want %q", got, want)
	}
	if f.calls["UpdateDocument"] != updates || f.docs["FleetDoctor-B"].def != 3 || len(f.docs["FleetDoctor-B"].versions) != 3 {
		t.Errorf("resume made a new version: calls %v, doc %+v", f.calls, f.docs["FleetDoctor-B"])
	}
}

func TestInstallTypeConflictAndReadError(t *testing.T) {
	f := newFake()
	f.docs["FleetDoctor-A"] = &fakeDoc{typ: ssmtypes.DocumentTypeAutomation, versions: []string{"other"}, def: 1}
	out, err := Install(context.Background(), f, "111122223333", "eu-west-1", source(map[string]string{"FleetDoctor-A": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Action != Failed || out[1].Action != Failed || f.calls["UpdateDocument"] != 0 {
		t.Errorf("outcomes %+v, calls %v", out, f.calls)
	}
}

func TestRealDocuments(t *testing.T) {
	f := newFake()
	out, err := Install(context.Background(), f, "111122223333", "eu-west-1", Source{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no documents")
	}
	for _, o := range out {
		if o.Action != Created || (o.Type != "Command" && o.Type != "Automation") {
			t.Errorf("%+v", o)
		}
		if string(f.docs[o.Name].typ) != o.Type {
			t.Errorf("%s created as %s", o.Name, f.docs[o.Name].typ)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
