#!/usr/bin/env bash
# The adversarial security suite alone (`npm run security`): probes, hostile-channel attacks and
# resource attacks on every runtime the reviewed verdicts expect, the probes again in runc with one
# defence layer taken away at a time, the scoreboard in security/results/latest.{md,json}, a failure
# if any verdict differs from security/expected-verdicts.json or an expected runtime did not run;
# then the leak check, as in scripts/test.sh.
#
#   scripts/security.sh [--runtimes runc,bwrap]
#
# --runtimes (or AIRLOCK_SECURITY_RUNTIMES) narrows the run on purpose: the runtimes left out are
# listed as not run in the scoreboard instead of failing the gate.
set -uo pipefail
cd "$(dirname "$0")/.."

while [ $# -gt 0 ]; do
  case "$1" in
    --runtimes) export AIRLOCK_SECURITY_RUNTIMES="${2:?--runtimes needs a list, e.g. runc,bwrap}"; shift 2 ;;
    --runtimes=*) export AIRLOCK_SECURITY_RUNTIMES="${1#--runtimes=}"; shift ;;
    *) echo "usage: scripts/security.sh [--runtimes runc,gvisor,bwrap]" >&2; exit 2 ;;
  esac
done

export AIRLOCK_TEST_ROOT
AIRLOCK_TEST_ROOT="$(mktemp -d /tmp/airlock-test-XXXXXX)"
chmod 711 "$AIRLOCK_TEST_ROOT"

# --test-timeout: a hang fails the run instead of holding it (the suite takes about three minutes).
AIRLOCK_SECURITY_RESULTS="$PWD/security/results" node --test --test-timeout=900000 --test-reporter=spec \
  packages/security/dist/security.test.js packages/security/dist/scoreboard.test.js packages/security/dist/hostile-frames.test.js
status=$?

if ! node packages/testkit/dist/leak-check.js --clean; then
  status=1
fi
exit $status
