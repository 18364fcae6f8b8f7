package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/documents"
)

// Documents is every documents/*.yaml as an AWS::SSM::Document named after
// its file, with the content parsed from the same embedded bytes the Go
// code reads.
type Documents struct {
	cdk.Construct
	// ByName maps a document name to its resource.
	ByName map[string]awsssm.CfnDocument
}

// DocumentContent parses the named document's YAML into the value the
// template carries as Content.
func DocumentContent(name string) (map[string]any, error) {
	b, err := documents.Read(name)
	if err != nil {
		return nil, err
	}
	var content map[string]any
	if err := yaml.Unmarshal(b, &content); err != nil {
		return nil, fmt.Errorf("document %s: %w", name, err)
	}
	return content, nil
}

// NewDocuments creates one AWS::SSM::Document per embedded document.
// UpdateMethod NewVersion keeps the name stable across updates (Replace
// would need a new name for every change).
func NewDocuments(scope cdk.Construct, id string) (*Documents, error) {
	c := cdk.NewConstruct(scope, jsii.String(id))
	d := &Documents{Construct: c, ByName: map[string]awsssm.CfnDocument{}}
	for _, name := range documents.Names() {
		kind, err := documents.Kind(name)
		if err != nil {
			return nil, err
		}
		content, err := DocumentContent(name)
		if err != nil {
			return nil, err
		}
		d.ByName[name] = awsssm.NewCfnDocument(c, jsii.String(name), &awsssm.CfnDocumentProps{
			Name:           jsii.String(name),
			DocumentType:   jsii.String(kind),
			DocumentFormat: jsii.String("YAML"),
			Content:        content,
			UpdateMethod:   jsii.String("NewVersion"),
		})
	}
	return d, nil
}
