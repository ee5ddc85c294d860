#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the whole test suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

echo "test: building and running the tests (a first build takes a few minutes)"
swift build --build-tests
swift test 2>&1 | tee .build/test-output.txt
# `swift test` exits non-zero on failure; pipefail carries it through tee.
