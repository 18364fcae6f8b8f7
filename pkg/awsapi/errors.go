package awsapi

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

// Kind is fleetdoctor's one classification of AWS errors.
type Kind string

// Error kinds.
const (
	KindNotFound     Kind = "not-found"
	KindThrottled    Kind = "throttled"
	KindAccessDenied Kind = "access-denied"
	KindUnsupported  Kind = "unsupported"
	// KindCredentials means the credentials themselves are missing, invalid
	// or expired: nothing will work until they are fixed.
	KindCredentials Kind = "credentials"
	KindOther       Kind = "error"
)

var codeKinds = map[string]Kind{
	// Not found. EC2's "<Thing>.NotFound" codes are matched by suffix below.
	"NoSuchEntity":                   KindNotFound,
	"NoSuchEntityException":          KindNotFound,
	"ResourceNotFoundException":      KindNotFound,
	"ServiceSettingNotFound":         KindNotFound,
	"InvalidInstanceId":              KindNotFound,
	"InvalidResourceId":              KindNotFound,
	"InvalidParameterValue.NotFound": KindNotFound,

	// Throttled, in each service's spelling.
	"Throttling":                             KindThrottled,
	"ThrottlingException":                    KindThrottled,
	"ThrottledException":                     KindThrottled,
	"RequestLimitExceeded":                   KindThrottled,
	"RequestThrottled":                       KindThrottled,
	"RequestThrottledException":              KindThrottled,
	"TooManyRequestsException":               KindThrottled,
	"ProvisionedThroughputExceededException": KindThrottled,
	"SlowDown":                               KindThrottled,
	"LimitExceededException":                 KindThrottled,

	// Denied by policy.
	"AccessDenied":          KindAccessDenied,
	"AccessDeniedException": KindAccessDenied,
	"UnauthorizedOperation": KindAccessDenied,
	"UnauthorizedAccess":    KindAccessDenied,
	"AuthorizationError":    KindAccessDenied,
	"Forbidden":             KindAccessDenied,

	// Not available here (region not enabled, API unknown to the endpoint).
	"UnsupportedOperation":          KindUnsupported,
	"UnsupportedOperationException": KindUnsupported,
	"InvalidAction":                 KindUnsupported,
	"UnknownOperationException":     KindUnsupported,
	"OptInRequired":                 KindUnsupported,
	"NotImplemented":                KindUnsupported,

	// The credentials are bad.
	"InvalidClientTokenId":        KindCredentials,
	"UnrecognizedClientException": KindCredentials,
	"ExpiredToken":                KindCredentials,
	"ExpiredTokenException":       KindCredentials,
	"SignatureDoesNotMatch":       KindCredentials,
	"AuthFailure":                 KindCredentials,
	"InvalidSignatureException":   KindCredentials,
}

// Classify puts an error from an AWS call into one Kind. Errors wrapped by
// the SDK's retryer or by fmt.Errorf are unwrapped.
func Classify(err error) Kind {
	if err == nil {
		return ""
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return KindCredentials
	}
	code := ErrorCode(err)
	if k, ok := codeKinds[code]; ok {
		return k
	}
	if strings.HasSuffix(code, ".NotFound") {
		return KindNotFound
	}
	return KindOther
}

// ErrorCode returns the AWS error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ErrorMessage returns the AWS error message of err, or err's text, capped
// at 300 characters: error text can echo untrusted input.
func ErrorMessage(err error) string {
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != "" {
		msg = ae.ErrorMessage()
	}
	return Cap(msg, 300)
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return Classify(err) == KindNotFound }

// IsThrottled reports whether err is a throttling error.
func IsThrottled(err error) bool { return Classify(err) == KindThrottled }

// IsAccessDenied reports whether err is a permissions error.
func IsAccessDenied(err error) bool { return Classify(err) == KindAccessDenied }

// CredentialsError means no usable credentials were found or they were
// rejected; the message says how to configure them.
type CredentialsError struct {
	Err error
}

func (e *CredentialsError) Error() string {
	return "no usable AWS credentials: " + e.Err.Error() +
		"\nconfigure credentials with one of: AWS_PROFILE=<profile> (aws configure / aws sso login), " +
		"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance/task role"
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// Cap shortens s to at most n bytes on a rune boundary, marking the cut.
func Cap(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
