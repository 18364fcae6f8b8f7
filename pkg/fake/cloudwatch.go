package fake

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// CloudWatch answers GetMetricData from one account-region's Metrics.
type CloudWatch struct {
	f       *Fleet
	account string
	r       *Region
}

var _ awsapi.CloudWatchAPI = (*CloudWatch)(nil)

// SearchLimit is how many time series one SEARCH expression returns at most.
const SearchLimit = 500

var searchMetric = regexp.MustCompile(`^SEARCH\('\{AWS/EC2,\s*InstanceId\}\s+MetricName="([A-Za-z]+)"'`)

// GetMetricData answers MetricStat queries on AWS/EC2 InstanceId metrics and
// SEARCH('{AWS/EC2,InstanceId} MetricName="..."', ...) expressions, with at
// most 500 queries per call and 500 series per SEARCH as in CloudWatch.
// Labels expand ${PROP('Dim.InstanceId')}.
func (c *CloudWatch) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	if err := c.f.call(c.account, c.r.Name, "cloudwatch:GetMetricData"); err != nil {
		return nil, err
	}
	if n := len(in.MetricDataQueries); n == 0 || n > 500 {
		return nil, APIError("ValidationError", fmt.Sprintf("The collection MetricDataQueries must not have a size greater than 500 or less than 1 (got %d).", n))
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		switch {
		case q.Expression != nil:
			m := searchMetric.FindStringSubmatch(aws.ToString(q.Expression))
			if m == nil {
				return nil, APIError("ValidationError", "Unsupported expression in fake: "+aws.ToString(q.Expression))
			}
			ids := slices.Sorted(maps.Keys(c.r.Metrics))
			var results []cwtypes.MetricDataResult
			for _, id := range ids {
				v, ok := c.r.Metrics[id][m[1]]
				if !ok {
					continue
				}
				if len(results) == SearchLimit {
					out.Messages = append(out.Messages, cwtypes.MessageData{Code: aws.String("MaxMetricsExceeded"),
						Value: aws.String("The search expression returned more than 500 metrics; only the first 500 are returned.")})
					break
				}
				results = append(results, cwtypes.MetricDataResult{
					Id: q.Id, Label: aws.String(label(aws.ToString(q.Label), id, m[1])),
					StatusCode: cwtypes.StatusCodeComplete, Values: []float64{v},
				})
			}
			out.MetricDataResults = append(out.MetricDataResults, results...)
		case q.MetricStat != nil:
			id := ""
			for _, d := range q.MetricStat.Metric.Dimensions {
				if aws.ToString(d.Name) == "InstanceId" {
					id = aws.ToString(d.Value)
				}
			}
			name := aws.ToString(q.MetricStat.Metric.MetricName)
			res := cwtypes.MetricDataResult{Id: q.Id, Label: aws.String(label(aws.ToString(q.Label), id, name)), StatusCode: cwtypes.StatusCodeComplete}
			if v, ok := c.r.Metrics[id][name]; ok {
				res.Values = []float64{v}
			}
			out.MetricDataResults = append(out.MetricDataResults, res)
		default:
			return nil, APIError("ValidationError", "A MetricDataQuery needs MetricStat or Expression.")
		}
	}
	return out, nil
}

func label(tmpl, instanceID, metric string) string {
	if tmpl == "" {
		return metric
	}
	return strings.ReplaceAll(tmpl, "${PROP('Dim.InstanceId')}", instanceID)
}
