package hostns

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// imds is the IMDS test server: IMDSv2 semantics as EC2 documents them.
//
//   - PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds
//     (1-21600), else 400; a PUT carrying X-Forwarded-For is refused (403).
//   - A GET with an X-aws-ec2-metadata-token that is not a live token: 401.
//   - A GET without a token: 401 when tokens are required.
//   - Everything: 403 when the endpoint is disabled.
//   - iam/security-credentials/: the role name, or 404 without a role.
type imds struct {
	opts     imdsOptions
	requests *atomic.Int64
	mu       sync.Mutex
	tokens   map[string]time.Time
}

func newIMDS(opts imdsOptions, requests *atomic.Int64) *imds {
	return &imds{opts: opts, requests: requests, tokens: map[string]time.Time{}}
}

func (s *imds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.Header().Set("Server", "EC2ws")
	if s.opts.Disabled {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if r.URL.Path == "/latest/api/token" {
		s.token(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if tok := r.Header.Get("X-aws-ec2-metadata-token"); tok != "" {
		s.mu.Lock()
		exp, ok := s.tokens[tok]
		s.mu.Unlock()
		if !ok || time.Now().After(exp) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
	} else if s.opts.TokensRequired {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/latest/meta-data/instance-id":
		_, _ = w.Write([]byte(testInstanceID))
	case "/latest/meta-data/placement/region":
		_, _ = w.Write([]byte(testRegion))
	case "/latest/dynamic/instance-identity/document":
		b, _ := json.MarshalIndent(map[string]any{
			"accountId": "111122223333", "architecture": "x86_64", "availabilityZone": testRegion + "a",
			"imageId": "ami-0123456789abcdef0", "instanceId": testInstanceID, "instanceType": "t3.micro",
			"pendingTime": "2025-01-01T00:00:00Z", "privateIp": "10.0.0.10", "region": testRegion, "version": "2017-09-30",
		}, "", "  ")
		_, _ = w.Write(b)
	case "/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials":
		if s.opts.NoRole {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(testRole))
	case "/latest/meta-data/iam/security-credentials/" + testRole:
		if s.opts.NoRole {
			http.NotFound(w, r)
			return
		}
		b, _ := json.Marshal(map[string]string{
			"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
			"SecretAccessKey": "not-a-secret", "Token": "not-a-token",
			"Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
		})
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func (s *imds) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < 1 || ttl > 21600 {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(time.Duration(ttl) * time.Second)
	s.mu.Unlock()
	w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
	_, _ = w.Write([]byte(tok))
}
