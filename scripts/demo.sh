#!/usr/bin/env bash
# make demo: audit the embedded sandbox fleet.
#
# The embedded AWS sandbox (pkg/sandbox, issue 3) has not landed yet, so
# there is no fleet to audit without real AWS credentials. Rather than fake
# a run, this shows what the CLI can already do and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/fleetdoctor

cat <<'MSG'
fleetdoctor demo
================
The embedded AWS sandbox (`fleetdoctor audit --sandbox`) lands with the
sandbox issue; until then `make demo` cannot audit a fleet without AWS.
What works today:

  * the check catalogue (below);
  * `fleetdoctor audit` against a real account — see README "Run against
    a real account".

MSG
"$bin" checks
