#!/usr/bin/env bash
# `npm start`: everything for a local run, in the foreground.
#   - installs what is missing (scripts/bootstrap.sh);
#   - starts Redis and ClickHouse on loopback (REDIS_URL / CLICKHOUSE_URL, default ports 6379 / 8123), reusing
#     servers already answering there; their data lives in .arouter/services;
#   - runs the usage worker (bun run workers/main.ts) and the proxy (bun run src/server.ts) together.
# Ctrl-C or SIGTERM sends SIGTERM to both so they drain (a second Ctrl-C kills them), then stops the Redis and
# ClickHouse that this script started (AROUTER_KEEP_SERVICES=1 leaves them running).
# Without AROUTER_ADMIN_TOKEN, a token is generated once into .arouter/admin-token.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "start: $*" >&2 || true; }
die() { echo "start: error: $*" >&2 || true; exit 1; }

trap 'exit 130' INT
trap 'exit 143' TERM
# Output piped into another program (npm start | tee log) must not kill the script when that program ends
# first, e.g. on Ctrl-C: the script would then leave the processes and services it started behind.
trap '' PIPE

bash scripts/bootstrap.sh
export PATH="$ROOT/node_modules/.bin:$PATH"

STATE="$ROOT/.arouter"
mkdir -p "$STATE"

for f in src/server.ts workers/main.ts; do
  [ -f "$f" ] || die "$f does not exist yet"
done

export PORT="${PORT:-8080}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export CLICKHOUSE_URL="${CLICKHOUSE_URL:-http://127.0.0.1:8123}"
export AROUTER_OUTBOX_DIR="${AROUTER_OUTBOX_DIR:-$STATE/outbox}"
mkdir -p "$AROUTER_OUTBOX_DIR"
DRAIN_MS="${AROUTER_DRAIN_TIMEOUT_MS:-30000}"
# The worker takes up to AROUTER_WORKER_SHUTDOWN_MS for its last insert; both size the kill watchdog at stop time,
# so they are checked now, as the processes will (digits only), rather than fail the arithmetic then.
WORKER_SHUTDOWN_MS="${AROUTER_WORKER_SHUTDOWN_MS:-25000}"
[[ "$DRAIN_MS" =~ ^[0-9]+$ ]] || die "AROUTER_DRAIN_TIMEOUT_MS must be a whole number of milliseconds"
[[ "$WORKER_SHUTDOWN_MS" =~ ^[0-9]+$ ]] || die "AROUTER_WORKER_SHUTDOWN_MS must be a whole number of milliseconds"

# loopback_port <url> <default port>: the port of a URL whose host is this machine; nothing for another host.
loopback_port() {
  if [[ "$1" =~ ^[a-z]+://([^@/]*@)?(127\.0\.0\.1|localhost|\[::1\])(:([0-9]+))?(/.*)?$ ]]; then
    echo "${BASH_REMATCH[4]:-$2}"
  fi
}

# --- Redis and ClickHouse -------------------------------------------------------------------------------
redis_port="$(loopback_port "$REDIS_URL" 6379)"
ch_port="$(loopback_port "$CLICKHOUSE_URL" 8123)"
svc() {
  AROUTER_REDIS_PORT="${redis_port:-6379}" AROUTER_CH_HTTP_PORT="${ch_port:-8123}" \
    AROUTER_SERVICES_DIR="$STATE/services" bash scripts/services.sh "$@"
}
started_services=()
stop_services() {
  local s
  [ "${AROUTER_KEEP_SERVICES:-0}" = 1 ] && { [ "${#started_services[@]}" -gt 0 ] && log "leaving ${started_services[*]} running"; return 0; }
  for s in "${started_services[@]}"; do log "stopping $s"; svc stop "$s" || true; done
  started_services=()
}
trap stop_services EXIT
# Held for the whole run: only a run that holds it takes over servers an earlier run left (a second run from this
# checkout, on another PORT, must not stop the first one's servers when it ends).
exec 8>>"$STATE/start.lock"
owner=0; flock -n 8 && owner=1
for s in redis clickhouse; do
  port="$redis_port"; url="$REDIS_URL"
  [ "$s" = clickhouse ] && { port="$ch_port"; url="$CLICKHOUSE_URL"; }
  if [ -z "$port" ]; then
    # Scheme, host and port only: user:password@ and the query may hold credentials.
    shown="${url%%\?*}"; case "$shown" in *@*) shown="${shown%%://*}://${shown##*@}" ;; esac
    log "$s: using $shown (not this machine, not started here)"
  elif svc ping "$s"; then
    if [ "$owner" = 1 ] && svc mine "$s"; then
      # Left by an earlier run of this script (it crashed, or AROUTER_KEEP_SERVICES=1): this run stops it as its own.
      log "$s: reusing the server an earlier run started on port $port (stopped with this run)"
      started_services+=("$s")
    else
      log "$s: reusing the server already on port $port"
    fi
  else
    started_services+=("$s")
    svc start "$s"
  fi
done

# --- Admin token ----------------------------------------------------------------------------------------
token_file="$STATE/admin-token"
if [ -n "${AROUTER_ADMIN_TOKEN:-}" ]; then
  token_ref='$AROUTER_ADMIN_TOKEN'
else
  if [ ! -s "$token_file" ]; then
    (umask 077; node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex") + "\n")' >"$token_file")
    echo
    echo "arouter: generated an admin token, shown this once (it stays in $token_file):"
    echo "  $(cat "$token_file")"
    echo
  fi
  AROUTER_ADMIN_TOKEN="$(cat "$token_file")"
  export AROUTER_ADMIN_TOKEN
  token_ref="\$(cat $token_file)"
fi

banner() {
  local base="http://localhost:$PORT"
  echo
  echo "arouter: proxy on $base, worker running (Ctrl-C stops both)"
  echo "arouter: create an API key with:"
  echo "  curl -s -X POST $base/admin/keys -H \"Authorization: Bearer $token_ref\" \\"
  echo "       -H 'content-type: application/json' -d '{\"account\":\"acme\",\"name\":\"dev\"}'"
  echo "arouter: then point an SDK at $base/<provider>, e.g. OpenAI baseURL $base/openai/v1"
  echo
}

# --- Worker and proxy -----------------------------------------------------------------------------------
pids=()
names=()
# run <name> <command...>: start in the background, each output line prefixed with [name].
run() {
  local name="$1"; shift
  [ "${stopping:-0}" = 1 ] && return 0 # stopped before this one started
  # The prefixer ignores Ctrl-C so that it still passes on what the process logs while it drains.
  "$@" > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!"); names+=("$name")
}
# Bun's allocator hands freed pages back to the OS within ~100 ms and faults them in again on the next burst: at a
# steady load that churn cost the proxy about a fifth of its CPU and the worker about two thirds (bench/README.md).
# -1 keeps them for reuse, so RSS stays at its high-water mark.
export MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:--1}"
# Set before the children start: a signal in between must stop them too, not only the services.
stopping=0
signal_children() { local p; for p in "${pids[@]}"; do kill "-$1" "$p" 2>/dev/null || true; done; }
on_signal() {
  if [ "$stopping" = 1 ]; then
    log "second signal: killing the worker and the proxy"
    signal_children KILL
    return
  fi
  stopping=1
  log "stopping: SIGTERM to the worker and the proxy (drain up to ${DRAIN_MS} ms; Ctrl-C again to kill)"
  signal_children TERM
}
# A closed terminal (HUP) drains like Ctrl-C rather than killing both processes outright.
trap on_signal INT TERM HUP
run worker bun run workers/main.ts
# Bun's fetch runs at most 256 requests at once unless told otherwise at process start (streams would queue).
run proxy env BUN_CONFIG_MAX_HTTP_REQUESTS="${BUN_CONFIG_MAX_HTTP_REQUESTS:-65535}" bun run src/server.ts
# A signal before either started: nothing to drain (the EXIT trap stops the services). After one started, the
# wait below drains it first.
[ "${#pids[@]}" -gt 0 ] || exit 143
log "started: ${names[*]} (pids ${pids[*]})"

# Print the banner once the proxy answers /healthz (or after 60 s without an answer).
(
  for _ in $(seq 1 300); do
    if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then banner; exit 0; fi
    sleep 0.2
  done
  log "the proxy has not answered http://127.0.0.1:$PORT/healthz after 60s"
  banner
) &
banner_pid=$!


# Wait until either process exits (or a signal arrives).
first_rc=0
# wait -n does not see a child that exited (and was reaped) before it is called: look first.
all_running() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done; }
if all_running; then wait -n "${pids[@]}" || first_rc=$?; fi
kill "$banner_pid" 2>/dev/null || true
status=0
if [ "$stopping" = 0 ]; then
  # Not a stop request: one of the two exited by itself, which is a failure of the whole run.
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then log "${names[$i]} exited (status $first_rc); stopping the rest"; fi
  done
  status=$first_rc; [ "$status" = 0 ] && status=1
  stopping=1
  signal_children TERM
fi

# Reap both, killing whatever is still running well after the longer of the two shutdown deadlines.
drain=$((10#$DRAIN_MS)) worker_shutdown=$((10#$WORKER_SHUTDOWN_MS))
grace=$(( (drain > worker_shutdown ? drain : worker_shutdown) / 1000 + 15 ))
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$grace" & sleeper=$!
  wait "$sleeper"
  echo "start: still running ${grace}s after SIGTERM, killing" >&2
  signal_children KILL
) &
killer=$!
for i in "${!pids[@]}"; do
  pid="${pids[$i]}"
  # Waited for at least once, so the status of a child that already exited is read too (bash keeps it); wait
  # returns early (over 128) when a signal arrives, and a child that is still there is waited for again.
  rc=0; wait "$pid" 2>/dev/null || rc=$?
  while [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do rc=0; wait "$pid" 2>/dev/null || rc=$?; done
  if [ "$rc" != 0 ] && [ "$rc" != 127 ]; then
    log "${names[$i]} exited with status $rc"
    # 143 (SIGTERM), 130 (SIGINT) and 129 (SIGHUP, a closed terminal's, sent to the group) count as a clean stop.
    if ! { [ "$rc" = 143 ] || [ "$rc" = 130 ] || [ "$rc" = 129 ]; } && [ "$status" = 0 ]; then status=$rc; fi
  fi
done
kill "$killer" 2>/dev/null || true
wait "$killer" 2>/dev/null || true
stop_services
log "stopped"
exit "$status"
