#!/usr/bin/env bash
# Coverage-guided fuzzing of the native frame handling (libFuzzer, clang-14): the agent's input
# parsing and dispatch, and the shim's frame tracking. First every committed regression input and
# seed is replayed once (a crash there fails at once), then each fuzzer runs for SECONDS (default
# 180; `npm run fuzz -- 600`, or FUZZ_SECONDS). CI runs `scripts/fuzz.sh 25`. Prints executions
# per second and total runs per fuzzer. A crash leaves its input in packages/agent/build/fuzz/
# artifacts; commit it under packages/agent/native/fuzz/regressions/<fuzzer>/ once fixed.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-180}}"
native=packages/agent/native
build=packages/agent/build/fuzz
make -s -C "$native" fuzz || exit 1
mkdir -p "$build/artifacts"
status=0
for fuzzer in agent shim; do
  bin="$build/$fuzzer-fuzz"
  seeds="$native/fuzz/corpus/$fuzzer"
  regressions="$native/fuzz/regressions/$fuzzer"
  work="$build/corpus-$fuzzer" # grows across runs; the committed seeds stay as they are
  mkdir -p "$work" "$regressions"
  if ! "$bin" -runs=0 "$regressions" "$seeds" >"$build/$fuzzer-replay.log" 2>&1; then
    echo "fuzz $fuzzer: a regression input or seed fails again:" >&2
    tail -40 "$build/$fuzzer-replay.log" >&2
    status=1
    continue
  fi
  log="$build/$fuzzer.log"
  "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$fuzzer-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  echo "fuzz $fuzzer: ${runs:-?} runs in ${seconds} s, ${rate:-?} exec/s, ${cov:-no coverage line}, exit $rc"
  if [ "$rc" -ne 0 ]; then
    tail -60 "$log" >&2
    status=1
  fi
done
exit $status
