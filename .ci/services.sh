#!/usr/bin/env bash
# Throwaway Redis and PostgreSQL servers for the test suite, on free loopback ports.
#
#   bash .ci/services.sh start   install (apt, only if missing) and start both; write $DIR/env
#   bash .ci/services.sh stop    stop both and remove $DIR
#   bash .ci/services.sh env     print $DIR/env (eval "$(bash .ci/services.sh env)")
#
# DIR is ${IXP_SERVICES_DIR:-/tmp/ixp-services}. $DIR/env exports IXP_TEST_REDIS_URL,
# IXP_TEST_DATABASE_URL and IXP_TEST_{REDIS,PG}_{START,STOP}: shell commands the fault tests run
# to stop and restart one server (they call this script's redis-start/redis-stop/pg-start/pg-stop).
set -euo pipefail

DIR="${IXP_SERVICES_DIR:-/tmp/ixp-services}"
SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
PG_USER=postgres
PG_DB=ixp_test

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

pg_bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$d" && -x "$d/pg_ctl" ]]; then
        echo "$d"
    elif command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
        pg_config --bindir
    fi
}

ensure_installed() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && [[ -n "$(pg_bindir)" ]]; then
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || die "redis-server/postgresql missing and not root: install them (apt-get install redis-server postgresql)"
    log "installing redis-server and postgresql with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends redis-server redis-tools postgresql \
        || die "apt-get install redis-server postgresql failed"
    command -v redis-server >/dev/null || die "redis-server still not on PATH after install"
    [[ -n "$(pg_bindir)" ]] || die "no /usr/lib/postgresql/*/bin/pg_ctl after install"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Run a PostgreSQL binary as the postgres OS user when we are root (postgres refuses to run as root).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        "$@"
    fi
}

load_env() {
    [[ -f "$DIR/env" ]] || die "$DIR/env not found: run 'bash .ci/services.sh start' first"
    # shellcheck disable=SC1091
    source "$DIR/env"
}

redis_up() { redis-cli -h 127.0.0.1 -p "$IXP_TEST_REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
pg_up() { "$IXP_TEST_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$IXP_TEST_PG_PORT" -t 2; }

redis_start() {
    load_env
    if redis_up; then return 0; fi
    redis-server "$DIR/redis.conf" || die "redis-server failed to start, see $DIR/redis.log"
    local i
    for i in $(seq 1 100); do
        if redis_up; then return 0; fi
        sleep 0.05
    done
    tail -n 20 "$DIR/redis.log" >&2 || true
    die "redis did not answer PING on 127.0.0.1:$IXP_TEST_REDIS_PORT within 5 s"
}

# True while $1 runs (a zombie waiting for init to reap it counts as gone).
running() { [[ -r "/proc/$1/stat" ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

redis_stop() {
    load_env
    local pid i
    pid="$(cat "$DIR/redis.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && running "$pid"; then
        kill "$pid"
        for i in $(seq 1 100); do
            running "$pid" || break
            sleep 0.02
        done
        if running "$pid"; then
            log "redis did not exit on SIGTERM within 2 s; killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/redis.pid"
}

pg_start() {
    load_env
    if pg_up; then return 0; fi
    as_pg "$IXP_TEST_PG_BINDIR/pg_ctl" -D "$IXP_TEST_PG_DATA" -l "$DIR/pg/postgres.log" -w -t 30 start >/dev/null \
        || { tail -n 20 "$DIR/pg/postgres.log" >&2 || true; die "pg_ctl start failed (log: $DIR/pg/postgres.log)"; }
}

pg_stop() {
    load_env
    [[ -f "$IXP_TEST_PG_DATA/postmaster.pid" ]] || return 0
    as_pg "$IXP_TEST_PG_BINDIR/pg_ctl" -D "$IXP_TEST_PG_DATA" -m fast -w -t 30 stop >/dev/null \
        || die "pg_ctl stop failed (log: $DIR/pg/postgres.log)"
}

start() {
    if [[ -f "$DIR/env" ]]; then
        load_env
        if redis_up && pg_up; then
            log "already running (redis :$IXP_TEST_REDIS_PORT, postgres :$IXP_TEST_PG_PORT); env in $DIR/env"
            return 0
        fi
        log "stale $DIR found: restarting from scratch"
        stop
    elif [[ -e "$DIR" ]]; then
        rm -rf "$DIR"
    fi
    ensure_installed
    local bindir redis_port pg_port
    bindir="$(pg_bindir)"
    redis_port="$(free_port)"
    pg_port="$(free_port)"
    while [[ "$pg_port" == "$redis_port" ]]; do pg_port="$(free_port)"; done

    mkdir -p "$DIR/redis" "$DIR/pg"
    chmod 755 "$DIR"
    cat >"$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
protected-mode yes
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR/redis
save ""
appendonly no
EOF
    cat >"$DIR/env" <<EOF
export IXP_SERVICES_DIR='$DIR'
export IXP_TEST_REDIS_PORT=$redis_port
export IXP_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0
export IXP_TEST_PG_PORT=$pg_port
export IXP_TEST_PG_BINDIR='$bindir'
export IXP_TEST_PG_DATA='$DIR/pg/data'
export IXP_TEST_DATABASE_URL=postgresql://$PG_USER@127.0.0.1:$pg_port/$PG_DB
export IXP_TEST_REDIS_START="IXP_SERVICES_DIR='$DIR' bash '$SCRIPT' redis-start"
export IXP_TEST_REDIS_STOP="IXP_SERVICES_DIR='$DIR' bash '$SCRIPT' redis-stop"
export IXP_TEST_PG_START="IXP_SERVICES_DIR='$DIR' bash '$SCRIPT' pg-start"
export IXP_TEST_PG_STOP="IXP_SERVICES_DIR='$DIR' bash '$SCRIPT' pg-stop"
EOF
    redis_start

    if [[ "$(id -u)" == 0 ]]; then
        id "$PG_USER" >/dev/null 2>&1 || die "OS user '$PG_USER' missing (it comes with the postgresql package)"
        chown -R "$PG_USER:" "$DIR/pg"
    fi
    as_pg "$bindir/initdb" -D "$DIR/pg/data" -U "$PG_USER" --auth=trust --no-locale -E UTF8 --no-sync >"$DIR/pg/initdb.log" 2>&1 \
        || { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
    cat >>"$DIR/pg/data/postgresql.conf" <<EOF
# ixp throwaway test cluster
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$DIR/pg'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    pg_start
    "$bindir/createdb" -h 127.0.0.1 -p "$pg_port" -U "$PG_USER" "$PG_DB" || die "createdb $PG_DB failed"
    log "redis on 127.0.0.1:$redis_port, postgres on 127.0.0.1:$pg_port (db $PG_DB); env in $DIR/env"
}

stop() {
    if [[ -f "$DIR/env" ]]; then
        load_env
        redis_stop
        if [[ -f "$IXP_TEST_PG_DATA/postmaster.pid" ]]; then
            if ! as_pg "$IXP_TEST_PG_BINDIR/pg_ctl" -D "$IXP_TEST_PG_DATA" -m immediate -w -t 30 stop >/dev/null; then
                log "pg_ctl stop failed; killing the postmaster"
                kill -9 "$(head -n 1 "$IXP_TEST_PG_DATA/postmaster.pid")" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$DIR"
    log "stopped; $DIR removed"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) cat "$DIR/env" 2>/dev/null || die "$DIR/env not found: run 'bash .ci/services.sh start' first" ;;
    redis-start) redis_start ;;
    redis-stop) redis_stop ;;
    pg-start) pg_start ;;
    pg-stop) pg_stop ;;
    *) die "usage: $0 start|stop|env (internal: redis-start|redis-stop|pg-start|pg-stop)" ;;
esac
