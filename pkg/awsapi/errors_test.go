package awsapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "message for " + code}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{apiErr("InvalidInstanceID.NotFound"), KindNotFound},
		{apiErr("InvalidVpcID.NotFound"), KindNotFound},
		{apiErr("NoSuchEntity"), KindNotFound},
		{apiErr("ServiceSettingNotFound"), KindNotFound},
		{apiErr("RequestLimitExceeded"), KindThrottled},
		{apiErr("ThrottlingException"), KindThrottled},
		{apiErr("Throttling"), KindThrottled},
		{apiErr("AccessDenied"), KindAccessDenied},
		{apiErr("AccessDeniedException"), KindAccessDenied},
		{apiErr("UnauthorizedOperation"), KindAccessDenied},
		{apiErr("OptInRequired"), KindUnsupported},
		{apiErr("InvalidAction"), KindUnsupported},
		{apiErr("ExpiredToken"), KindCredentials},
		{apiErr("InvalidClientTokenId"), KindCredentials},
		{apiErr("InvalidParameterValue"), KindOther},
		{errors.New("connection reset"), KindOther},
		{&CredentialsError{Err: errors.New("none")}, KindCredentials},
		// Wrapped by our own context and by the SDK's retryer.
		{fmt.Errorf("describing instances in eu-west-1, %w", apiErr("UnauthorizedOperation")), KindAccessDenied},
		{&retry.MaxAttemptsError{Attempt: 8, Err: apiErr("RequestLimitExceeded")}, KindThrottled},
		{context.DeadlineExceeded, KindOther},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if Classify(nil) != "" {
		t.Error("Classify(nil) should be empty")
	}
	if !IsNotFound(apiErr("NoSuchEntity")) || !IsThrottled(apiErr("SlowDown")) || !IsAccessDenied(apiErr("AccessDenied")) {
		t.Error("Is* helpers disagree with Classify")
	}
}

func TestErrorMessageIsCapped(t *testing.T) {
	long := &smithy.GenericAPIError{Code: "AccessDenied", Message: strings.Repeat("é", 400)}
	msg := ErrorMessage(long)
	if len(msg) > 300 || !strings.HasSuffix(msg, "…") {
		t.Errorf("message not capped on a rune boundary: %d bytes", len(msg))
	}
	if ErrorCode(long) != "AccessDenied" || ErrorCode(errors.New("x")) != "" {
		t.Error("ErrorCode")
	}
}

func TestValidateRegionAndAccount(t *testing.T) {
	if err := ValidateRegion("eu-west-1"); err != nil {
		t.Error(err)
	}
	err := ValidateRegion("eu-wst-1")
	if err == nil || !strings.Contains(err.Error(), "did you mean eu-west-1") {
		t.Errorf("ValidateRegion(eu-wst-1) = %v", err)
	}
	if err := ValidateRegion("mars-north-1"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("ValidateRegion(mars-north-1) = %v", err)
	}
	for _, bad := range []string{"", "12345678901", "1234567890123", "12345678901a", "-12345678901"} {
		if ValidateAccountID(bad) == nil {
			t.Errorf("ValidateAccountID(%q) accepted", bad)
		}
	}
	if err := ValidateAccountID("123456789012"); err != nil {
		t.Error(err)
	}
}
