package sandbox

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// pageWindow returns the window of n items a NextToken and MaxResults
// select. Tokens are opaque to clients.
func pageWindow(n int, token *string, maxResults *int32, defaultSize int) (lo, hi int, next *string, err error) {
	size := defaultSize
	if maxResults != nil {
		size = int(*maxResults)
	}
	if token != nil && *token != "" {
		raw, decErr := base64.RawURLEncoding.DecodeString(*token)
		v, convErr := strconv.Atoi(strings.TrimPrefix(string(raw), "sbx:"))
		if decErr != nil || convErr != nil || !strings.HasPrefix(string(raw), "sbx:") || v < 0 || v > n {
			return 0, 0, nil, apiError("InvalidNextToken", "The specified token is invalid.")
		}
		lo = v
	}
	hi = min(lo+size, n)
	if hi < n {
		t := base64.RawURLEncoding.EncodeToString([]byte("sbx:" + strconv.Itoa(hi)))
		next = &t
	}
	return lo, hi, next, nil
}
