package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// atomicFile is an --output file: written to a temporary file in the same
// directory and renamed over the target only when complete, so a reader
// (or a CI step) never sees half a document and a failed run leaves
// nothing behind. The file is created with mode 0600: audit output names
// accounts, instances and roles.
type atomicFile struct {
	*os.File
	path string
}

// createAtomic opens the temporary file for path. It is called before the
// audit starts, so a bad path fails in a second rather than after an hour.
func createAtomic(path string) (*atomicFile, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

// commit flushes the file to disk and moves it into place.
func (a *atomicFile) commit() error {
	if err := a.Sync(); err != nil {
		a.abort()
		return err
	}
	if err := a.Close(); err != nil {
		a.abort()
		return err
	}
	if err := os.Rename(a.Name(), a.path); err != nil {
		os.Remove(a.Name())
		return err
	}
	return nil
}

// abort discards the temporary file; it is safe to call after commit.
func (a *atomicFile) abort() {
	a.Close()
	if _, err := os.Stat(a.Name()); err == nil {
		os.Remove(a.Name())
	}
}

// reportSet is the output of `--format html --output FILE`: the HTML
// report in FILE and, next to it, the rest of the report set (see
// report.ReportSet) under FILE's name with its extension replaced: .json
// for the run document and .csv for the findings. Each file is an
// atomicFile, created before the audit starts.
type reportSet struct {
	// files are by report set name (report.SetReportHTML, ...).
	files map[string]*atomicFile
}

// reportSetPaths maps each report set name to the path `--output FILE`
// gives it.
func reportSetPaths(output string) (map[string]string, error) {
	if output == "" {
		return nil, errors.New("empty file name")
	}
	stem := strings.TrimSuffix(output, filepath.Ext(output))
	paths := map[string]string{
		report.SetReportHTML:  output,
		report.SetRunJSON:     stem + ".json",
		report.SetFindingsCSV: stem + ".csv",
	}
	if paths[report.SetRunJSON] == output || paths[report.SetFindingsCSV] == output {
		return nil, fmt.Errorf("%s would be overwritten by the run document or the findings CSV written next to it; name the HTML file, such as report.html", output)
	}
	return paths, nil
}

// createReportSet opens the temporary files of the report set for output.
func createReportSet(output string) (*reportSet, error) {
	paths, err := reportSetPaths(output)
	if err != nil {
		return nil, err
	}
	s := &reportSet{files: map[string]*atomicFile{}}
	for name, path := range paths {
		f, err := createAtomic(path)
		if err != nil {
			s.abort()
			return nil, err
		}
		s.files[name] = f
	}
	return s, nil
}

// write renders the report set and moves every file into place. Nothing
// is moved until every file has been written.
func (s *reportSet) write(run *audit.Run, opts report.HTMLOptions) error {
	set, err := report.ReportSet(run, opts)
	if err != nil {
		return err
	}
	for _, f := range set {
		af := s.files[f.Name]
		if af == nil {
			return fmt.Errorf("the report set has an unexpected file %s", f.Name)
		}
		if _, err := af.Write(f.Data); err != nil {
			return fmt.Errorf("writing %s: %w", af.path, err)
		}
	}
	for _, name := range []string{report.SetRunJSON, report.SetFindingsCSV, report.SetReportHTML} {
		if err := s.files[name].commit(); err != nil {
			return err
		}
	}
	return nil
}

// paths lists the set's files, HTML first, for the note on stderr.
func (s *reportSet) paths() []string {
	return []string{s.files[report.SetReportHTML].path, s.files[report.SetRunJSON].path, s.files[report.SetFindingsCSV].path}
}

// abort discards every file not yet committed.
func (s *reportSet) abort() {
	for _, f := range s.files {
		f.abort()
	}
}
