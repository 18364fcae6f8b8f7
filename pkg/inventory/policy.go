package inventory

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// policyDoc is an IAM policy document, as much of it as the evaluation needs.
type policyDoc struct {
	Statement statements `json:"Statement"`
}

type statement struct {
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    stringList      `json:"Action"`
	NotAction stringList      `json:"NotAction"`
	Condition json.RawMessage `json:"Condition"`
}

// statements accepts IAM's single-statement shorthand as well as a list.
type statements []statement

func (s *statements) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one statement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statements{one}
		return nil
	}
	var many []statement
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

// stringList accepts a string or a list of strings, as IAM does.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = stringList{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

// parsePolicy decodes a policy document as IAM returns it: URL-encoded JSON
// (RFC 3986) from GetRole, GetRolePolicy and GetPolicyVersion.
func parsePolicy(encoded string) (*policyDoc, error) {
	text, err := url.QueryUnescape(encoded)
	if err != nil {
		text = encoded // already plain JSON
	}
	var d policyDoc
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		return nil, fmt.Errorf("decoding policy document: %w", err)
	}
	return &d, nil
}

// actionMatches reports whether an IAM action pattern (with * and ?
// wildcards, case-insensitive) matches action.
func actionMatches(pattern, action string) bool {
	return wildcard(strings.ToLower(pattern), strings.ToLower(action))
}

func wildcard(p, s string) bool {
	// Iterative glob with backtracking to the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func (st *statement) covers(action string) bool {
	if len(st.NotAction) > 0 {
		for _, p := range st.NotAction {
			if actionMatches(p, action) {
				return false
			}
		}
		return true
	}
	for _, p := range st.Action {
		if actionMatches(p, action) {
			return true
		}
	}
	return false
}

// evaluate decides, from identity policy documents alone, whether action is
// allowed: an unconditional explicit Deny wins, otherwise any Allow grants.
// Resources are not narrowed (the agent's actions apply to the instance
// itself or to "*"), conditional Allows count as allowing and conditional
// Denies as not denying, and permissions boundaries and SCPs are not seen:
// the simulation is preferred whenever the auditor may call it.
func evaluate(docs []*policyDoc, action string) bool {
	allowed := false
	for _, d := range docs {
		for i := range d.Statement {
			st := &d.Statement[i]
			if !st.covers(action) {
				continue
			}
			switch {
			case strings.EqualFold(st.Effect, "Deny") && len(st.Condition) == 0:
				return false
			case strings.EqualFold(st.Effect, "Allow"):
				allowed = true
			}
		}
	}
	return allowed
}

// trustedServices lists the service principals a trust policy allows to
// call sts:AssumeRole.
func trustedServices(d *policyDoc) []string {
	var out []string
	for i := range d.Statement {
		st := &d.Statement[i]
		if !strings.EqualFold(st.Effect, "Allow") || !st.covers("sts:AssumeRole") {
			continue
		}
		var p struct {
			Service stringList `json:"Service"`
		}
		if json.Unmarshal(st.Principal, &p) == nil {
			out = append(out, p.Service...)
		}
	}
	return out
}

// policyCache holds managed policy documents by ARN for the whole run. ARNs
// are globally unique (AWS managed ones are the same document in every
// account), so each is fetched once however many roles and accounts use it.
type policyCache struct {
	mu   sync.Mutex
	docs map[string]*policyEntry
}

type policyEntry struct {
	mu  sync.Mutex
	doc *policyDoc
}

func newPolicyCache() *policyCache { return &policyCache{docs: map[string]*policyEntry{}} }

// get returns the document for arn, calling fetch unless an earlier call
// succeeded. Failures are not kept: the next account may be allowed to read
// what this one was not.
func (c *policyCache) get(arn string, fetch func() (*policyDoc, *CollectError)) (*policyDoc, *CollectError) {
	c.mu.Lock()
	e, ok := c.docs[arn]
	if !ok {
		e = &policyEntry{}
		c.docs[arn] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.doc != nil {
		return e.doc, nil
	}
	doc, err := fetch()
	if err == nil {
		e.doc = doc
	}
	return doc, err
}
