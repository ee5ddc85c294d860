#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a free loopback
# port, trust authentication for 127.0.0.1 only, its socket inside the directory. Nothing of the
# machine's own PostgreSQL setup is used or changed.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # prints `export CLIPPING_WORKER_TEST_DATABASE_URL=...`
#                                                # and `export CLIPPING_WORKER_TEST_PG_DIR=...`
#   swift test
#   scripts/pg-test-cluster.sh stop "$CLIPPING_WORKER_TEST_PG_DIR"
#
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user (created by
# Debian's package) through runuser; as anyone else it runs as that user. Needs the server
# binaries (scripts/install-deps.sh installs Debian's `postgresql`).
set -euo pipefail

usage() {
    echo "usage: $0 start | stop DIR | restart DIR [SECONDS_DOWN]" >&2
    exit 64
}

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then
            bin_dir=$dir
        fi
    done
    if [ -z "${bin_dir:-}" ] && command -v initdb >/dev/null; then
        bin_dir=$(dirname "$(command -v initdb)")
    fi
    [ -n "${bin_dir:-}" ] || { echo "pg-test-cluster: initdb not found (run scripts/install-deps.sh)" >&2; exit 1; }
}

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    find_bin
    local dir port db="clipping_worker_test"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/clipping-worker-pg.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "pg-test-cluster: no postgres user (install Debian's postgresql)" >&2; exit 1; }
        chown postgres: "$dir"
    fi
    as_owner "$bin_dir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    # Only 127.0.0.1, trusted: the cluster lives as long as the test run and holds test data only.
    as_owner sh -c "printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' > '$dir/data/pg_hba.conf'"
    # A port that was free a moment ago can be taken before the server binds it: try a few.
    local tries=0
    while true; do
        port=$(free_port)
        if as_owner "$bin_dir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            echo "pg-test-cluster: the server did not start:" >&2
            cat "$dir/server.log" >&2 || true
            rm -rf "$dir"
            exit 1
        fi
    done
    echo "$port" >"$dir/port"
    if ! as_owner "$bin_dir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $db" >/dev/null; then
        # Nothing is handed back, so nothing would stop it: stop it here.
        stop "$dir"
        exit 1
    fi
    echo "export CLIPPING_WORKER_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:$port/$db?sslmode=disable'"
    echo "export CLIPPING_WORKER_TEST_PG_DIR='$dir'"
}

stop() {
    local dir=${1:-}
    [ -n "$dir" ] || usage
    # Only a directory this script made: it holds data/ and the port file.
    case "$dir" in
        */clipping-worker-pg.*) ;;
        *) echo "pg-test-cluster: $dir is not a test cluster directory" >&2; exit 1 ;;
    esac
    [ -d "$dir" ] || return 0
    find_bin
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin_dir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

# Stops the server (fast: connections are cut), waits SECONDS, starts it again on its port: a
# database that goes away under running workers and comes back.
restart() {
    local dir=${1:-} down=${2:-2}
    [ -n "$dir" ] || usage
    case "$dir" in
        */clipping-worker-pg.*) ;;
        *) echo "pg-test-cluster: $dir is not a test cluster directory" >&2; exit 1 ;;
    esac
    find_bin
    local port
    port=$(cat "$dir/port")
    as_owner "$bin_dir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    sleep "$down"
    as_owner "$bin_dir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    restart) restart "${2:-}" "${3:-}" ;;
    *) usage ;;
esac
