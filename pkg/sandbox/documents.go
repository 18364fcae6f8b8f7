package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/documents"
)

// maxDocumentSize is SSM's document size limit (64 KB).
const maxDocumentSize = 64 * 1024

// documentNameRE is CreateDocument's Name constraint.
var documentNameRE = regexp.MustCompile(`^[a-zA-Z0-9_\-.]{3,128}$`)

// documentStore holds the SSM documents created in the sandbox, per
// account-region: CreateDocument, UpdateDocument (a new version each time),
// UpdateDocumentDefaultVersion and DescribeDocument, with AWS's versioning
// (versions 1, 2, ...; a default version that only
// UpdateDocumentDefaultVersion moves), its Sha256 content hash and its
// errors. It only serves these APIs: Run Command and Automation keep
// reading fleetdoctor's embedded documents (and Options.Documents).
type documentStore struct {
	now func() time.Time

	mu   sync.Mutex
	docs map[string]*storedDocument // "account/region/name"
}

type storedDocument struct {
	name, docType, format, owner string
	versions                     []documentVersion // versions[i] is version i+1
	defaultVersion               int
}

type documentVersion struct {
	content, hash, schemaVersion, description string
	created                                   time.Time
}

// documentRoutes answers the SSM document APIs.
func (s *Sandbox) documentRoutes() map[string]handler {
	st := &documentStore{now: s.now, docs: map[string]*storedDocument{}}
	return map[string]handler{
		"CreateDocument":               op(st.create),
		"UpdateDocument":               op(st.update),
		"UpdateDocumentDefaultVersion": op(st.setDefault),
		"DescribeDocument":             op(st.describe),
	}
}

func docKey(c *call, name string) string { return c.account + "/" + c.region + "/" + name }

func notFound(name string) error {
	return apiError("InvalidDocument", "Document with name %s does not exist.", name)
}

// parseContent checks a document's content as SSM does: present, within
// 64 KB, decodable in its format, with a schemaVersion that suits docType.
// It returns the schemaVersion and description.
func parseContent(content, format, docType string) (string, string, error) {
	if content == "" {
		return "", "", apiError("ValidationException", "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null")
	}
	if len(content) > maxDocumentSize {
		return "", "", apiError("MaxDocumentSizeExceeded", "The content for the document exceeds the maximum size of 64 KB.")
	}
	var top map[string]any
	var err error
	switch format {
	case "YAML", "JSON":
		// YAML 1.2 is a superset of JSON; JSON content must look like JSON.
		if format == "JSON" && !strings.HasPrefix(strings.TrimSpace(content), "{") {
			return "", "", apiError("InvalidDocumentContent", "The content for the document is not valid JSON.")
		}
		err = yaml.Unmarshal([]byte(content), &top)
	default:
		return "", "", apiError("ValidationException", "1 validation error detected: Value '%s' at 'documentFormat' failed to satisfy constraint: Member must satisfy enum value set: [YAML, JSON, TEXT]", format)
	}
	if err != nil || top == nil {
		return "", "", apiError("InvalidDocumentContent", "The content for the document is not valid %s.", format)
	}
	sv, _ := top["schemaVersion"].(string)
	typ, err := documents.TypeOf(sv)
	if err != nil {
		return "", "", apiError("InvalidDocumentSchemaVersion", "%s", err.Error())
	}
	if typ != docType {
		return "", "", apiError("InvalidDocumentSchemaVersion", "schemaVersion %s is for %s documents, not %s.", sv, typ, docType)
	}
	desc, _ := top["description"].(string)
	return sv, desc, nil
}

func contentHash(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func (st *documentStore) create(c *call, in *ssm.CreateDocumentInput) (*ssm.CreateDocumentOutput, error) {
	name := aws.ToString(in.Name)
	if !documentNameRE.MatchString(name) {
		return nil, apiError("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$", name)
	}
	if l := strings.ToLower(name); strings.HasPrefix(l, "aws") || strings.HasPrefix(l, "amazon") || strings.HasPrefix(l, "amzn") {
		return nil, apiError("ValidationException", "The document name %s is not valid: the prefixes aws, amazon and amzn are reserved.", name)
	}
	docType := string(in.DocumentType)
	if docType == "" {
		docType = documents.TypeCommand
	}
	if docType != documents.TypeCommand && docType != documents.TypeAutomation {
		return nil, apiError("InvalidDocumentType", "The fleetdoctor sandbox models Command and Automation documents, not %s.", docType)
	}
	format := string(in.DocumentFormat)
	if format == "" {
		format = "JSON"
	}
	sv, desc, err := parseContent(aws.ToString(in.Content), format, docType)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	key := docKey(c, name)
	if _, ok := st.docs[key]; ok {
		return nil, apiError("DocumentAlreadyExists", "Document with same name %s already exists", name)
	}
	d := &storedDocument{name: name, docType: docType, format: format, owner: c.account, defaultVersion: 1,
		versions: []documentVersion{{content: aws.ToString(in.Content), hash: contentHash(aws.ToString(in.Content)), schemaVersion: sv, description: desc, created: st.now()}}}
	st.docs[key] = d
	return &ssm.CreateDocumentOutput{DocumentDescription: d.description(1)}, nil
}

// version resolves a DocumentVersion ("" and $DEFAULT: the default,
// $LATEST: the latest, or a number).
func (d *storedDocument) version(v string) (int, error) {
	switch v {
	case "", "$DEFAULT":
		return d.defaultVersion, nil
	case "$LATEST":
		return len(d.versions), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > len(d.versions) || strconv.Itoa(n) != v {
		return 0, apiError("InvalidDocumentVersion", "The document version %s is not valid or does not exist.", v)
	}
	return n, nil
}

func (st *documentStore) update(c *call, in *ssm.UpdateDocumentInput) (*ssm.UpdateDocumentOutput, error) {
	name := aws.ToString(in.Name)
	st.mu.Lock()
	d, ok := st.docs[docKey(c, name)]
	st.mu.Unlock()
	if !ok {
		return nil, notFound(name)
	}
	format := string(in.DocumentFormat)
	if format == "" {
		format = "JSON"
	}
	sv, desc, err := parseContent(aws.ToString(in.Content), format, d.docType)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if v := aws.ToString(in.DocumentVersion); v != "" && v != "$LATEST" && v != strconv.Itoa(len(d.versions)) {
		return nil, apiError("InvalidDocumentVersion", "The document version %s is not valid: only the latest version (%d) can be updated.", v, len(d.versions))
	}
	hash := contentHash(aws.ToString(in.Content))
	if latest := d.versions[len(d.versions)-1]; latest.hash == hash {
		return nil, apiError("DuplicateDocumentContent", "The content of the document matches version %d. Change the content of the document and try again.", len(d.versions))
	}
	d.format = format
	d.versions = append(d.versions, documentVersion{content: aws.ToString(in.Content), hash: hash, schemaVersion: sv, description: desc, created: st.now()})
	return &ssm.UpdateDocumentOutput{DocumentDescription: d.description(len(d.versions))}, nil
}

func (st *documentStore) setDefault(c *call, in *ssm.UpdateDocumentDefaultVersionInput) (*ssm.UpdateDocumentDefaultVersionOutput, error) {
	name := aws.ToString(in.Name)
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.docs[docKey(c, name)]
	if !ok {
		return nil, notFound(name)
	}
	v := aws.ToString(in.DocumentVersion)
	if v == "" || strings.HasPrefix(v, "$") {
		return nil, apiError("InvalidDocumentVersion", "The document version %q is not valid: give a version number.", v)
	}
	n, err := d.version(v)
	if err != nil {
		return nil, err
	}
	d.defaultVersion = n
	return &ssm.UpdateDocumentDefaultVersionOutput{Description: &ssmtypes.DocumentDefaultVersionDescription{
		Name: aws.String(name), DefaultVersion: aws.String(strconv.Itoa(n)),
	}}, nil
}

func (st *documentStore) describe(c *call, in *ssm.DescribeDocumentInput) (*ssm.DescribeDocumentOutput, error) {
	name := aws.ToString(in.Name)
	st.mu.Lock()
	defer st.mu.Unlock()
	d, ok := st.docs[docKey(c, name)]
	if !ok {
		return nil, notFound(name)
	}
	n, err := d.version(aws.ToString(in.DocumentVersion))
	if err != nil {
		return nil, err
	}
	return &ssm.DescribeDocumentOutput{Document: d.description(n)}, nil
}

// description is the DocumentDescription of version n. Callers hold the
// store's lock.
func (d *storedDocument) description(n int) *ssmtypes.DocumentDescription {
	v := d.versions[n-1]
	return &ssmtypes.DocumentDescription{
		Name:            aws.String(d.name),
		Owner:           aws.String(d.owner),
		Hash:            aws.String(v.hash),
		HashType:        ssmtypes.DocumentHashTypeSha256,
		DocumentType:    ssmtypes.DocumentType(d.docType),
		DocumentFormat:  ssmtypes.DocumentFormat(d.format),
		SchemaVersion:   aws.String(v.schemaVersion),
		Description:     aws.String(v.description),
		Status:          ssmtypes.DocumentStatusActive,
		DocumentVersion: aws.String(strconv.Itoa(n)),
		LatestVersion:   aws.String(strconv.Itoa(len(d.versions))),
		DefaultVersion:  aws.String(strconv.Itoa(d.defaultVersion)),
		CreatedDate:     aws.Time(v.created),
		PlatformTypes:   []ssmtypes.PlatformType{ssmtypes.PlatformTypeLinux, ssmtypes.PlatformTypeWindows, ssmtypes.PlatformTypeMacos},
	}
}
