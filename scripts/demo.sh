#!/usr/bin/env bash
# make demo: audit the embedded sandbox fleet.
#
# `fleetdoctor audit --sandbox` starts the embedded AWS (pkg/sandbox) in
# process on a free loopback port, builds the `demo` scenario (2 accounts ×
# 2 regions, about 1,000 instances) and audits it with the same SDK clients
# and code that audit a real organisation. Nothing needs configuring and
# nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/fleetdoctor

echo "fleetdoctor demo — auditing the embedded sandbox (scenario: demo)"
echo "command: fleetdoctor audit --sandbox"
echo
"$bin" audit --sandbox
