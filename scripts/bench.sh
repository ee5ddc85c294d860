#!/usr/bin/env bash
# Builds the benchmark in release mode and runs it; arguments go to delivery-bench.
#   scripts/bench.sh                       # maximum throughput
#   scripts/bench.sh --rate 1000 --seconds 10
#   scripts/bench.sh --dead-receiver --events 100000
#   scripts/bench.sh --url http://127.0.0.1:8089/hook   # an external receiver, e.g. nginx (loopback only)
#   scripts/bench.sh --help                             # every option
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
swift build -c release --product delivery-bench >/dev/null
exec .build/release/delivery-bench "$@"
