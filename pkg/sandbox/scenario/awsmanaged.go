package scenario

import (
	"maps"
	"slices"

	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
)

// awsManaged are the AWS managed policies a scenario may attach, by name
// (with their path), with their documents trimmed to the statements that
// matter to an audit. Real accounts hold over a thousand; these are the
// ones EC2 fleets commonly attach to instance, node and service roles.
var awsManaged = map[string]string{
	"AmazonSSMManagedInstanceCore":             fake.CorePolicyDocument,
	"AmazonSSMManagedEC2InstanceDefaultPolicy": fake.CorePolicyDocument,
	"AmazonS3ReadOnlyAccess": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}`,
	"CloudWatchAgentServerPolicy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["cloudwatch:PutMetricData","ec2:DescribeVolumes","ec2:DescribeTags","logs:PutLogEvents",` +
		`"logs:DescribeLogStreams","logs:DescribeLogGroups","logs:CreateLogStream","logs:CreateLogGroup"],"Resource":"*"},` +
		`{"Effect":"Allow","Action":["ssm:GetParameter"],"Resource":"arn:aws:ssm:*:*:parameter/AmazonCloudWatch-*"}]}`,
	"AmazonEKSWorkerNodePolicy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ec2:DescribeInstances","ec2:DescribeInstanceTypes","ec2:DescribeRouteTables","ec2:DescribeSecurityGroups",` +
		`"ec2:DescribeSubnets","ec2:DescribeVolumes","ec2:DescribeVolumesModifications","ec2:DescribeVpcs",` +
		`"eks:DescribeCluster","eks-auth:AssumeRoleForPodIdentity"],"Resource":"*"}]}`,
	"AmazonEKS_CNI_Policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ec2:AssignPrivateIpAddresses","ec2:AttachNetworkInterface","ec2:CreateNetworkInterface",` +
		`"ec2:DeleteNetworkInterface","ec2:DescribeInstances","ec2:DescribeTags","ec2:DescribeNetworkInterfaces",` +
		`"ec2:DescribeInstanceTypes","ec2:DetachNetworkInterface","ec2:ModifyNetworkInterfaceAttribute",` +
		`"ec2:UnassignPrivateIpAddresses"],"Resource":"*"}]}`,
	"AmazonEC2ContainerRegistryReadOnly": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer",` +
		`"ecr:GetRepositoryPolicy","ecr:DescribeRepositories","ecr:ListImages","ecr:DescribeImages","ecr:BatchGetImage"],"Resource":"*"}]}`,
	"service-role/AmazonEC2ContainerServiceforEC2Role": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ec2:DescribeTags","ecs:CreateCluster","ecs:DeregisterContainerInstance","ecs:DiscoverPollEndpoint",` +
		`"ecs:Poll","ecs:RegisterContainerInstance","ecs:StartTelemetrySession","ecs:UpdateContainerInstancesState",` +
		`"ecs:Submit*","ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer",` +
		`"ecr:BatchGetImage","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}`,
	"ReadOnlyAccess": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ec2:Describe*","ec2:Get*","ssm:Describe*","ssm:Get*","ssm:List*","iam:Get*","iam:List*",` +
		`"iam:SimulatePrincipalPolicy","cloudwatch:Get*","cloudwatch:List*","cloudwatch:Describe*","sts:GetCallerIdentity"],"Resource":"*"}]}`,
	"service-role/AmazonSSMAutomationRole": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["ec2:DescribeInstances","ec2:DescribeInstanceStatus","ec2:ModifyInstanceMetadataOptions",` +
		`"ec2:AssociateIamInstanceProfile","ec2:DescribeIamInstanceProfileAssociations","ssm:SendCommand",` +
		`"ssm:ListCommands","ssm:ListCommandInvocations","ssm:GetCommandInvocation","ssm:DescribeInstanceInformation",` +
		`"ssm:StartAutomationExecution","ssm:GetAutomationExecution"],"Resource":"*"},` +
		`{"Effect":"Allow","Action":["iam:PassRole"],"Resource":"*","Condition":{"StringLikeIfExists":{"iam:PassedToService":"ec2.amazonaws.com"}}}]}`,
}

func awsManagedNames() []string { return slices.Sorted(maps.Keys(awsManaged)) }
