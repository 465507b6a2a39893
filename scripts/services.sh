#!/usr/bin/env bash
# Installs (when missing) and starts a local Redis and ClickHouse on loopback, data in a temp folder.
#
# Usage: scripts/services.sh install                     install redis-server, clickhouse-server and curl from Debian's packages if missing
#        scripts/services.sh start [redis|clickhouse]    start both (or one); a service already answering on its port is reused
#        scripts/services.sh stop  [redis|clickhouse]    stop both (or one) and wait until they have exited
#        scripts/services.sh ping  [redis|clickhouse]    exit 0 when both (or the one named) answer
#        scripts/services.sh mine  [redis|clickhouse]    exit 0 when the server on the port was started with this services folder
#        scripts/services.sh env                         print REDIS_URL= and CLICKHOUSE_URL= lines
#
# Ports from AROUTER_REDIS_PORT (6379) / AROUTER_CH_HTTP_PORT (8123) / AROUTER_CH_TCP_PORT (HTTP port + 877);
# data and logs in AROUTER_SERVICES_DIR (default: $TMPDIR/arouter-services-<redis port>).
set -euo pipefail

REDIS_PORT="${AROUTER_REDIS_PORT:-6379}"
CH_HTTP_PORT="${AROUTER_CH_HTTP_PORT:-8123}"
CH_TCP_PORT="${AROUTER_CH_TCP_PORT:-$((CH_HTTP_PORT + 877))}"
STATE_DIR="${AROUTER_SERVICES_DIR:-${TMPDIR:-/tmp}/arouter-services-$REDIS_PORT}"
# How the ClickHouse started here is told apart from any other: the config path on its command line.
CH_MINE="--config-file=$STATE_DIR/clickhouse/config.xml"

need_apt() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  { command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; } || missing+=(clickhouse-server)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # stop finds the servers it started with ps; a minimal image has none, and stop would then leave them running.
  command -v ps >/dev/null 2>&1 || missing+=(procps)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "services: installing ${missing[*]} from Debian's packages" >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || { echo "services: installing ${missing[*]} needs root or sudo; install them, or run this as root" >&2; return 1; }
      sudo="sudo"
    fi
    $sudo apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

ch_bin() { command -v clickhouse-server 2>/dev/null || echo /usr/sbin/clickhouse-server; }

wait_for() { # wait_for <what> <seconds> <command...>: poll until command succeeds
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "services: $what did not come up in ${secs}s (logs in $STATE_DIR)" >&2; return 1; fi
    sleep 0.2
  done
}

# Every probe is bounded: a frozen server, or a port that accepts and never answers, must not hang a start or a stop.
redis_ping() { [ "$(timeout 5 redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_redis() {
  if redis_ping; then return 0; fi
  mkdir -p "$STATE_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE_DIR/redis" \
    --appendonly yes --appendfsync everysec --save "" --daemonize yes \
    --pidfile "$STATE_DIR/redis.pid" --logfile "$STATE_DIR/redis.log" >&2
  wait_for redis 20 redis_ping
}

write_ch_config() {
  local d="$STATE_DIR/clickhouse"
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/log"
  cat >"$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/log/server.log</log><errorlog>$d/log/error.log</errorlog><size>100M</size><count>2</count></logger>
  <http_port>$CH_HTTP_PORT</http_port>
  <tcp_port>$CH_TCP_PORT</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>4096</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat >"$d/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

ch_ping() { curl -fsS --max-time 3 "http://127.0.0.1:$CH_HTTP_PORT/ping" >/dev/null 2>&1; }

start_clickhouse() {
  if ch_ping; then return 0; fi
  write_ch_config
  # Debian's ClickHouse allocates with the system jemalloc, which hands freed pages back to the kernel within
  # seconds and keeps an arena per CPU; each insert then page-faults its column buffers in afresh. Keeping freed
  # pages in one arena cut the server's CPU per inserted row to a quarter in an insert loop and to half behind arouter
  # at max rate (bench/README.md), for an RSS that stays at its high-water mark. A MALLOC_CONF already set wins.
  local malloc_conf="${MALLOC_CONF:-dirty_decay_ms:-1,muzzy_decay_ms:-1,narenas:1}"
  # The server does not write a --pid-file when it runs in the foreground, so the pid is recorded here. Its own
  # session keeps a Ctrl-C at the terminal from stopping it before the worker's last insert (Redis daemonizes for the
  # same reason); whoever started it stops it. setsid does not fork here (no job control), so $! stays its pid.
  ( cd "$STATE_DIR/clickhouse" && export MALLOC_CONF="$malloc_conf" && exec setsid nohup "$(ch_bin)" "$CH_MINE" \
      >"$STATE_DIR/clickhouse/log/stdout.log" 2>&1 ) &
  local pid=$!
  echo "$pid" >"$STATE_DIR/clickhouse.pid"
  local deadline=$((SECONDS + 60))
  until ch_ping; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "services: clickhouse exited at start (port $CH_HTTP_PORT or $CH_TCP_PORT taken?):" >&2
      tail -n 5 "$STATE_DIR/clickhouse/log/error.log" >&2 2>/dev/null || true
      rm -f "$STATE_DIR/clickhouse.pid"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "services: clickhouse did not come up in 60s (logs in $STATE_DIR/clickhouse/log)" >&2; return 1; fi
    sleep 0.2
  done
}

# ours <pidfile> <text>: the pid file names a live process whose command line contains <text>, taken literally (a pid
# left by a server that died may since belong to anything else).
ours() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  # -ww: an exported COLUMNS would otherwise cut the command line before the path it is matched on.
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF -- "$2"
}

# The pid of a process whose command line contains <text>, taken literally.
find_pid() {
  ps -ww -eo pid=,args= 2>/dev/null | grep -F -- "$1" | grep -v -e ' grep ' | awk 'NR == 1 { print $1 }'
}

# stop_pid <pidfile> <name> <command>: SIGTERM the process if it is still ours, wait up to 30 s for it to exit, then
# SIGKILL.
stop_pid() {
  local file="$1" name="$2" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  if ours "$file" "$3"; then
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "services: $name (pid $pid) still running after 30s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -f "$file"
}

# mine_<name>: the server answering on the port was started with this services folder (a run that crashed, or one
# told to keep it): whoever reuses it may stop it too. A Redis is known by the pid file it was told to write, a
# ClickHouse by its own config path.
mine_redis() { [ "$(timeout 5 redis-cli -p "$REDIS_PORT" config get pidfile 2>/dev/null | sed -n 2p)" = "$STATE_DIR/redis.pid" ]; }
mine_clickhouse() { find_pid "$CH_MINE" | grep -q .; }

stop_redis() {
  # Only a Redis this script started: another one that answered on the port at start was used, not owned.
  if mine_redis; then
    timeout 5 redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  stop_pid "$STATE_DIR/redis.pid" redis redis-server
}

stop_clickhouse() {
  # A server started by an older version of this script has no pid file, and a pid file may be stale: the server is
  # then found by its own config path.
  if ! ours "$STATE_DIR/clickhouse.pid" "$CH_MINE"; then
    local pid
    pid="$(find_pid "$CH_MINE" || true)"
    if [ -n "$pid" ]; then echo "$pid" >"$STATE_DIR/clickhouse.pid"; else rm -f "$STATE_DIR/clickhouse.pid"; fi
  fi
  stop_pid "$STATE_DIR/clickhouse.pid" clickhouse "$CH_MINE"
}

which_services() { # which_services [redis|clickhouse]: the names to act on
  case "${1:-all}" in
    all) echo "redis clickhouse" ;;
    redis|clickhouse) echo "$1" ;;
    *) echo "services: unknown service '$1' (expected redis or clickhouse)" >&2; exit 2 ;;
  esac
}

cmd="${1:-start}"
# Checked here: an exit inside $(which_services ...) would end only that substitution, and the command would go on.
case "${2:-all}" in all|redis|clickhouse) ;; *) which_services "$2" >/dev/null ;; esac
case "$cmd" in
  install)
    need_apt
    ;;
  start)
    need_apt
    mkdir -p "$STATE_DIR"
    for s in $(which_services "${2:-all}"); do "start_$s"; done
    case "${2:-all}" in
      redis) echo "services: redis on 127.0.0.1:$REDIS_PORT (data in $STATE_DIR)" >&2 ;;
      clickhouse) echo "services: clickhouse on 127.0.0.1:$CH_HTTP_PORT (data in $STATE_DIR)" >&2 ;;
      *) echo "services: redis on 127.0.0.1:$REDIS_PORT, clickhouse on 127.0.0.1:$CH_HTTP_PORT (data in $STATE_DIR)" >&2 ;;
    esac
    ;;
  stop)
    for s in $(which_services "${2:-all}"); do "stop_$s"; done
    ;;
  mine)
    for s in $(which_services "${2:-all}"); do "mine_$s" || exit 1; done
    ;;
  ping)
    for s in $(which_services "${2:-all}"); do
      case "$s" in redis) redis_ping ;; clickhouse) ch_ping ;; esac || exit 1
    done
    ;;
  env)
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    echo "CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT"
    ;;
  *) echo "usage: $0 install|start|stop|ping|mine|env [redis|clickhouse]" >&2; exit 2 ;;
esac
