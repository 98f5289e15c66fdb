#!/usr/bin/env bash
# The whole suite: unit tests, the runtime conformance suite on every runtime, the adversarial
# security suite (about two minutes), API, SDK and CLI end to end, crash recovery (after the lint and
# boundary rules); a bounded run of
# the native fuzzers (25 s each; `npm run fuzz` runs them longer); then a leak check that fails the
# run if any container, cgroup, mount or process of the sandboxes the tests created is left on the host.
set -uo pipefail
cd "$(dirname "$0")/.."

export AIRLOCK_TEST_ROOT
AIRLOCK_TEST_ROOT="$(mktemp -d /tmp/airlock-test-XXXXXX)"
chmod 711 "$AIRLOCK_TEST_ROOT"

status=0
# The architecture's boundaries, the lint rules (eslint.config.js) and the formatting: seconds, before the long part.
if ! npx --no-install eslint .; then
  echo "lint failed (npm run lint)" >&2
  status=1
fi
if ! npx --no-install prettier --check . >/dev/null; then
  npx --no-install prettier --list-different . >&2
  echo "formatting differs from Prettier's (npm run format fixes it)" >&2
  status=1
fi

mapfile -t files < <(find packages/*/dist packages/agent/test -name '*.test.js' -o -name '*.test.mjs' | sort)
# One file at a time: the suites create real sandboxes and this machine has two cores.
if ! node --test --test-concurrency=1 --test-timeout=1500000 --test-reporter=spec "${files[@]}"; then
  status=1
fi

if ! bash scripts/fuzz.sh 25; then
  status=1
fi

if ! node packages/testkit/dist/leak-check.js --clean; then
  status=1
fi
exit $status
