package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	fdsh "github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

// DefaultDeadlineMargin is how long before the Lambda's deadline a handler
// stops its work to write what it has: writing a part to S3 and returning
// takes seconds, and a timed-out Lambda loses everything.
const DefaultDeadlineMargin = 20 * time.Second

// gzipAbove is the size from which a document is stored gzipped: a discover
// part of a large account-region holds its whole inventory.
const gzipAbove = 256 << 10

// maxMessage caps untrusted text (an error's cause from the state machine,
// an AWS error) copied into a finding or a log line.
const maxMessage = 1000

// OrganizationsAPI is the part of AWS Organizations the targets Lambda
// reads to expand an OU into its accounts.
type OrganizationsAPI interface {
	ListAccountsForParent(context.Context, *organizations.ListAccountsForParentInput, ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListChildren(context.Context, *organizations.ListChildrenInput, ...func(*organizations.Options)) (*organizations.ListChildrenOutput, error)
}

var _ OrganizationsAPI = (*organizations.Client)(nil)

// Service holds what the handlers share: the configuration and the clients.
// New builds it over AWS; tests build it over the sandbox.
type Service struct {
	Config Config
	// Provider reaches the member accounts.
	Provider awsapi.Provider
	// S3 reads and writes the report bucket.
	S3 awsapi.S3API
	// Organizations lists the OU's accounts (needed when Config.OrgOU is set).
	Organizations OrganizationsAPI
	// SecurityHub returns the Security Hub client of a region (needed when
	// Config.SecurityHub is set).
	SecurityHub func(region string) fdsh.BatchImporter
	// Secrets reads the Slack secret (needed when Config.SlackSecretARN
	// is set).
	Secrets notify.SecretsAPI
	// SNS returns the SNS client of a region (needed when
	// Config.SNSTopicARN is set).
	SNS func(region string) notify.SNSPublishAPI
	// SlackOptions tune the Slack post (tests point its HTTP client at
	// loopback).
	SlackOptions []notify.Option
	// Log receives the handlers' structured logs; nil means JSON to stderr.
	Log *slog.Logger
	// Stdout receives the EMF metric lines; nil means os.Stdout.
	Stdout io.Writer
	// Clock is the current time; nil means time.Now.
	Clock func() time.Time
	// DeadlineMargin overrides DefaultDeadlineMargin when positive.
	DeadlineMargin time.Duration
	// DiagnoseOptions is the base of the diagnose options (poll intervals).
	DiagnoseOptions diagnose.Options
	// ExecOptions is the base of the executor options (poll intervals); the
	// policy's waves and MaxErrors and the automation role are set on it.
	ExecOptions remediate.ExecOptions
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) logger(attrs ...any) *slog.Logger {
	l := s.Log
	if l == nil {
		l = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return l.With(attrs...)
}

func (s *Service) stdout() io.Writer {
	if s.Stdout == nil {
		return os.Stdout
	}
	return s.Stdout
}

func (s *Service) margin() time.Duration {
	if s.DeadlineMargin > 0 {
		return s.DeadlineMargin
	}
	return DefaultDeadlineMargin
}

// workContext is ctx with its deadline brought forward by the margin, so
// the work stops while there is time left to write what was done.
func (s *Service) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-s.margin()))
	}
	return context.WithCancel(ctx)
}

// runPrefix is where a run's documents live.
func runPrefix(runID string) string { return KeyRuns + runID + "/" }

// putJSON writes v to key as JSON, gzipped when large.
func (s *Service) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.Config.Bucket), Key: aws.String(key), ContentType: aws.String("application/json")}
	if len(b) > gzipAbove {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		b = buf.Bytes()
		in.ContentEncoding = aws.String("gzip")
	}
	return s.put(ctx, key, b, in)
}

// putBytes writes body to key with contentType.
func (s *Service) putBytes(ctx context.Context, key, contentType string, body []byte) error {
	return s.put(ctx, key, body, &s3.PutObjectInput{Bucket: aws.String(s.Config.Bucket), Key: aws.String(key), ContentType: aws.String(contentType)})
}

func (s *Service) put(ctx context.Context, key string, body []byte, in *s3.PutObjectInput) error {
	in.Body = bytes.NewReader(body)
	in.ContentLength = aws.Int64(int64(len(body)))
	if _, err := s.S3.PutObject(ctx, in); err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", s.Config.Bucket, key, err)
	}
	return nil
}

// errNotFound is returned by getJSON for a missing key.
var errNotFound = errors.New("not found")

// getJSON reads key into v, gunzipping when needed (recognised by the gzip
// magic, which no JSON document starts with, so it does not matter whether
// a transport already decoded it).
func (s *Service) getJSON(ctx context.Context, key string, v any) error {
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Config.Bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")) {
			return fmt.Errorf("reading s3://%s/%s: %w", s.Config.Bucket, key, errNotFound)
		}
		return fmt.Errorf("reading s3://%s/%s: %w", s.Config.Bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return fmt.Errorf("reading s3://%s/%s: %w", s.Config.Bucket, key, err)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("reading s3://%s/%s: %w", s.Config.Bucket, key, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("reading s3://%s/%s: %w", s.Config.Bucket, key, err)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding s3://%s/%s: %w", s.Config.Bucket, key, err)
	}
	return nil
}

// list returns the keys under prefix that end in .json, sorted (S3 lists
// in key order), through the SDK's paginator.
func (s *Service) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Config.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.Config.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); strings.HasSuffix(k, ".json") {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// batchNumber is the <n> of a batch key (".../batches/<n>.json").
func batchNumber(key string) string { return strings.TrimSuffix(path.Base(key), ".json") }

// capText caps untrusted text at n runes, marking the cut.
func capText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Error is a handler error with the errorType the state machine sees
// (ErrorInvalidInput, ErrorUnknownAction, ...). Handler wraps handlers so
// the Lambda runtime reports Type, not the Go type's name.
type Error struct {
	Type    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

func invalidInput(format string, args ...any) error {
	return &Error{Type: ErrorInvalidInput, Message: fmt.Sprintf(format, args...)}
}

func unknownAction(lambda, action string) error {
	return &Error{Type: ErrorUnknownAction, Message: fmt.Sprintf("%s: unknown action %q", lambda, capText(action, 64))}
}

// checkRunID refuses run ids that could escape the run's prefix.
func checkRunID(id string) error {
	if !runIDRE.MatchString(id) {
		return invalidInput("runId: %q: want 1-80 letters, digits, '.', '_' or '-'", capText(id, 100))
	}
	return nil
}
