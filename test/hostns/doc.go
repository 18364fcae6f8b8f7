// Package hostns runs fleetdoctor's real Linux host scripts (the diagnose
// and repair Command documents in documents/) inside Linux network
// namespaces that stand in for EC2 hosts: real iptables and nftables rules,
// an IMDS test server on 169.254.169.254 inside the namespace, SSM endpoint
// names mapped to loopback listeners through /etc/netns/NAME/hosts, a fake
// amazon-ssm-agent process with a chosen environment, and agent logs and
// configuration files visible only to the script (DESIGN §6, tier "host").
//
// The package holds tests only; the harness they share lives in
// harness_test.go (newHost and the methods of *nsHost). The tests need root
// and ip, iptables, nft, curl, unshare, setpriv and shellcheck. Without
// them they skip, except under CI=true, where a missing prerequisite fails
// the test. No test reaches a non-loopback address: the namespaces have no
// route out.
package hostns
