#!/usr/bin/env bash
# Installs the system packages clipping-worker builds, runs and tests with (Debian/Ubuntu):
# libcurl and SQLite to build, ffmpeg for the real clipping engine, the PostgreSQL server for the
# tests of the shared store (scripts/pg-test-cluster.sh starts a throwaway cluster of it), and
# the ffmpeg engine's optional helpers (scripts/install-engines.sh: speech-to-text and face
# detection, beside the worker; building never needs them).
# Skips what is already there; safe to run again.
set -euo pipefail

packages=(libcurl4-openssl-dev pkg-config libsqlite3-dev ffmpeg)
# Headless Chromium and its WebDriver, for the operations page's browser tests (issue #12).
packages+=(chromium chromium-driver)
# Any installed server version will do (Debian 12 ships 15): only look for its initdb.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    packages+=(postgresql)
fi

"$(dirname "$0")/apt-install-missing.sh" --say-present install-deps "${packages[@]}"

# moto's S3-compatible server, for the S3 storage tests (PyPI).
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
    echo "install-deps: installing moto[server] from PyPI"
    python3 -m pip install --quiet "moto[server]"
fi

# selenium drives chromium-driver in the browser tests (Tests/Browser/ops_page_test.py).
if ! python3 -c "import selenium" >/dev/null 2>&1; then
    echo "install-deps: installing selenium from PyPI"
    python3 -m pip install --quiet selenium
fi

# The engine helpers: a venv of hash-pinned wheels from PyPI and Debian's OpenCV (issue #13).
"$(dirname "$0")/install-engines.sh"

command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (needs Swift 6.x)" >&2; exit 1; }
