package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// durationFlag is a pflag.Value for durations written as Go durations
// ("36h", "90m") or whole days ("14d"), since metric windows and grace
// periods are thought of in days.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	if day := 24 * time.Hour; *f.d > 0 && *f.d%day == 0 {
		return strconv.FormatInt(int64(*f.d/day), 10) + "d"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (f durationFlag) Type() string { return "duration" }

// parseDuration reads "14d" or any time.ParseDuration form.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number of days (like 14d) or a Go duration (like 36h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: want a Go duration (like 36h) or days (like 14d)", s)
	}
	return d, nil
}

// listFlag is a pflag.Value for comma lists that may also be repeated
// ("--regions a,b --regions c"): items are trimmed, empty ones dropped and
// duplicates kept once, in first-seen order.
type listFlag struct{ v *[]string }

func (f listFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strings.Join(*f.v, ",")
}

func (f listFlag) Set(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(*f.v, item) {
			*f.v = append(*f.v, item)
		}
	}
	return nil
}

func (f listFlag) Type() string { return "list" }

var (
	// agentVersionRE matches SSM agent versions such as 3.2.582.0.
	agentVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){1,3}$`)
	// eksClusterRE is EKS's CreateCluster name constraint.
	eksClusterRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
	// roleNameRE is IAM's role name (with optional path) character set; the
	// name itself is at most 64 characters.
	roleNameRE = regexp.MustCompile(`^[\w+=,.@/-]+$`)
	// externalIDRE is sts:AssumeRole's ExternalId character set; its
	// length (2 to 1224) is checked by validExternalID, since RE2 caps
	// repeat counts at 1000.
	externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// validRoleName reports whether name (optionally path/name) is an IAM role
// name.
func validRoleName(name string) bool {
	last := name[strings.LastIndex(name, "/")+1:]
	return roleNameRE.MatchString(name) && last != "" && len(last) <= 64
}

// validExternalID reports whether id is an sts:AssumeRole ExternalId.
func validExternalID(id string) bool {
	return len(id) >= 2 && len(id) <= 1224 && externalIDRE.MatchString(id)
}
