#!/usr/bin/env bash
# The whole product in a minute: builds clipping-worker, starts the reference receiver and a
# worker on the embedded defaults (SQLite in a fresh data directory; the ffmpeg engine), submits the sample video
# from fixtures/, and shows the signed webhooks arriving through job.completed. The worker is
# told to transcribe with the built-in speech-to-text (CLIPPING_WORKER_TRANSCRIBER=whisper;
# under `auto` the sample's sidecar .srt would win), and the demo ends with what it heard and
# the plan made from it.
#   scripts/demo.sh            (ports 18080 and 18090; set DEMO_PORT / DEMO_RECEIVER_PORT to change)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh
echo "demo: building clipping-worker (the first build takes a few minutes)"
build_log=$(mktemp)
if ! swift build --product clipping-worker > "$build_log" 2>&1; then
    cat "$build_log"
    exit 1
fi
rm -f "$build_log"
bin="$(swift build --show-bin-path)/clipping-worker"

port=${DEMO_PORT:-18080}
receiver_port=${DEMO_RECEIVER_PORT:-18090}
data=$(mktemp -d "${TMPDIR:-/tmp}/clipping-worker-demo.XXXXXX")
secret="whsec_$(head -c 32 /dev/urandom | base64)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "demo: data directory $data"
"$bin" receive --port "$receiver_port" --secret "$secret" > "$data/receiver.out" 2>&1 &
pids+=($!)
WEBHOOK_SECRET="$secret" \
CLIPPING_WORKER_ALLOWED_NETWORKS="127.0.0.0/8" \
CLIPPING_WORKER_LOCAL_MEDIA_DIR="$root/fixtures" \
WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS="1" \
CLIPPING_WORKER_TRANSCRIBER="whisper" \
    "$bin" serve --port "$port" --data-dir "$data" > "$data/worker.log" 2>&1 &
pids+=($!)

server="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    grep -q "listening" "$data/worker.log" && break
    sleep 0.1
done
grep -q "listening" "$data/worker.log" || { echo "demo: the worker did not start:"; cat "$data/worker.log"; exit 1; }

echo "demo: submitting fixtures/sample.mp4 with callbacks to the receiver on port $receiver_port"
job=$("$bin" submit --server "$server" --video-url "file://$root/fixtures/sample.mp4" \
    --callback-url "http://127.0.0.1:$receiver_port/webhooks" --max-clips 3 --external-job-id demo-1)
echo "demo: job $job"
echo "demo: webhooks as the receiver sees them (it verifies every signature):"
tail -n +1 -f "$data/receiver.out" &
tail_pid=$!
pids+=($tail_pid)
for _ in $(seq 1 300); do
    grep -q "job.completed\|job.failed" "$data/receiver.out" && break
    sleep 0.1
done
sleep 0.3
kill "$tail_pid" 2>/dev/null || true

echo
echo "demo: the job (clipping-worker jobs show $job):"
"$bin" jobs show "$job" --server "$server"
echo
echo "demo: its deliveries (clipping-worker deliveries list --job $job):"
"$bin" deliveries list --job "$job" --server "$server"
echo
echo "demo: what the built-in speech-to-text heard ($data/media/$job/transcript.json) and the plan:"
python3 - "$data/media/$job" <<'PY'
import json, sys
transcript = json.load(open(sys.argv[1] + "/transcript.json"))
words = sum(len(s.get("words") or []) for s in transcript["segments"])
print(f"  source {transcript['source']}, language {transcript['language']}, {len(transcript['segments'])} segments, {words} timed words")
for segment in transcript["segments"][:3]:
    print(f"  {segment['start_ms'] / 1000:6.2f}-{segment['end_ms'] / 1000:6.2f}  {segment.get('text', '')}")
for clip in json.load(open(sys.argv[1] + "/plan.json"))["clips"]:
    print(f"  clip {clip['clip_index']} {clip['start_time_ms'] / 1000:.1f}-{clip['end_time_ms'] / 1000:.1f} s "
          f"{clip['layout_type']}, tags {', '.join(clip['tags'])}: {clip['summary']}")
PY
echo
echo "demo: the delivery log is $data/logs/deliveries.jsonl; its last lines:"
"$bin" deliveries tail --data-dir "$data" -n 3
echo
echo "demo: done. The data directory stays for a look: $data"
