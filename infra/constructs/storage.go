package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// StorageProps configures Storage.
type StorageProps struct {
	// RunsRetentionDays is how long objects under runs/ are kept; older
	// runs are deleted (latest.json and history.json stay).
	RunsRetentionDays int
}

// Storage is the report bucket (runs, reports, latest.json, history.json)
// and the bucket holding its server access logs.
type Storage struct {
	cdk.Construct
	// Bucket is the report bucket.
	Bucket awss3.Bucket
	// AccessLogs receives the report bucket's server access logs.
	AccessLogs awss3.Bucket
}

// NewStorage creates the buckets: private (Block Public Access), TLS
// only, S3-managed encryption, versioned, runs/ expiring.
func NewStorage(scope cdk.Construct, id string, props *StorageProps) *Storage {
	c := cdk.NewConstruct(scope, jsii.String(id))
	// Grant the S3 logging service through a bucket policy instead of the
	// LogDeliveryWrite ACL, so both buckets can disable ACLs.
	c.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	logs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	suppress(logs, map[string]string{
		"AwsSolutions-S1": "This bucket is the server access log target of the report bucket; logging it into itself would loop and logging it elsewhere only moves the problem.",
	})
	bucket := awss3.NewBucket(c, jsii.String("Reports"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("reports/"),
		LifecycleRules: &[]*awss3.LifecycleRule{
			{
				Id:                          jsii.String("expire-runs"),
				Prefix:                      jsii.String(service.KeyRuns),
				Expiration:                  awscdk.Duration_Days(jsii.Number(float64(props.RunsRetentionDays))),
				NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(7)),
			},
			{
				// latest.json and history.json are rewritten every run.
				Id:                                  jsii.String("expire-old-versions"),
				NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
				AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			},
		},
	})
	return &Storage{Construct: c, Bucket: bucket, AccessLogs: logs}
}
