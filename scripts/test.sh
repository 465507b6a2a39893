#!/usr/bin/env bash
# The test command (README, `npm test`, .ci/run): install, start Redis + ClickHouse on test ports, type-check,
# run every test under test/ with Bun, and end with one plain line:  N passed, N failed[, N skipped]
# (a failure that is not a test's, such as the install, the type check or an error outside tests, counts as one failed)
#
# Settings (environment):
#   AROUTER_TEST_REDIS_PORT (16379), AROUTER_TEST_CH_PORT (18123)  ports of the test Redis / ClickHouse (HTTP);
#       a server already answering there is reused and left running, one started here is stopped at the end
#   AROUTER_TEST_TIMEOUT_MS (120000)   per-test timeout passed to `bun test --timeout`
#   AROUTER_TEST_MAX_SECONDS (1500)    the whole `bun test` run is stopped after this long
#   AROUTER_TEST_LOG (.arouter/logs/test.log)  where bun's output is kept
# Arguments, if any, replace ./test as what `bun test` runs (e.g. bash scripts/test.sh test/unit).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step_start=$SECONDS
step() { # a step's header, after the previous step's time
  [ "${step_name:-}" ] && echo "test: ($step_name took $((SECONDS - step_start))s)"
  step_name="${1%% *}"; step_start=$SECONDS
  printf '\n==> %s\n' "$*"
}
note() { echo "test: $*"; }

REDIS_PORT="${AROUTER_TEST_REDIS_PORT:-16379}"
CH_PORT="${AROUTER_TEST_CH_PORT:-18123}"
TIMEOUT_MS="${AROUTER_TEST_TIMEOUT_MS:-120000}"
MAX_SECONDS="${AROUTER_TEST_MAX_SECONDS:-1500}"
LOG="${AROUTER_TEST_LOG:-$ROOT/.arouter/logs/test.log}"
total_start=$SECONDS

# Set before the install, so that a run failing anywhere (the install too) ends with its counts line.
SERVICES_DIR=""
started_services=()
svc() { AROUTER_REDIS_PORT="$REDIS_PORT" AROUTER_CH_HTTP_PORT="$CH_PORT" AROUTER_SERVICES_DIR="$SERVICES_DIR" bash scripts/services.sh "$@" 9>&-; }
cleanup() {
  local s
  for s in "${started_services[@]}"; do svc stop "$s" || true; done
  if [ -n "$SERVICES_DIR" ]; then rm -rf "$SERVICES_DIR"; fi
}
summary_printed=0
on_exit() {
  local rc=$?
  cleanup
  # A step before the tests failed (install, services): no test ran, and the last line still says so.
  if [ "$summary_printed" = 0 ]; then
    if [ "${tests_started:-0}" = 1 ]; then note "FAILED: stopped while the tests ran (exit code $rc)"; else note "FAILED before any test ran (exit code $rc)"; fi
    # Counted as one failure: a parser of this line must never read a failed run as a clean one.
    echo "0 passed, 1 failed"
  fi
  [ -n "${RUN_LOG:-}" ] && rm -f "$RUN_LOG"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "1/4 install (scripts/bootstrap.sh)"
bash scripts/bootstrap.sh
export PATH="$ROOT/node_modules/.bin:$PATH"

step "2/4 services: Redis on 127.0.0.1:$REDIS_PORT, ClickHouse on 127.0.0.1:$CH_PORT"
# One run at a time per pair of test ports: a second run would share (and then stop) the first one's servers.
# The servers and bun test get 9>&- so that nothing they leave running holds the lock after this run.
LOCK="${TMPDIR:-/tmp}/arouter-test-$REDIS_PORT-$CH_PORT.lock"
# Shared by every user of the machine: one who made it first must not lock the others out. An existing one is opened
# read-only (flock needs no more), since protected_regular refuses opening another user's /tmp file for creation.
if [ -e "$LOCK" ]; then exec 9<"$LOCK"; else exec 9>>"$LOCK"; chmod 666 "$LOCK" 2>/dev/null || true; fi
if ! flock -n 9; then
  note "another test run is using these ports; waiting for it to finish (up to 30 min)"
  flock -w 1800 9 || { note "FAILED: the other run did not finish"; exit 1; }
fi
SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/arouter-test-services.XXXXXX")"
for s in redis clickhouse; do
  if svc ping "$s"; then
    note "reusing the $s already running on its test port (left running)"
  else
    started_services+=("$s")
    svc start "$s"
  fi
done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export CLICKHOUSE_URL="http://127.0.0.1:$CH_PORT"
# Tests talk only to local mocks: no operator credential of the caller's shell reaches them.
for slug in OPENAI ANTHROPIC GOOGLE DEEPSEEK XAI KIMI MINIMAX MISTRAL GROQ COHERE NVIDIA DASHSCOPE; do
  unset "${slug}_API_KEY"
done

step "3/4 type check (tsc --noEmit -p .)"
typecheck_ok=1
if tsc --noEmit -p .; then
  note "type check passed"
else
  typecheck_ok=0
  note "type check FAILED (errors above)"
fi

targets=("$@"); [ "${#targets[@]}" -gt 0 ] || targets=(./test)
step "4/4 bun test ${targets[*]} (per-test timeout ${TIMEOUT_MS} ms)"
mkdir -p "$(dirname "$LOG")"
# This run's output goes to a file of its own (a concurrent run, or an old log that cannot be written, must never
# supply the counts); it is copied to $LOG afterwards.
RUN_LOG="$(mktemp "${TMPDIR:-/tmp}/arouter-test-run.XXXXXX")"
# Without a terminal, timeout runs bun in its own process group so that a stop reaches every process a test
# spawned; at a terminal it stays in the foreground group so that Ctrl-C reaches bun.
fg=(); [ -t 0 ] && fg=(--foreground)
set +e
tests_started=1
# The tests run in the background, written to the run's log and shown from it as they go, and this script waits for
# them: bash runs a trap only between foreground commands, so a TERM or INT sent to this script would otherwise wait
# for the whole run. The trap stops the tests with TERM (timeout hands it to bun; a background command of a script
# ignores INT, so a Ctrl-C is passed on as TERM too) and waits for them.
timeout "${fg[@]}" --signal=TERM --kill-after=30 "$MAX_SECONDS" bun test --timeout "$TIMEOUT_MS" "${targets[@]}" >"$RUN_LOG" 2>&1 9>&- &
tests_pid=$!
tail -n +1 -f --pid="$tests_pid" "$RUN_LOG" 9>&- &
tail_pid=$!
stop_tests() { kill -TERM "$tests_pid" 2>/dev/null; wait "$tests_pid" 2>/dev/null; wait "$tail_pid" 2>/dev/null; exit "$1"; }
trap 'stop_tests 130' INT
trap 'stop_tests 143' TERM
wait "$tests_pid"; bun_rc=$?
wait "$tail_pid"; tee_rc=$?
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$RUN_LOG" "$LOG" || note "could not copy the output to $LOG"
set -e
[ "$bun_rc" = 124 ] && note "bun test was stopped after ${MAX_SECONDS}s"

# bun's summary lines look like " 12 pass", " 1 skip", " 1 todo", " 0 fail", " 1 error", then "Ran 14 tests across 3 files."
count() { sed 's/\x1b\[[0-9;]*m//g' "$RUN_LOG" | sed -n "s/^ *\([0-9][0-9]*\) $1\$/\1/p" | tail -n1; }
pass="$(count pass)"; fail="$(count fail)"; skip="$(count skip)"; todo="$(count todo)"; errors="$(count 'errors\{0,1\}')"
ran="$(sed 's/\x1b\[[0-9;]*m//g' "$RUN_LOG" | sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} across.*/\1/p' | tail -n1)"

step "summary"
# Stop the services now rather than in the EXIT trap, so that the counts line stays the last line of output.
cleanup; started_services=(); SERVICES_DIR=""
note "log: $LOG; total time $((SECONDS - total_start))s"
status=0
# Failures that are not a failed test (the run cut short, errors outside tests, the type check) are counted in the
# failed number too, one each, so that the counts line alone never reads as a clean run when it was not.
outside=0
if [ "$tee_rc" != 0 ]; then
  note "FAILED: the test output could not be shown (tail exit code $tee_rc)"
  pass=0; fail=0; outside=$((outside + 1))
elif [ -z "$pass" ] || [ -z "$fail" ] || [ -z "$ran" ]; then
  note "FAILED: could not find bun's test summary (exit code $bun_rc)"
  pass="${pass:-0}"; fail="${fail:-0}"; outside=$((outside + 1))
elif [ "$((pass + fail))" -eq 0 ]; then
  note "FAILED: no test ran"; outside=$((outside + 1))
elif [ "$fail" -gt 0 ]; then
  note "FAILED: $fail test(s) failed"; status=1
elif [ "$bun_rc" != 0 ] && [ "${errors:-0}" -eq 0 ]; then
  # (With errors outside tests, those are what made bun fail: counted below, once.)
  note "FAILED: bun test exited with code $bun_rc"; outside=$((outside + 1))
fi
# Errors bun reports outside any test (an unhandled rejection) fail the run.
if [ "${errors:-0}" -gt 0 ]; then note "FAILED: $errors error(s) outside tests (above)"; outside=$((outside + errors)); fi
if [ "$typecheck_ok" != 1 ]; then note "FAILED: type check"; outside=$((outside + 1)); fi
if [ "$outside" -gt 0 ]; then
  note "counted as failed besides the tests: $outside"
  fail=$((fail + outside)); status=1
fi
[ "$status" = 0 ] && note "OK"

summary_printed=1
skipped=$(( ${skip:-0} + ${todo:-0} ))
if [ "$skipped" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skipped skipped"
else
  echo "$pass passed, $fail failed"
fi
exit "$status"
