// Package awsapi is fleetdoctor's one door to AWS: narrow per-service
// interfaces with the exact SDK v2 method shapes (so a real client, the SDK's
// paginators and a test fake all fit them), the one place clients are built,
// and the one classification of AWS errors.
package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// EC2API is the part of EC2 fleetdoctor reads.
type EC2API interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	GetInstanceMetadataDefaults(context.Context, *ec2.GetInstanceMetadataDefaultsInput, ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error)
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeVpcAttribute(context.Context, *ec2.DescribeVpcAttributeInput, ...func(*ec2.Options)) (*ec2.DescribeVpcAttributeOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	DescribeVpcEndpoints(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeNetworkAcls(context.Context, *ec2.DescribeNetworkAclsInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error)
}

// SSMAPI is the part of Systems Manager fleetdoctor reads.
type SSMAPI interface {
	DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
	GetServiceSetting(context.Context, *ssm.GetServiceSettingInput, ...func(*ssm.Options)) (*ssm.GetServiceSettingOutput, error)
}

// SSMActionsAPI is the part of Systems Manager fleetdoctor acts through:
// Run Command (the diagnose and repair documents), Automation (the
// remediation runbooks) and documents (installing fleetdoctor's own).
type SSMActionsAPI interface {
	SendCommand(context.Context, *ssm.SendCommandInput, ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	ListCommandInvocations(context.Context, *ssm.ListCommandInvocationsInput, ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error)
	GetCommandInvocation(context.Context, *ssm.GetCommandInvocationInput, ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error)
	StartAutomationExecution(context.Context, *ssm.StartAutomationExecutionInput, ...func(*ssm.Options)) (*ssm.StartAutomationExecutionOutput, error)
	GetAutomationExecution(context.Context, *ssm.GetAutomationExecutionInput, ...func(*ssm.Options)) (*ssm.GetAutomationExecutionOutput, error)
	DescribeDocument(context.Context, *ssm.DescribeDocumentInput, ...func(*ssm.Options)) (*ssm.DescribeDocumentOutput, error)
	CreateDocument(context.Context, *ssm.CreateDocumentInput, ...func(*ssm.Options)) (*ssm.CreateDocumentOutput, error)
	UpdateDocument(context.Context, *ssm.UpdateDocumentInput, ...func(*ssm.Options)) (*ssm.UpdateDocumentOutput, error)
	UpdateDocumentDefaultVersion(context.Context, *ssm.UpdateDocumentDefaultVersionInput, ...func(*ssm.Options)) (*ssm.UpdateDocumentDefaultVersionOutput, error)
}

// S3API is the part of S3 fleetdoctor uses: command output, the journal
// and reports.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// IAMAPI is the part of IAM fleetdoctor reads.
type IAMAPI interface {
	GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(context.Context, *iam.GetPolicyVersionInput, ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// STSAPI is the part of STS fleetdoctor calls.
type STSAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// CloudWatchAPI is the part of CloudWatch fleetdoctor reads.
type CloudWatchAPI interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// The real clients satisfy the interfaces.
var (
	_ EC2API        = (*ec2.Client)(nil)
	_ SSMAPI        = (*ssm.Client)(nil)
	_ SSMActionsAPI = (*ssm.Client)(nil)
	_ S3API         = (*s3.Client)(nil)
	_ IAMAPI        = (*iam.Client)(nil)
	_ STSAPI        = (*sts.Client)(nil)
	_ CloudWatchAPI = (*cloudwatch.Client)(nil)
)

// Clients are the service clients for one account-region.
type Clients struct {
	EC2        EC2API
	SSM        SSMAPI
	IAM        IAMAPI
	CloudWatch CloudWatchAPI
	// SSMActions and S3 are set by AWSProvider; the audit does not use
	// them, and test fakes of the read APIs may leave them nil.
	SSMActions SSMActionsAPI
	S3         S3API
}

// Identity is who the base credentials belong to.
type Identity struct {
	Account   string
	ARN       string
	Partition string // aws, aws-cn, aws-us-gov, ...
}

// Provider hands out clients per account and region. AWSProvider is the
// real one; pkg/fake has an in-memory one for tests.
type Provider interface {
	// Caller returns the identity of the base credentials.
	Caller(ctx context.Context) (Identity, error)
	// Account prepares access to an account (assuming the audit role when
	// one is configured) and reports why it cannot be reached.
	Account(ctx context.Context, account string) error
	// Clients returns the clients for account in region; Account must have
	// succeeded for the account first.
	Clients(ctx context.Context, account, region string) (*Clients, error)
}
