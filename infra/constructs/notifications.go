package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// NotificationsProps configures Notifications.
type NotificationsProps struct {
	// SlackSecretName names the secret; its value (webhook URL or bot
	// token, see pkg/notify) is put out of band.
	SlackSecretName string
	// Email, when set, is subscribed to the topic.
	Email string
}

// Notifications is the topic reports and alarms go to (encrypted with its
// own KMS key) and the Slack secret.
type Notifications struct {
	cdk.Construct
	// Key encrypts the topic.
	Key awskms.Key
	// Topic receives run summaries and alarms.
	Topic awssns.Topic
	// SlackSecret holds the Slack webhook or token.
	SlackSecret awssecretsmanager.Secret
}

// NewNotifications creates the key, topic and secret.
func NewNotifications(scope cdk.Construct, id string, props *NotificationsProps) *Notifications {
	c := cdk.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String("fleetdoctor: encrypts the report and alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	// CloudWatch alarms publish to the topic, so their service principal
	// must be able to use the key (SNS SSE with a customer managed key).
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}},
	}), nil)
	topic := awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String("fleetdoctor"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if props.Email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.Email), nil))
	}
	secret := awssecretsmanager.NewSecret(c, jsii.String("Slack"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(props.SlackSecretName),
		Description: jsii.String("fleetdoctor: Slack incoming-webhook URL or bot token; set its value with aws secretsmanager put-secret-value"),
		// A random placeholder: the template never carries the value.
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{ExcludePunctuation: jsii.Bool(true)},
		RemovalPolicy:        awscdk.RemovalPolicy_RETAIN,
	})
	suppress(secret, map[string]string{
		"AwsSolutions-SMG4": "A Slack webhook URL or bot token is issued by Slack and cannot be rotated by a Lambda; it is replaced by hand with put-secret-value.",
	})
	return &Notifications{Construct: c, Key: key, Topic: topic, SlackSecret: secret}
}
