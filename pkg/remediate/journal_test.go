package remediate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

func entry(run string, i int, kind string) remediate.Entry {
	return remediate.Entry{RunID: run, Kind: kind, ChangeID: fmt.Sprintf("%s|c%03d", run, i), Account: acct, Region: region,
		Resource: fmt.Sprintf("i-%017d", i), Remediation: "imds_set_hop_limit",
		Before: map[string]string{"HttpPutResponseHopLimit": "1"}, After: map[string]string{"HttpPutResponseHopLimit": "2"}}
}

// Seq is assigned under the lock, in order, across goroutines and across
// reopening the file.
func TestFileJournalSeq(t *testing.T) {
	dir := t.TempDir()
	j := fileJournal(t, dir)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := j.Append(ctx, entry("run-seq", g*10+i, remediate.KindIntent)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := j.AppendAll(ctx, []remediate.Entry{entry("run-seq", 80, remediate.KindIntent), entry("run-seq", 81, remediate.KindIntent)}); err != nil {
		t.Fatal(err)
	}
	j2 := fileJournal(t, dir) // another process, later
	if err := j2.Append(ctx, entry("run-seq", 82, remediate.KindOutcome)); err != nil {
		t.Fatal(err)
	}
	es, err := j2.Entries(ctx, "run-seq")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 83 {
		t.Fatalf("%d entries", len(es))
	}
	for i, e := range es {
		if e.Seq != i || e.Time.IsZero() {
			t.Errorf("entry %d: seq %d time %v", i, e.Seq, e.Time)
		}
	}
	if es[82].Kind != remediate.KindOutcome {
		t.Errorf("last entry %+v", es[82])
	}
	if es, err := j2.Entries(ctx, "no-such-run"); err != nil || len(es) != 0 {
		t.Errorf("unknown run: %v %v", es, err)
	}
	if err := j2.Append(ctx, entry("../escape", 1, remediate.KindIntent)); err == nil {
		t.Error("a run id with a path in it was accepted")
	}
}

// A write torn by a crash leaves a partial last line: it is reported, the
// entries before it are read, and the next append starts a line of its
// own.
func TestFileJournalTornLastLine(t *testing.T) {
	dir := t.TempDir()
	j := fileJournal(t, dir)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := j.Append(ctx, entry("run-torn", i, remediate.KindIntent)); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	f, err := os.OpenFile(j.Path("run-torn"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"runId":"run-torn","seq":3,"kind":"outc`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	j2 := fileJournal(t, dir)
	es, err := j2.Entries(ctx, "run-torn")
	if err != nil || len(es) != 3 {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	d, _ := j2.Damaged("run-torn")
	if len(d) != 1 || d[0].Line != 4 {
		t.Fatalf("damaged %+v", d)
	}
	if err := j2.Append(ctx, entry("run-torn", 3, remediate.KindOutcome)); err != nil {
		t.Fatal(err)
	}
	es, err = j2.Entries(ctx, "run-torn")
	if err != nil || len(es) != 4 || es[3].Seq != 3 || es[3].Kind != remediate.KindOutcome {
		t.Fatalf("after the repair: %+v, %v", es, err)
	}
	if d, _ := j2.Damaged("run-torn"); len(d) != 1 {
		t.Errorf("damaged after the repair %+v", d)
	}
}

func s3Client(t *testing.T, sb *sandbox.Sandbox) *s3.Client {
	t.Helper()
	p := fastProvider(sb)
	if err := p.Account(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	c, err := p.Clients(context.Background(), acct, region)
	if err != nil {
		t.Fatal(err)
	}
	return c.S3.(*s3.Client)
}

// The sandbox's S3 honours If-None-Match: "*" (412 on an existing key).
func TestSandboxS3ConditionalWrite(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 1)})
	if err := sb.CreateBucket("journal"); err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, sb)
	put := func(body string) error {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("journal"), Key: aws.String("k"),
			Body: stringsReader(body), IfNoneMatch: aws.String("*")})
		return err
	}
	if err := put("first"); err != nil {
		t.Fatal(err)
	}
	var ae smithy.APIError
	if err := put("second"); !errors.As(err, &ae) || ae.ErrorCode() != "PreconditionFailed" {
		t.Fatalf("second conditional write: %v", err)
	}
	if b, _ := sb.S3Object("journal", "k"); string(b) != "first" {
		t.Errorf("object %q", b)
	}
}

// Two writers appending to one run never both claim a Seq.
func TestS3JournalConcurrentWriters(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 1)})
	if err := sb.CreateBucket("journal"); err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, sb)
	ctx := context.Background()
	a, b := remediate.NewS3Journal(c, "journal", "fd/"), remediate.NewS3Journal(c, "journal", "fd/")
	// Deterministically: a takes seq 0, b (reading the claims) seq 1, and
	// a, whose counter says 1, is refused seq 1 and moves to 2.
	sb.ResetStats()
	for i, j := range []*remediate.S3Journal{a, b, a} {
		if err := j.Append(ctx, entry("run-s3-seq", i, remediate.KindIntent)); err != nil {
			t.Fatal(err)
		}
	}
	if got := sb.Stats()["s3:PUT"].Calls; got != 7 {
		t.Errorf("%d PUTs, want 3 claims + 3 entries + 1 refused claim", got)
	}
	if es, err := b.Entries(ctx, "run-s3-seq"); err != nil || len(es) != 3 || es[2].Seq != 2 || es[2].ChangeID != entry("run-s3-seq", 2, "").ChangeID {
		t.Errorf("%+v %v", es, err)
	}
	var wg sync.WaitGroup
	for w, j := range []*remediate.S3Journal{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i += 3 {
				es := []remediate.Entry{entry("run-s3", w*100+i, remediate.KindIntent), entry("run-s3", w*100+i+1, remediate.KindIntent),
					entry("run-s3", w*100+i+2, remediate.KindOutcome)}
				if err := j.AppendAll(ctx, es); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	es, err := remediate.NewS3Journal(c, "journal", "fd/").Entries(ctx, "run-s3")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 60 {
		t.Fatalf("%d entries, want 60", len(es))
	}
	seen := map[int]bool{}
	changes := map[string]bool{}
	for _, e := range es {
		if seen[e.Seq] {
			t.Errorf("seq %d claimed twice", e.Seq)
		}
		seen[e.Seq] = true
		changes[e.ChangeID] = true
	}
	if len(changes) != 60 {
		t.Errorf("%d distinct changes", len(changes))
	}
	// The key says seq and kind.
	if b, err := sb.S3Object("journal", a.EntryKey(es[0], mustJSON(t, es[0]))); err != nil || len(b) == 0 {
		t.Errorf("entry 0 not at its key: %v", err)
	}
}

// Apply, crash and resume, and roll back with the S3 journal.
func TestApplyWithS3Journal(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 12), AutomationClock: instantClock{}})
	if err := sb.CreateBucket("journal"); err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, sb)
	plan := metadataPlan("run-s3apply", acct, ids(12, 0), "imds_set_hop_limit", remediate.FieldHopLimit, "3")
	cj := &crashJournal{BatchJournal: remediate.NewS3Journal(c, "journal", ""), limit: 9}
	if _, err := remediate.NewExecutor(fastProvider(sb), cj, fastOptions()).Apply(context.Background(), plan); err == nil {
		t.Fatal("no crash")
	}
	j := remediate.NewS3Journal(c, "journal", "")
	ex := remediate.NewExecutor(fastProvider(sb), j, fastOptions())
	res, err := ex.Apply(context.Background(), plan)
	if err != nil || res.Count(remediate.OutcomeApplied) != 12 {
		t.Fatalf("%v: %+v", err, res)
	}
	if len(outcomesOnce(t, j, plan.RunID, remediate.KindOutcome)) != 12 || sb.Stats()[modifyAPI].OK() != 12 {
		t.Errorf("outcomes or modifications repeated: %d modifications", sb.Stats()[modifyAPI].OK())
	}
	rb, err := ex.Rollback(context.Background(), plan.RunID)
	if err != nil || rb.Count(remediate.OutcomeApplied) != 12 {
		t.Fatalf("rollback %v: %+v", err, rb)
	}
	for id, mo := range metadata(t, sb, acct) {
		if want := int32(2); aws.ToInt32(mo.HttpPutResponseHopLimit) != want && id != ids(12, 0)[6] {
			t.Errorf("%s hop limit %d after rollback", id, aws.ToInt32(mo.HttpPutResponseHopLimit))
		}
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func mustJSON(t *testing.T, e remediate.Entry) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
