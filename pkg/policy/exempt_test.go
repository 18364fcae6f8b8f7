package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseExemptTag(t *testing.T) {
	endOfDay := time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        Exemption
		err         string // "" means valid
	}{
		{name: "valid", value: "owner=payments-oncall@example.com;expires=2027-03-31;reason=legacy IMDSv1 client",
			want: Exemption{InstanceID: "i-1", Owner: "payments-oncall@example.com", Expires: endOfDay, Reason: "legacy IMDSv1 client"}},
		{name: "valid any order, spaces, case", value: " Expires = 2027-03-31 ; OWNER=team ;",
			want: Exemption{InstanceID: "i-1", Owner: "team", Expires: endOfDay}},
		{name: "valid RFC 3339", value: "owner=team;expires=2027-03-31T10:00:00Z",
			want: Exemption{InstanceID: "i-1", Owner: "team", Expires: time.Date(2027, 3, 31, 10, 0, 0, 0, time.UTC)}},
		{name: "missing owner", value: "expires=2027-03-31", err: "names no owner"},
		{name: "empty owner", value: "owner=;expires=2027-03-31", err: "is not key=value"},
		{name: "missing expiry", value: "owner=team", err: "has no expiry date"},
		{name: "invalid expiry", value: "owner=team;expires=next year", err: `expires="next year" is not a date`},
		{name: "impossible date", value: "owner=team;expires=2027-02-30", err: "is not a date"},
		{name: "unknown key", value: "owner=team;expires=2027-03-31;ticket=X-1", err: `unknown key "ticket"`},
		{name: "not key=value", value: "team until march", err: "is not key=value"},
		{name: "empty", value: "", err: "is empty"},
		{name: "blank", value: "   ", err: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExemptTag("i-1", tc.value)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), ExemptTag) || !strings.Contains(err.Error(), "i-1") {
					t.Errorf("err %q does not name the tag and the instance", err)
				}
				if got.InstanceID != "i-1" {
					t.Errorf("InstanceID = %q on error; callers honour the tag by id", got.InstanceID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Expires.Equal(tc.want.Expires) {
				t.Errorf("Expires = %v, want %v", got.Expires, tc.want.Expires)
			}
			got.Expires, tc.want.Expires = time.Time{}, time.Time{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	e, err := ParseExemptTag("i-1", "owner=team;expires=2027-03-31")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2027, 3, 30, 12, 0, 0, 0, time.UTC), false},
		{time.Date(2027, 3, 31, 23, 59, 58, 0, time.UTC), false}, // the whole last day is covered
		{time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		if got := e.Expired(tc.now); got != tc.want {
			t.Errorf("Expired(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
	if (Exemption{}).Expired(time.Now()) {
		t.Error("an exemption with no expiry reports expired")
	}
}
