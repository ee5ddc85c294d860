#!/usr/bin/env bash
# Measures the ffmpeg engine as a submitter sees it, with the built-in speech-to-text and face
# framing at work: JOBS jobs (default 2) started at once on one worker, each cutting 5 clips of
# 15-30 s at 1080x1920 (tiktok) from a source of LOOPS x 40.4 s (default 8: 5.4 minutes) made
# by looping fixtures/sample.mp4 (no sidecar file beside it, so `auto` picks the speech-to-text).
# Prints, per job and stage, seconds of wall time per minute of source (from the timestamps of
# the job's own webhooks, throttle off, received by `clipping-worker receive`), and the CPU
# seconds the worker and its ffmpeg/helper children used per minute of source.
#   scripts/engine-bench.sh            (CONFIG=debug to skip the release build; SCRATCH_PATH for
#                                       SwiftPM's build directory)
set -euo pipefail
cd "$(dirname "$0")/.."
loops=${LOOPS:-8}
jobs=${JOBS:-2}
config=${CONFIG:-release}
scratch=(); [ -n "${SCRATCH_PATH:-}" ] && scratch=(--scratch-path "$SCRATCH_PATH")
./scripts/install-deps.sh >/dev/null
if ! swift build -c "$config" "${scratch[@]}" --product clipping-worker > /tmp/engine-bench-build.log 2>&1; then
    cat /tmp/engine-bench-build.log
    exit 1
fi
bin="$(swift build -c "$config" "${scratch[@]}" --show-bin-path)/clipping-worker"
work=$(mktemp -d "${TMPDIR:-/tmp}/engine-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

ffmpeg -v error -stream_loop $((loops - 1)) -i fixtures/sample.mp4 -c copy "$work/long.mp4"
port=18180; receiver=18190
"$bin" receive --port $receiver --json > "$work/received.txt" 2>&1 & pids+=($!)
CLIPPING_WORKER_ALLOWED_NETWORKS=127.0.0.0/8 CLIPPING_WORKER_LOCAL_MEDIA_DIR="$work" CLIPPING_WORKER_ENGINE=ffmpeg \
CLIPPING_WORKER_MAX_CONCURRENT_JOBS="$jobs" WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS=0 \
    "$bin" serve --port $port --data-dir "$work/data" > "$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
for _ in $(seq 1 100); do grep -q "http.port=" "$work/serve.log" && break; sleep 0.1; done
grep -o "transcript_sources=[^ ]*\|framing=[^ ]*" "$work/serve.log" | head -2 | tr '\n' ' '; echo
# utime stime cutime cstime of the worker: its own CPU and that of the children it waited for.
cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$serve/stat"; }
before=$(cpu)
for n in $(seq 1 "$jobs"); do
    "$bin" submit --server "http://127.0.0.1:$port" --video-url "file://$work/long.mp4" \
        --callback-url "http://127.0.0.1:$receiver/hook" --max-clips 5 --target-platform tiktok \
        --min-clip-duration-seconds 15 --max-clip-duration-seconds 30 --external-job-id "bench-$n" > /dev/null
done
for _ in $(seq 1 2400); do
    [ "$(grep -c '"job.completed"\|"job.failed"' "$work/received.txt")" -ge "$jobs" ] && break
    sleep 0.25
done
after=$(cpu)
python3 - "$work/received.txt" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
from collections import defaultdict
from datetime import datetime
received, before, after, tick = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
events = defaultdict(list)
for line in open(received):
    line = line.strip()
    if line.startswith("{"):
        event = json.loads(line)
        events[event["job_id"]].append(event)
def t(e): return datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
order = ["downloading", "transcribing", "planning", "detecting", "rendering", "uploading"]
minutes = None
walls = []
for job, evs in sorted(events.items(), key=lambda kv: min(t(e) for e in kv[1])):
    evs.sort(key=t)
    end = [e for e in evs if e["event"] in ("job.completed", "job.failed")][-1]
    if end["event"] != "job.completed":
        sys.exit(f"job {job} failed: {end.get('error')}")
    out = end["output"]
    minutes = out["source_video_duration_seconds"] / 60
    first = {}
    for e in evs:
        first.setdefault(e["status"], t(e))
    stages = [s for s in order if s in first]
    marks = [first[s] for s in stages] + [t(end)]
    total = t(end) - t(evs[0])
    walls.append(total / minutes)
    per = " ".join(f"{s}={(marks[i + 1] - marks[i]) / minutes:.2f}" for i, s in enumerate(stages))
    print(f"job {end['external_job_id']}: {out['total_clips']} clips at 1080x1920 from {out['source_video_duration_seconds']:.1f} s "
          f"in {total:.1f} s; s per source minute: {per}")
cpu = (after - before) / tick
print(f"RESULT jobs={len(walls)} source_minutes={minutes:.2f} wall_s_per_source_minute_per_job="
      + ",".join(f"{w:.1f}" for w in walls)
      + f" cpu_s_per_source_minute_per_job={cpu / minutes / len(walls):.1f} cpu_s_total={cpu:.1f}")
PY
