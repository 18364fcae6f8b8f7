package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// principal is who signed a request: the account it acts in and its ARN.
type principal struct {
	Account string
	ARN     string
	UserID  string
	Role    string // "" for the base user
	Expires time.Time
}

// keyring maps access key ids to principals: the base key to the caller
// account, and every key sts:AssumeRole issued to the role's account — so
// later calls signed with those keys act in that account, as on AWS.
type keyring struct {
	mu   sync.RWMutex
	keys map[string]principal
}

func newKeyring(caller string) *keyring {
	return &keyring{keys: map[string]principal{
		AccessKeyID: {Account: caller, ARN: "arn:aws:iam::" + caller + ":user/" + CallerUser, UserID: "AIDAFLEETDOCTORSBX01"},
	}}
}

func (k *keyring) lookup(id string) (principal, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	p, ok := k.keys[id]
	return p, ok
}

// issue records new temporary credentials for p and returns them.
func (k *keyring) issue(p principal) (keyID, secret, token string) {
	keyID = "ASIA" + strings.ToUpper(randHex(8))
	secret = randHex(20)
	token = "FwoGZXIvYXdzE" + randHex(32)
	k.mu.Lock()
	k.keys[keyID] = p
	k.mu.Unlock()
	return keyID, secret, token
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// credentialScope reads the access key id, region and service from a
// request's SigV4 Authorization header (or presigned query). The signature
// itself is not verified: the sandbox is a loopback test double, and the
// clients under test are the SDK's own signers.
func credentialScope(r *http.Request) (keyID, region, service string, ok bool) {
	cred := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "AWS4-HMAC-SHA256 ") {
		for _, part := range strings.Split(strings.TrimPrefix(h, "AWS4-HMAC-SHA256 "), ",") {
			part = strings.TrimSpace(part)
			if v, found := strings.CutPrefix(part, "Credential="); found {
				cred = v
			}
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" {
		return "", "", "", false
	}
	return f[0], f[2], f[3], true
}
