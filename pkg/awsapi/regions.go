package awsapi

import (
	"fmt"
	"slices"
	"strings"
)

// Regions are the region names fleetdoctor accepts. The SDK keeps its
// partition data internal, so the list lives here; it follows the
// partitions published with the AWS SDKs (aws, aws-cn, aws-us-gov,
// aws-eusc) and grows when AWS opens a region.
var Regions = []string{
	"af-south-1",
	"ap-east-1", "ap-east-2",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1",
	"cn-north-1", "cn-northwest-1",
	"eu-central-1", "eu-central-2",
	"eu-north-1",
	"eu-south-1", "eu-south-2",
	"eu-west-1", "eu-west-2", "eu-west-3",
	"eusc-de-east-1",
	"il-central-1",
	"me-central-1", "me-south-1",
	"mx-central-1",
	"sa-east-1",
	"us-east-1", "us-east-2",
	"us-gov-east-1", "us-gov-west-1",
	"us-west-1", "us-west-2",
}

// ValidateRegion returns an error naming the region when it is not one AWS has.
func ValidateRegion(name string) error {
	if slices.Contains(Regions, name) {
		return nil
	}
	hint := ""
	for _, r := range Regions {
		if closeTo(r, name) {
			hint = fmt.Sprintf(" (did you mean %s?)", r)
			break
		}
	}
	return fmt.Errorf("unknown region %q%s", name, hint)
}

// ValidateAccountID returns an error unless id is a 12-digit account id.
func ValidateAccountID(id string) error {
	if len(id) != 12 || strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return fmt.Errorf("malformed account id %q: want 12 digits", id)
	}
	return nil
}

// closeTo reports whether a and b differ by at most one edit.
func closeTo(a, b string) bool {
	if a == b {
		return true
	}
	if d := len(a) - len(b); d > 1 || d < -1 {
		return false
	}
	i, j, edits := 0, 0, 0
	for i < len(a) && j < len(b) {
		if a[i] == b[j] {
			i, j = i+1, j+1
			continue
		}
		edits++
		if edits > 1 {
			return false
		}
		switch {
		case len(a) > len(b):
			i++
		case len(a) < len(b):
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return edits+len(a)-i+len(b)-j <= 1
}
