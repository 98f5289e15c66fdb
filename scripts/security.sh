#!/usr/bin/env bash
# The adversarial security suite alone (`npm run security`): probes and resource attacks on every
# runtime this host offers, the scoreboard in security/results/latest.{md,json}, a failure if any
# verdict differs from security/expected-verdicts.json; then the leak check, as in scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

export AIRLOCK_TEST_ROOT
AIRLOCK_TEST_ROOT="$(mktemp -d /tmp/airlock-test-XXXXXX)"
chmod 711 "$AIRLOCK_TEST_ROOT"

AIRLOCK_SECURITY_RESULTS="$PWD/security/results" node --test --test-reporter=spec packages/server/dist/security/security.test.js
status=$?

if ! node packages/server/dist/test/leak-check.js --clean; then
  status=1
fi
exit $status
