package policy

import (
	"fmt"
	"strings"
	"time"
)

// ParseExemptTag reads the value of an instance's fleetdoctor:exempt tag:
// semicolon-separated key=value pairs with an owner and an expiry date,
// optionally a reason, e.g.
//
//	owner=payments-oncall@example.com;expires=2027-03-31;reason=legacy IMDSv1 client
//
// The expiry is a date (YYYY-MM-DD, the exemption holds through that day,
// UTC) or an RFC 3339 time. A malformed value is an error naming what is
// wrong; callers still honour the tag (the instance stays exempt) and
// report the error as a finding until the owner fixes it.
func ParseExemptTag(instanceID, value string) (Exemption, error) {
	e := Exemption{InstanceID: instanceID}
	if strings.TrimSpace(value) == "" {
		return e, fmt.Errorf("tag %s on %s is empty: want owner=...;expires=YYYY-MM-DD", ExemptTag, instanceID)
	}
	for _, part := range strings.Split(value, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return e, fmt.Errorf("tag %s on %s: %q is not key=value", ExemptTag, instanceID, part)
		}
		switch k {
		case "owner":
			e.Owner = v
		case "expires":
			t, err := parseExpiry(v)
			if err != nil {
				return e, fmt.Errorf("tag %s on %s: expires=%q is not a date (YYYY-MM-DD) or an RFC 3339 time", ExemptTag, instanceID, v)
			}
			e.Expires = t
		case "reason":
			e.Reason = v
		default:
			return e, fmt.Errorf("tag %s on %s: unknown key %q (want owner, expires, reason)", ExemptTag, instanceID, k)
		}
	}
	switch {
	case e.Owner == "":
		return e, fmt.Errorf("tag %s on %s names no owner (owner=...)", ExemptTag, instanceID)
	case e.Expires.IsZero():
		return e, fmt.Errorf("tag %s on %s has no expiry date (expires=YYYY-MM-DD)", ExemptTag, instanceID)
	}
	return e, nil
}

// parseExpiry reads a date (valid through its last second, UTC) or an RFC
// 3339 time.
func parseExpiry(v string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	return time.Parse(time.RFC3339, v)
}

// Expired reports whether the exemption has run out at now.
func (e Exemption) Expired(now time.Time) bool { return !e.Expires.IsZero() && now.After(e.Expires) }
