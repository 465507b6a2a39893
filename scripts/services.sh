#!/usr/bin/env bash
# Installs (when missing) and starts a local Redis and ClickHouse on loopback, data in a temp folder.
# Usage: scripts/services.sh start|stop|env   (ports from AROUTER_REDIS_PORT / AROUTER_CH_HTTP_PORT)
set -euo pipefail

REDIS_PORT="${AROUTER_REDIS_PORT:-6379}"
CH_HTTP_PORT="${AROUTER_CH_HTTP_PORT:-8123}"
CH_TCP_PORT="${AROUTER_CH_TCP_PORT:-$((CH_HTTP_PORT + 877))}"
STATE_DIR="${AROUTER_SERVICES_DIR:-${TMPDIR:-/tmp}/arouter-services-$REDIS_PORT}"

need_apt() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  { command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; } || missing+=(clickhouse-server)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "services: installing ${missing[*]} from Debian's packages" >&2
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}

ch_bin() { command -v clickhouse-server 2>/dev/null || echo /usr/sbin/clickhouse-server; }

wait_for() { # wait_for <what> <seconds> <command...>: poll until command succeeds
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "services: $what did not come up in ${secs}s" >&2; return 1; fi
    sleep 0.2
  done
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return 0; fi
  mkdir -p "$STATE_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE_DIR/redis" \
    --appendonly yes --appendfsync everysec --save "" --daemonize yes \
    --pidfile "$STATE_DIR/redis.pid" --logfile "$STATE_DIR/redis.log" >&2
  wait_for redis 20 redis-cli -p "$REDIS_PORT" ping
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

ch_ping() { curl -fsS "http://127.0.0.1:$CH_HTTP_PORT/ping"; }

start_clickhouse() {
  if ch_ping >/dev/null 2>&1; then return 0; fi
  write_ch_config
  ( cd "$STATE_DIR/clickhouse" && nohup "$(ch_bin)" --config-file="$STATE_DIR/clickhouse/config.xml" \
      --pid-file="$STATE_DIR/clickhouse.pid" >"$STATE_DIR/clickhouse/log/stdout.log" 2>&1 & )
  wait_for clickhouse 60 ch_ping
}

stop_pid() { [ -f "$1" ] && kill "$(cat "$1")" 2>/dev/null || true; rm -f "$1"; }

case "${1:-start}" in
  start)
    need_apt
    mkdir -p "$STATE_DIR"
    start_redis
    start_clickhouse
    echo "services: redis on 127.0.0.1:$REDIS_PORT, clickhouse on 127.0.0.1:$CH_HTTP_PORT (data in $STATE_DIR)" >&2
    ;;
  stop)
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || stop_pid "$STATE_DIR/redis.pid"
    stop_pid "$STATE_DIR/clickhouse.pid"
    ;;
  env)
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    echo "CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT"
    ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
