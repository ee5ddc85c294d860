#!/usr/bin/env bash
# Measures the ffmpeg engine: seconds of processing per minute of source video for 5 clips at
# 1080x1920 (tiktok), and the share of each stage. The source is fixtures/sample.mp4 looped to
# LOOPS x 40 s (default 3, about 2 minutes) with its subtitles shifted to match. Stage times come
# from the timestamps of the job's own webhooks (throttle off), received by `clipping-worker receive`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
loops=${LOOPS:-3}
./scripts/install-deps.sh >/dev/null
if ! swift build -c release --product clipping-worker > /tmp/engine-bench-build.log 2>&1; then
    cat /tmp/engine-bench-build.log
    exit 1
fi
bin="$(swift build -c release --show-bin-path)/clipping-worker"
work=$(mktemp -d "${TMPDIR:-/tmp}/engine-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

ffmpeg -v error -stream_loop $((loops - 1)) -i fixtures/sample.mp4 -c copy "$work/long.mp4"
python3 - "$work" "$loops" <<'PY'
import re, subprocess, sys
work, loops = sys.argv[1], int(sys.argv[2])
period = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                               "fixtures/sample.mp4"], capture_output=True, text=True).stdout)
cues = re.findall(r"(\d+:\d+:\d+,\d+) --> (\d+:\d+:\d+,\d+)\n(.+?)\n", open("fixtures/sample.srt").read())
def ms(s):
    h, m, rest = s.split(":"); sec, milli = rest.split(",")
    return ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1000 + int(milli)
def stamp(v):
    return f"{v // 3600000:02d}:{v // 60000 % 60:02d}:{v // 1000 % 60:02d},{v % 1000:03d}"
with open(f"{work}/long.srt", "w") as out:
    n = 1
    for loop in range(loops):
        for start, end, text in cues:
            shift = int(loop * period * 1000)
            out.write(f"{n}\n{stamp(ms(start) + shift)} --> {stamp(ms(end) + shift)}\n{text}\n\n")
            n += 1
PY
port=18180; receiver=18190
"$bin" receive --port $receiver --json > "$work/received.txt" 2>&1 & pids+=($!)
CLIPPING_WORKER_ALLOWED_NETWORKS=127.0.0.0/8 CLIPPING_WORKER_LOCAL_MEDIA_DIR="$work" CLIPPING_WORKER_ENGINE=ffmpeg \
WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS=0 "$bin" serve --port $port --data-dir "$work/data" > "$work/serve.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do grep -q "http.port=" "$work/serve.log" && break; sleep 0.1; done
job=$("$bin" submit --server "http://127.0.0.1:$port" --video-url "file://$work/long.mp4" \
    --callback-url "http://127.0.0.1:$receiver/hook" --max-clips 5 --target-platform tiktok \
    --min-clip-duration-seconds 15 --max-clip-duration-seconds 30)
for _ in $(seq 1 1200); do grep -q '"job.completed"\|"job.failed"' "$work/received.txt" && break; sleep 0.25; done
python3 - "$work/received.txt" <<'PY'
import json, sys
from datetime import datetime
events = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        events.append(json.loads(line))
def t(e): return datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
first = {}
for e in events:
    first.setdefault(e["status"], t(e))
end = [e for e in events if e["event"] in ("job.completed", "job.failed")][-1]
if end["event"] != "job.completed":
    sys.exit(f"job failed: {end.get('error')}")
out = end["output"]
total = t(end) - t(events[0])
minutes = out["source_video_duration_seconds"] / 60
order = ["downloading", "transcribing", "planning", "detecting", "rendering", "uploading"]
marks = [first[s] for s in order if s in first] + [t(end)]
shares = {s: marks[i + 1] - marks[i] for i, s in enumerate([s for s in order if s in first])}
print(f"source {out['source_video_duration_seconds']:.1f} s, {out['total_clips']} clips at 1080x1920, processed in {total:.1f} s")
print(f"RESULT seconds_per_source_minute={total / minutes:.1f} " + " ".join(f"{k}_pct={100 * v / total:.0f}" for k, v in shares.items()))
PY
