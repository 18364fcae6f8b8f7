package inventory

// ProgressEvent says that one account-region has been collected.
type ProgressEvent struct {
	Account string
	Region  string
	// Done and Total count account-regions.
	Done, Total int
}

// Progress receives ProgressEvents; it is called from collector goroutines,
// one call at a time.
type Progress func(ProgressEvent)
