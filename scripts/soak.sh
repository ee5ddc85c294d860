#!/usr/bin/env bash
# A bounded soak run of the worker as an operator runs it: `serve` (release build, simulated
# engine, SQLite, default throttle), steady submissions, a receiver on loopback that fails a
# share of the webhooks, retention at a short setting. Every SAMPLE seconds it records the
# worker's RSS, open descriptors, database size, outbox depth and queued jobs (from /metrics), then prints
# the series and whether the second half is flat:
#   RSS within 5 % of its value at the half-way mark, descriptors within ±10, database size and
#   outbox depth and queued jobs not rising over the second half.
#
#   scripts/soak.sh                 # 10 minutes
#   scripts/soak.sh --minutes 3     # shorter
# Options: --minutes M [10], --rate JOBS_PER_S [4], --fail-percent P [20], --sample S [15]
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10 rate=4 fail=20 sample=15
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --fail-percent) fail=$2; shift 2 ;;
        --sample) sample=$2; shift 2 ;;
        *) echo "soak: unknown option $1" >&2; exit 64 ;;
    esac
done

./scripts/install-deps.sh >/dev/null
# SOAK_BIN: an already built clipping-worker to use instead of building the release one.
if [ -n "${SOAK_BIN:-}" ]; then
    bin=$SOAK_BIN
else
    swift build -c release --product clipping-worker >/dev/null
    bin=.build/release/clipping-worker
fi
work=$(mktemp -d)
data=$work/data
port_file=$work/receiver.port

# The receiver: answers 503 to FAIL % of the webhooks, 204 to the rest, 200 with bytes to video GETs.
python3 - "$fail" "$port_file" <<'PY' &
import http.server, random, sys, socketserver
fail = int(sys.argv[1]); port_file = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"\x07" * 20000
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0")); self.rfile.read(n)
        code = 503 if random.randrange(100) < fail else 204
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open(port_file, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
receiver=$!
while [ ! -s "$port_file" ]; do sleep 0.1; done
rport=$(cat "$port_file")

# Retention at a short setting (60 s) so deletions happen during the run.
# Six stages of 0.1 s on four slots: about 6.5 jobs/s of capacity, above the offered rate, so
# the queue stays short and what grows is what leaks.
CLIPPING_WORKER_ENGINE=simulated CLIPPING_WORKER_SIMULATED_STAGE_SECONDS=0.1 \
CLIPPING_WORKER_ALLOWED_NETWORKS=127.0.0.0/8 CLIPPING_WORKER_RETENTION_DAYS=$(python3 -c 'print(60/86400)') \
CLIPPING_WORKER_MAX_CONCURRENT_JOBS=4 \
    "$bin" serve --port 0 --data-dir "$data" >"$work/serve.log" 2>&1 &
worker=$!
cleanup() { kill "$worker" "$receiver" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
port=""
for _ in $(seq 1 200); do
    port=$(grep 'listening' "$work/serve.log" 2>/dev/null | grep -o 'http.port=[0-9]*' | head -1 | cut -d= -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "soak: serve did not start"; cat "$work/serve.log"; exit 1; }
base=http://127.0.0.1:$port
echo "soak: worker pid $worker on $base, receiver on :$rport failing $fail %, $minutes min at $rate jobs/s"

samples=$work/samples.tsv
echo -e "t_s\trss_kib\tfds\tdb_used_bytes\tpending\tqueued\tfile_bytes" >"$samples"
end=$(( $(date +%s) + minutes * 60 ))
next_sample=$(date +%s)
submitted=0
start=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
    for _ in $(seq 1 "$rate"); do
        curl -s -o /dev/null -X POST "$base/ai-clipping/jobs" -H 'Content-Type: application/json' \
            -d "{\"video_url\":\"http://127.0.0.1:$rport/v.mp4\",\"callback_url\":\"http://127.0.0.1:$rport/hook\",\"max_clips\":2}" || true
        submitted=$((submitted + 1))
    done
    now=$(date +%s)
    if [ "$now" -ge "$next_sample" ]; then
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$worker/status")
        fds=$(ls "/proc/$worker/fd" | wc -l)
        # Pages in use (page_count - freelist_count): what the data takes. The files (database +
        # WAL) are shown too; they move in steps (the WAL keeps its high-water size between
        # checkpoints, freed pages wait for incremental vacuum) that say nothing about a leak.
        files=$(( $(stat -c %s "$data/clipping-worker.sqlite") + $(stat -c %s "$data/clipping-worker.sqlite-wal" 2>/dev/null || echo 0) ))
        db=$(python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1], timeout=5)
q = lambda p: c.execute("PRAGMA " + p).fetchone()[0]
print((q("page_count") - q("freelist_count")) * q("page_size"))' "$data/clipping-worker.sqlite" 2>/dev/null || echo "?")
        metrics=$(curl -s "$base/metrics" || true)
        pending=$(awk '/^clipping_worker_webhook_outbox_pending / {print $2}' <<<"$metrics")
        queued=$(awk '/^clipping_worker_jobs_queued / {print $2}' <<<"$metrics")
        echo -e "$((now - start))\t$rss\t$fds\t$db\t${pending:-?}\t${queued:-?}\t$files" >>"$samples"
        next_sample=$((now + sample))
    fi
    sleep 1
done

echo "soak: submitted $submitted jobs"
column -t "$samples"
python3 - "$samples" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
rows = [[float(x) if x not in ("?", "") else 0.0 for x in r] for r in rows]
half = len(rows) // 2
mid, last = rows[half], rows[-1]
second = rows[half:]
def rising(col, slack):
    # Rising = the least-squares trend over the second half adds more than 5 % of its mean plus
    # `slack` (the noise of a small count, e.g. a few events in flight at a sample) by its end.
    xs = [r[0] for r in second]; ys = [r[col] for r in second]
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    return slope * (xs[-1] - xs[0]) > 0.05 * my + slack
rss_ok = abs(last[1] - mid[1]) <= 0.05 * mid[1]
fd_ok = abs(last[2] - mid[2]) <= 10
db_ok = not rising(3, 64 * 1024)
pending_ok = not rising(4, 10)
queued_ok = not rising(5, 10)
print(f"RESULT rss_mid_kib={mid[1]:.0f} rss_end_kib={last[1]:.0f} rss_flat={rss_ok} "
      f"fds_mid={mid[2]:.0f} fds_end={last[2]:.0f} fds_flat={fd_ok} "
      f"db_used_mid={mid[3]:.0f} db_used_end={last[3]:.0f} db_flat={db_ok} files_end={last[6]:.0f} "
      f"pending_mid={mid[4]:.0f} pending_end={last[4]:.0f} pending_flat={pending_ok} "
      f"queued_mid={mid[5]:.0f} queued_end={last[5]:.0f} queued_flat={queued_ok}")
sys.exit(0 if (rss_ok and fd_ok and db_ok and pending_ok and queued_ok) else 1)
PY
