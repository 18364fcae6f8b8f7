package main

import (
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	os.Setenv("JSII_DEPRECATED", "quiet")
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// TestContextOf: cdk.json may hold numbers and -c gives strings; both
// reach the props as strings, and a missing key is empty.
func TestContextOf(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
		"driftThreshold": 12.5, "maxConcurrency": 40, "mode": "diagnose",
	}})
	get := contextOf(app)
	for key, want := range map[string]string{"driftThreshold": "12.5", "maxConcurrency": "40", "mode": "diagnose", "accounts": ""} {
		if got := get(key); got != want {
			t.Errorf("context %s = %q, want %q", key, got, want)
		}
	}
}
