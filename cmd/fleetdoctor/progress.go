package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// progress draws the audit's progress bar on a terminal. The bar is made on
// the first event, when the amount of work (account-regions, plus each
// account's IAM) is known.
type progress struct {
	mu  sync.Mutex
	out io.Writer
	bar *progressbar.ProgressBar
}

// event records that e.Done of e.Total units of collection are finished.
func (p *progress) event(e inventory.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Total <= 0 {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(e.Total,
			progressbar.OptionSetWriter(p.out),
			progressbar.OptionSetDescription("auditing"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			// Redraw at most ten times a second however fast regions finish.
			progressbar.OptionThrottle(100*time.Millisecond),
			// The table follows on the same terminal; leave no bar behind.
			progressbar.OptionClearOnFinish(),
		)
	}
	p.bar.Set(e.Done)
}

// finish completes and clears the bar, if one was drawn.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}
