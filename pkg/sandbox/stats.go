package sandbox

import (
	"maps"
	"slices"
	"sync"
)

// APIStats counts one API's requests. Calls counts every request that
// reached the API (throttled and faulted ones included), so a client's
// retries show up here.
type APIStats struct {
	Calls     int `json:"calls"`
	Throttled int `json:"throttled"`
	Faulted   int `json:"faulted"`
	// Errors are AWS errors the API itself answered (not found, invalid
	// parameter, access denied).
	Errors int `json:"errors"`
}

// OK is the number of calls that succeeded.
func (a APIStats) OK() int { return a.Calls - a.Throttled - a.Faulted - a.Errors }

// Stats holds the counters, keyed "service:Operation" (e.g.
// "ec2:DescribeInstances").
type Stats struct {
	mu  sync.Mutex
	api map[string]*APIStats
}

func newStats() *Stats { return &Stats{api: map[string]*APIStats{}} }

func (s *Stats) add(api string, f func(*APIStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.api[api]
	if !ok {
		a = &APIStats{}
		s.api[api] = a
	}
	f(a)
}

func (s *Stats) snapshot() map[string]APIStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]APIStats, len(s.api))
	for k, v := range s.api {
		out[k] = *v
	}
	return out
}

func (s *Stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.api)
}

// Total sums the counters of every API.
func Total(m map[string]APIStats) APIStats {
	var t APIStats
	for _, k := range sortedKeys(m) {
		v := m[k]
		t.Calls += v.Calls
		t.Throttled += v.Throttled
		t.Faulted += v.Faulted
		t.Errors += v.Errors
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
