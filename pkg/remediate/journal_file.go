package remediate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// FileJournal is the CLI's journal: one JSON-lines file per run
// (DIR/RUN.jsonl), opened O_APPEND and fsynced after every append, so an
// entry is on disk before Append returns. Seq is assigned under the
// journal's lock, continuing from the highest Seq already in the file.
//
// A crash in the middle of a write leaves a torn last line. Opening the
// file again tolerates it: the torn bytes are ended with a newline before
// the next append (so the next entry starts on its own line), Entries
// skips the torn line, and Damaged reports it. A FileJournal is safe for
// concurrent use by one process; two processes must not write one run's
// file at once (S3Journal is for that).
type FileJournal struct {
	dir string
	now func() time.Time

	mu   sync.Mutex
	runs map[string]*fileRun
}

type fileRun struct {
	f    *os.File
	next int
}

// DamagedLine is a journal line that could not be read: a write torn by a
// crash.
type DamagedLine struct {
	Line int    // 1-based line number in the run's file
	Text string // the line's bytes, at most 200 of them
	Err  string
}

var _ Journal = (*FileJournal)(nil)
var _ BatchJournal = (*FileJournal)(nil)

// runIDPattern keeps run ids usable as file names and S3 key parts.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("journal: run id %q: want 1-128 letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// NewFileJournal returns a journal writing under dir, creating it (0700)
// if needed.
func NewFileJournal(dir string) (*FileJournal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &FileJournal{dir: dir, now: time.Now, runs: map[string]*fileRun{}}, nil
}

// Path is the file holding runID's journal.
func (j *FileJournal) Path(runID string) string { return filepath.Join(j.dir, runID+".jsonl") }

// Append implements Journal.
func (j *FileJournal) Append(ctx context.Context, e Entry) error {
	return j.AppendAll(ctx, []Entry{e})
}

// AppendAll implements BatchJournal: the entries (of one run) are written
// with one write and one fsync, and get consecutive Seqs.
func (j *FileJournal) AppendAll(ctx context.Context, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
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
	j.mu.Lock()
	defer j.mu.Unlock()
	r, err := j.open(runID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for i := range es {
		e := es[i]
		e.Seq = r.next + i
		if e.Time.IsZero() {
			e.Time = j.now().UTC()
		}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := r.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("journal: appending to %s: %w", r.f.Name(), err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", r.f.Name(), err)
	}
	r.next += len(es)
	return nil
}

// open returns the run's open file, reading the existing one to continue
// its Seq and to end a torn last line. Callers hold j.mu.
func (j *FileJournal) open(runID string) (*fileRun, error) {
	if r, ok := j.runs[runID]; ok {
		return r, nil
	}
	path := j.Path(runID)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	entries, _, torn, err := readJournalFile(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if torn {
		// End the torn line so the next entry starts on a line of its own.
		if _, err := f.Write([]byte("\n")); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("journal: repairing %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("journal: repairing %s: %w", path, err)
		}
	}
	r := &fileRun{f: f}
	for _, e := range entries {
		r.next = max(r.next, e.Seq+1)
	}
	j.runs[runID] = r
	return r, nil
}

// Entries implements Journal. Lines that cannot be parsed (torn by a
// crash) are skipped; Damaged reports them.
func (j *FileJournal) Entries(ctx context.Context, runID string) ([]Entry, error) {
	es, _, err := j.read(runID)
	return es, err
}

// Damaged returns the lines of runID's journal that could not be read.
func (j *FileJournal) Damaged(runID string) ([]DamagedLine, error) {
	_, d, err := j.read(runID)
	return d, err
}

func (j *FileJournal) read(runID string) ([]Entry, []DamagedLine, error) {
	if err := checkRunID(runID); err != nil {
		return nil, nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.Path(runID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	es, damaged, _, err := readJournalFile(f)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range es {
		if e.RunID != runID {
			return nil, nil, fmt.Errorf("journal: %s holds an entry of run %q (seq %d)", f.Name(), e.RunID, e.Seq)
		}
	}
	return es, damaged, nil
}

// readJournalFile parses a journal file from its start. torn says the
// file does not end with a newline.
func readJournalFile(f *os.File) (es []Entry, damaged []DamagedLine, torn bool, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, false, fmt.Errorf("journal: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			if !complete {
				torn = true
			}
			text := bytes.TrimRight(line, "\r\n")
			if len(bytes.TrimSpace(text)) > 0 {
				var e Entry
				if uerr := json.Unmarshal(text, &e); uerr != nil || e.Kind == "" {
					if uerr == nil {
						uerr = errors.New("no kind")
					}
					damaged = append(damaged, DamagedLine{Line: n, Text: string(text[:min(len(text), 200)]), Err: uerr.Error()})
				} else {
					es = append(es, e)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, nil, false, fmt.Errorf("journal: reading %s: %w", f.Name(), rerr)
		}
	}
	sortEntries(es)
	return es, damaged, torn, nil
}

// Close closes the open run files.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for id, r := range j.runs {
		errs = append(errs, r.f.Close())
		delete(j.runs, id)
	}
	return errors.Join(errs...)
}
