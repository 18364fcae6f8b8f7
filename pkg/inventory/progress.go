package inventory

// ProgressEvent says that one unit of collection has finished: an
// account-region, or (Region empty) an account's IAM.
type ProgressEvent struct {
	Account string
	Region  string
	// Done and Total count units: one per account-region plus one per
	// account for its IAM.
	Done, Total int
}

// Progress receives ProgressEvents; it is called from collector goroutines,
// one call at a time.
type Progress func(ProgressEvent)
