package main

import (
	"fmt"
	"os"
	"path/filepath"
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
