// Package wait holds the one context-aware sleep the packages share.
package wait

import (
	"context"
	"sync"
	"time"
)

// Sleep waits d, or less when ctx ends first (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Virtual is a clock for tests in which waiting costs no real time:
// Sleep advances Now by d at once (and reports a context that has ended).
// It is safe for concurrent use.
type Virtual struct {
	mu sync.Mutex
	t  time.Time
}

// NewVirtual returns a virtual clock that reads start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{t: start} }

// Now returns the clock's time.
func (c *Virtual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep advances the clock by d and returns ctx.Err().
func (c *Virtual) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}
