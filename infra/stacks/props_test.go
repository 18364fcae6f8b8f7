package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lambdaDir makes a directory with a placeholder bootstrap per Lambda (the
// real ones come from make lambdas).
func lambdaDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range Lambdas {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func lookup(m map[string]string) Lookup { return func(k string) string { return m[k] } }

func TestFromContextDefaults(t *testing.T) {
	dir := lambdaDir(t)
	p, err := FromContext(lookup(map[string]string{KeyExternalID: "ext-123", KeyLambdaDir: dir}),
		lookup(map[string]string{"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.HubAccount != "123456789012" || p.Region != "eu-west-1" {
		t.Errorf("account/region = %s/%s, want the CDK_DEFAULT_* fallbacks", p.HubAccount, p.Region)
	}
	if len(p.Accounts) != 1 || p.Accounts[0] != "123456789012" || len(p.Regions) != 1 || p.Regions[0] != "eu-west-1" {
		t.Errorf("scope = %v %v, want the hub account and region", p.Accounts, p.Regions)
	}
	if p.Schedule != DefaultSchedule || p.TimeZone != DefaultTimeZone || p.Mode != DefaultMode ||
		p.MemberRoleName != DefaultMemberRoleName || p.MaxConcurrency != DefaultMaxConcurrency {
		t.Errorf("defaults not applied: %+v", p)
	}
}

func TestFromContextErrorsNameTheKey(t *testing.T) {
	dir := lambdaDir(t)
	good := map[string]string{
		KeyHubAccount: "123456789012", KeyRegion: "eu-west-1", KeyExternalID: "ext-123", KeyLambdaDir: dir,
	}
	cases := []struct{ key, value string }{
		{KeyHubAccount, "12345"},
		{KeyRegion, "moon-1"},
		{KeyAccounts, "123456789012,abc"},
		{KeyOrgOU, "ou-bad"},
		{KeyRegions, "eu-west-1,nowhere"},
		{KeySchedule, "every day"},
		{KeySchedule, "cron(0 6 * *)"},
		{KeyTimeZone, "Mars/Olympus"},
		{KeyMode, "fix"},
		{KeySlackSecretName, "bad name with spaces"},
		{KeyExternalID, "x"},
		{KeyExternalID, "has space"},
		{KeyMemberRoleName, "role/with/slash"},
		{KeyEnabledRemediations, "imds_enable_endpoint,delete_everything"},
		{KeyDriftThreshold, "-1"},
		{KeyDriftThreshold, "lots"},
		{KeyLambdaDir, filepath.Join(dir, "missing")},
		{KeyNotificationEmail, "not-an-address"},
		{KeyMaxConcurrency, "0"},
		{KeyMaxConcurrency, "1.5"},
		{KeyRunsRetentionDays, "-3"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			ctx := map[string]string{}
			for k, v := range good {
				ctx[k] = v
			}
			ctx[tc.key] = tc.value
			_, err := FromContext(lookup(ctx), lookup(nil))
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), "context "+tc.key+":") {
				t.Errorf("error %q does not name context key %s", err, tc.key)
			}
		})
	}
	t.Run("externalId missing", func(t *testing.T) {
		ctx := map[string]string{}
		for k, v := range good {
			ctx[k] = v
		}
		delete(ctx, KeyExternalID)
		_, err := FromContext(lookup(ctx), lookup(nil))
		if err == nil || !strings.Contains(err.Error(), "context externalId: is required") {
			t.Errorf("err = %v, want one naming externalId as required", err)
		}
	})
	t.Run("accounts and orgOu", func(t *testing.T) {
		ctx := map[string]string{KeyAccounts: "123456789012", KeyOrgOU: "ou-ab12-abcdefgh"}
		for k, v := range good {
			ctx[k] = v
		}
		_, err := FromContext(lookup(ctx), lookup(nil))
		if err == nil || !strings.Contains(err.Error(), "context orgOu:") {
			t.Errorf("err = %v, want one naming orgOu", err)
		}
	})
}
