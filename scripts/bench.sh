#!/usr/bin/env bash
# Builds the benchmark in release mode and runs it; arguments go to delivery-bench.
#   scripts/bench.sh                       # maximum throughput
#   scripts/bench.sh --rate 1000 --seconds 10
#   scripts/bench.sh --dead-receiver --events 100000
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
swift build -c release --product delivery-bench >/dev/null
exec .build/release/delivery-bench "$@"
