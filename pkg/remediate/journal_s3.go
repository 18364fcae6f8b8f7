package remediate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// S3Journal is the service's journal: one immutable S3 object per entry,
// PREFIXjournal/RUN/SEQ-KIND-HASH.json (SEQ zero-padded to 10 digits, HASH
// the first 16 hex digits of the entry's SHA-256), so a listing alone
// shows a run's entries in order and of which kind.
//
// Seq is claimed with an S3 conditional write: before the entry object,
// Append writes PREFIXjournal/RUN/seq/SEQ with If-None-Match: "*", which S3
// refuses (412 Precondition Failed) when the object exists — so of two
// writers that pick the same Seq (two processes resuming one run), exactly
// one gets it and the other moves to the next. The entry object is written
// with If-None-Match too, so an entry is never overwritten. A claim whose
// entry never got written (a crash between the two writes) leaves a gap in
// Seq, which readers ignore: its Append never returned success.
//
// Why S3 conditional writes rather than DynamoDB: the service already has
// its bucket (command output, reports) and its clients and IAM, so the
// journal adds no table, no capacity mode, no second permission set; S3
// has supported If-None-Match on PutObject since 2024 with strong
// read-after-write consistency, which is all a create-only, write-once log
// needs; entries are immutable documents that outlive the run (S3
// lifecycle rules archive them); and a journal is read only on resume and
// rollback. DynamoDB would give a single conditional write per entry
// (attribute_not_exists on RUN+SEQ) and cheaper ordered reads (one Query
// instead of a LIST plus a GET per entry) — the better choice if appends
// ever became the bottleneck; with a batch's intents written in parallel
// they are not.
type S3Journal struct {
	client awsapi.S3API
	bucket string
	prefix string
	now    func() time.Time

	mu   sync.Mutex
	next map[string]int // run → next Seq to try
}

var _ Journal = (*S3Journal)(nil)
var _ BatchJournal = (*S3Journal)(nil)

// NewS3Journal returns a journal in bucket under prefix (which, when not
// empty, should end with "/").
func NewS3Journal(client awsapi.S3API, bucket, prefix string) *S3Journal {
	return &S3Journal{client: client, bucket: bucket, prefix: prefix, now: time.Now, next: map[string]int{}}
}

func (j *S3Journal) runPrefix(runID string) string { return j.prefix + "journal/" + runID + "/" }

// claimKey is the object that claims seq for runID.
func (j *S3Journal) claimKey(runID string, seq int) string {
	return fmt.Sprintf("%sseq/%010d", j.runPrefix(runID), seq)
}

// EntryKey is the key an entry is stored under.
func (j *S3Journal) EntryKey(e Entry, body []byte) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf("%s%010d-%s-%s.json", j.runPrefix(e.RunID), e.Seq, e.Kind, hex.EncodeToString(sum[:8]))
}

// Append implements Journal.
func (j *S3Journal) Append(ctx context.Context, e Entry) error { return j.AppendAll(ctx, []Entry{e}) }

// AppendAll implements BatchJournal: the entries are written in parallel
// (16 at a time), each claiming its own Seq; it returns when all are
// stored.
func (j *S3Journal) AppendAll(ctx context.Context, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	runID := es[0].RunID
	for _, e := range es {
		if e.RunID != runID {
			return fmt.Errorf("journal: one AppendAll spans runs %s and %s", runID, e.RunID)
		}
	}
	if err := checkRunID(runID); err != nil {
		return err
	}
	if err := j.load(ctx, runID); err != nil {
		return err
	}
	sem := make(chan struct{}, 16)
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	for i := range es {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = j.put(ctx, es[i])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// load finds the run's next Seq from its claims, once per run.
func (j *S3Journal) load(ctx context.Context, runID string) error {
	j.mu.Lock()
	_, ok := j.next[runID]
	j.mu.Unlock()
	if ok {
		return nil
	}
	next := 0
	err := j.list(ctx, j.runPrefix(runID)+"seq/", func(key string) {
		if n, err := strconv.Atoi(key[strings.LastIndex(key, "/")+1:]); err == nil {
			next = max(next, n+1)
		}
	})
	if err != nil {
		return err
	}
	j.mu.Lock()
	if _, ok := j.next[runID]; !ok {
		j.next[runID] = next
	}
	j.mu.Unlock()
	return nil
}

// take hands out the next Seq to try for runID.
func (j *S3Journal) take(runID string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := j.next[runID]
	j.next[runID] = n + 1
	return n
}

// put claims a Seq for e (moving on past Seqs another writer holds) and
// writes the entry.
func (j *S3Journal) put(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = j.now().UTC()
	}
	for tries := 0; ; tries++ {
		if tries == 1000 {
			return fmt.Errorf("journal: could not claim a seq for run %s after 1000 tries", e.RunID)
		}
		e.Seq = j.take(e.RunID)
		err := j.create(ctx, j.claimKey(e.RunID, e.Seq), []byte(e.ChangeID+" "+e.Kind))
		if errors.Is(err, errExists) {
			continue // another writer holds this seq
		}
		if err != nil {
			return err
		}
		break
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	err = j.create(ctx, j.EntryKey(e, body), body)
	if errors.Is(err, errExists) {
		// Only this writer holds the seq, and the key carries the body's
		// hash: a retry of a write whose answer was lost.
		return nil
	}
	return err
}

var errExists = errors.New("object exists")

// create writes key only if it does not exist (If-None-Match: "*").
func (j *S3Journal) create(ctx context.Context, key string, body []byte) error {
	_, err := j.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(j.bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json"),
		IfNoneMatch: aws.String("*")})
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" ||
		errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed {
		return errExists
	}
	return fmt.Errorf("journal: writing s3://%s/%s: %w", j.bucket, key, err)
}

// list calls f with every key under prefix.
func (j *S3Journal) list(ctx context.Context, prefix string, f func(key string)) error {
	var token *string
	for {
		out, err := j.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(j.bucket), Prefix: aws.String(prefix), ContinuationToken: token})
		if err != nil {
			return fmt.Errorf("journal: listing s3://%s/%s: %w", j.bucket, prefix, err)
		}
		for _, o := range out.Contents {
			f(aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		token = out.NextContinuationToken
	}
}

// Entries implements Journal: it lists the run's entry objects and reads
// them (16 at a time).
func (j *S3Journal) Entries(ctx context.Context, runID string) ([]Entry, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	prefix := j.runPrefix(runID)
	var keys []string
	err := j.list(ctx, prefix, func(key string) {
		if rest := strings.TrimPrefix(key, prefix); !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json") {
			keys = append(keys, key)
		}
	})
	if err != nil {
		return nil, err
	}
	es := make([]Entry, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, key := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = j.get(ctx, key, &es[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sortEntries(es)
	return es, nil
}

func (j *S3Journal) get(ctx context.Context, key string, e *Entry) error {
	out, err := j.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(j.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("journal: reading s3://%s/%s: %w", j.bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return fmt.Errorf("journal: reading s3://%s/%s: %w", j.bucket, key, err)
	}
	if err := json.Unmarshal(body, e); err != nil {
		return fmt.Errorf("journal: s3://%s/%s: %w", j.bucket, key, err)
	}
	name := key[strings.LastIndex(key, "/")+1:]
	if want := fmt.Sprintf("%010d-%s-", e.Seq, e.Kind); !strings.HasPrefix(name, want) {
		return fmt.Errorf("journal: s3://%s/%s holds seq %d kind %s", j.bucket, key, e.Seq, e.Kind)
	}
	return nil
}
