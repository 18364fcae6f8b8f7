package checks

import "slices"

// catalogue is every check in the order reports list them. IDs are stable:
// add checks, never rename them (DESIGN §4).
var catalogue = slices.Concat(imdsChecks, ssmChecks, identityChecks, networkChecks, []*Check{incomplete})

var byID = func() map[string]*Check {
	m := make(map[string]*Check, len(catalogue))
	for _, c := range catalogue {
		m[c.ID] = c
	}
	return m
}()

// Catalogue returns every check, in catalogue order. The slice is shared:
// callers must not modify it.
func Catalogue() []*Check { return catalogue }

// Lookup returns the check with the given id, or nil.
func Lookup(id string) *Check { return byID[id] }

// Metas returns the metadata of cs, in order.
func Metas(cs []*Check) []Meta {
	out := make([]Meta, len(cs))
	for i, c := range cs {
		out[i] = c.Meta
	}
	return out
}
