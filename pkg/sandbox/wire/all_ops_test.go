package wire

import (
	"testing"
)

// The named operations in roundtrip_test.go are the ones the project uses;
// these tests push every other operation of the same clients through the
// same codecs, which checks the generated name tables far beyond them.

func TestAllEC2Operations(t *testing.T) {
	h := newHarness(t, ec2Handler)
	roundTripAll(t, h, ec2Client(h), nil)
}

func TestAllIAMOperations(t *testing.T) {
	h := newHarness(t, queryHandler(iamNS))
	roundTripAll(t, h, iamClient(h), nil)
}

func TestAllSTSOperations(t *testing.T) {
	h := newHarness(t, queryHandler(stsNS))
	roundTripAll(t, h, stsClient(h), nil)
}

func TestAllSNSOperations(t *testing.T) {
	h := newHarness(t, queryHandler(snsNS))
	roundTripAll(t, h, snsClient(h), nil)
}

func TestAllSSMOperations(t *testing.T) {
	h := newHarness(t, jsonHandler)
	roundTripAll(t, h, ssmClient(h), map[string]string{
		// InventoryAggregator is recursive: wherever the filler's depth
		// limit cuts it, the innermost Groups lack their required Filters
		// and the SDK refuses the request before it is sent.
		"GetInventory": "recursive input shape",
	})
}

func TestAllCloudWatchOperations(t *testing.T) {
	h := newHarness(t, cborHandler)
	roundTripAll(t, h, cloudwatchClient(h), nil)
}
