#!/usr/bin/env bash
# Installs those of the given Debian packages that are not installed yet (apt-get, through sudo
# when not root), saying which; the one place install-deps.sh and install-engines.sh do this.
#   scripts/apt-install-missing.sh [--say-present] LABEL PACKAGE...
# LABEL prefixes its lines; --say-present prints "LABEL: system packages present" when none is missing.
set -euo pipefail
say_present=false
if [ "${1:-}" = "--say-present" ]; then say_present=true; shift; fi
label=$1
shift
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "$label: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif $say_present; then
    echo "$label: system packages present"
fi
