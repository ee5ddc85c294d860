#!/usr/bin/env bash
# Builds the benchmark in release mode and runs it; arguments go to delivery-bench.
#   scripts/bench.sh                       # maximum throughput
#   scripts/bench.sh --rate 1000 --seconds 10
#   scripts/bench.sh --dead-receiver --events 100000
#   scripts/bench.sh --url http://127.0.0.1:8089/hook   # an external receiver, e.g. nginx (loopback only)
#   scripts/bench.sh --store postgres --workers 2       # the shared store; a throwaway cluster
#                                                       # is started (and removed) unless
#                                                       # --database-url or CLIPPING_WORKER_DATABASE_URL
#   scripts/bench.sh --help                             # every option
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
swift build -c release --product delivery-bench >/dev/null

wants_postgres=false
has_url=false
previous=""
for argument in "$@"; do
    [ "$previous" = "--store" ] && [ "$argument" = "postgres" ] && wants_postgres=true
    [ "$argument" = "--database-url" ] && has_url=true
    previous=$argument
done
if $wants_postgres && ! $has_url && [ -z "${CLIPPING_WORKER_DATABASE_URL:-}" ]; then
    eval "$(scripts/pg-test-cluster.sh start)"
    trap 'scripts/pg-test-cluster.sh stop "$CLIPPING_WORKER_TEST_PG_DIR"' EXIT
    trap 'exit 130' INT TERM
    export CLIPPING_WORKER_DATABASE_URL=$CLIPPING_WORKER_TEST_DATABASE_URL
    .build/release/delivery-bench "$@"
else
    exec .build/release/delivery-bench "$@"
fi
