package inventory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// CloudWatch limits that shape the metric reads.
const (
	// metricQueriesPerCall is GetMetricData's limit of MetricDataQuery
	// structures per request.
	metricQueriesPerCall = 500
	// searchSeriesLimit is how many time series one SEARCH expression can
	// return; a search that returns this many may have been cut short.
	searchSeriesLimit = 500
)

// The EC2 IMDS metrics (AWS/EC2 namespace, InstanceId dimension).
const (
	metricNoToken         = "MetadataNoToken"
	metricNoTokenRejected = "MetadataNoTokenRejected"
)

var imdsMetrics = []string{metricNoToken, metricNoTokenRejected}

// readMetrics sums MetadataNoToken and MetadataNoTokenRejected per instance
// over the window. For a region with at most searchSeriesLimit instances,
// one GetMetricData call with a SEARCH expression per metric returns every
// instance's series at once; when there are more instances, or a search may
// have been cut short, it asks per instance in calls of up to
// metricQueriesPerCall queries. Instances without a series get no entry.
func readMetrics(ctx context.Context, api awsapi.CloudWatchAPI, insts []Instance, now time.Time, window time.Duration) (map[string]*IMDSCalls, *CollectError) {
	if len(insts) == 0 {
		return map[string]*IMDSCalls{}, nil
	}
	end := now.Truncate(time.Minute)
	start := end.Add(-window)
	// One period spanning the window gives one datapoint per series; the
	// period must be a multiple of 60 seconds.
	period := int32(max(window.Round(time.Minute).Seconds(), 60))

	sums := map[string]*IMDSCalls{}
	add := func(id, metric string, values []float64) {
		if len(values) == 0 {
			return
		}
		c := sums[id]
		if c == nil {
			c = &IMDSCalls{}
			sums[id] = c
		}
		c.HasData = true
		for _, v := range values {
			if metric == metricNoToken {
				c.NoToken += v
			} else {
				c.NoTokenRejected += v
			}
		}
	}

	need := imdsMetrics
	if len(insts) <= searchSeriesLimit {
		var queries []cwtypes.MetricDataQuery
		for i, m := range imdsMetrics {
			queries = append(queries, cwtypes.MetricDataQuery{
				Id:         aws.String("s" + strconv.Itoa(i)),
				Expression: aws.String(fmt.Sprintf(`SEARCH('{AWS/EC2,InstanceId} MetricName="%s"', 'Sum', %d)`, m, period)),
				Label:      aws.String("${PROP('Dim.InstanceId')}"),
			})
		}
		results, err := getMetricData(ctx, api, queries, start, end)
		if err != nil {
			return nil, collectErr("IMDS metrics", "cloudwatch:GetMetricData", err)
		}
		need = nil
		for i, m := range imdsMetrics {
			id := "s" + strconv.Itoa(i)
			mine := slices.DeleteFunc(slices.Clone(results), func(r cwtypes.MetricDataResult) bool { return aws.ToString(r.Id) != id })
			if len(mine) >= searchSeriesLimit {
				need = append(need, m) // maybe cut short: ask per instance
				continue
			}
			for _, r := range mine {
				add(aws.ToString(r.Label), m, r.Values)
			}
		}
	}
	if len(need) == 0 {
		return sums, nil
	}

	// Per-instance queries, batched to the per-call limit.
	type ref struct{ id, metric string }
	var queries []cwtypes.MetricDataQuery
	var refs []ref
	for i := range insts {
		for _, m := range need {
			refs = append(refs, ref{insts[i].ID, m})
			queries = append(queries, cwtypes.MetricDataQuery{
				Id: aws.String("q" + strconv.Itoa(len(refs)-1)),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{
						Namespace:  aws.String("AWS/EC2"),
						MetricName: aws.String(m),
						Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(insts[i].ID)}},
					},
					Period: aws.Int32(period),
					Stat:   aws.String("Sum"),
				},
			})
		}
	}
	for batch := range slices.Chunk(queries, metricQueriesPerCall) {
		results, err := getMetricData(ctx, api, batch, start, end)
		if err != nil {
			return nil, collectErr("IMDS metrics", "cloudwatch:GetMetricData", err)
		}
		for _, r := range results {
			n, err := strconv.Atoi(aws.ToString(r.Id)[1:])
			if err != nil || n < 0 || n >= len(refs) {
				continue
			}
			add(refs[n].id, refs[n].metric, r.Values)
		}
	}
	return sums, nil
}

// getMetricData drains GetMetricData's pages for one set of queries.
func getMetricData(ctx context.Context, api awsapi.CloudWatchAPI, queries []cwtypes.MetricDataQuery, start, end time.Time) ([]cwtypes.MetricDataResult, error) {
	p := cloudwatch.NewGetMetricDataPaginator(api, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
	})
	var out []cwtypes.MetricDataResult
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.MetricDataResults...)
	}
	return out, nil
}
