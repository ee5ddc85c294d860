#!/usr/bin/env python3
"""What SQLite itself costs per delivered event with the outbox's schema, without the worker.

Replays the benchmark's store work through Python's sqlite3 module: N events of 256 jobs
inserted into `webhook_events` (same columns, constraints and indices as OutboxSchema, WAL,
synchronous=FULL, 330-byte bodies), each marked delivered by the first-attempt UPDATE about LAG
events later, 50 inserts (and as many updates) per transaction. Prints the CPU time per event
(insert + update). Variants show what each part costs:

    scripts/sqlite-floor.py                      # the schema as it is
    scripts/sqlite-floor.py --no-listing-indices # without the two listing indices (#12)
    scripts/sqlite-floor.py --no-job-index       # without UNIQUE (job_id, sequence)
    scripts/sqlite-floor.py --normal             # synchronous=NORMAL
    scripts/sqlite-floor.py --integer-job-key    # the job index on an integer job number instead

Measured on the 2-core machine of 2026-12-01 (50,000 events, 3 runs each): 16.7–17.0 µs per
event as it is, 13.9–14.7 without the listing indices, 10.0–10.5 without those and the job
index, 14.3–15.4 with NORMAL, 15.2–15.3 with the job index keyed by an integer job number (each
figure includes the Python module's own 2–3 µs per statement).
The worker's own writer measured 17–19 µs per event on the same day (`writer CPU` in the
benchmark's output): the store's cost is SQLite's, and the (job_id, sequence) index, whose
insertion points are spread over every active job, is the largest part of it.
"""
import argparse, os, random, sqlite3, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("--events", type=int, default=50000)
parser.add_argument("--lag", type=int, default=20000, help="events between an insert and its update")
parser.add_argument("--no-listing-indices", action="store_true")
parser.add_argument("--no-job-index", action="store_true")
parser.add_argument("--normal", action="store_true")
parser.add_argument("--integer-job-key", action="store_true", help="UNIQUE (job_num, sequence), job_num an integer")
args = parser.parse_args()

folder = tempfile.mkdtemp()
db = sqlite3.connect(os.path.join(folder, "floor.sqlite"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=%s" % ("NORMAL" if args.normal else "FULL"))
db.executescript("""
CREATE TABLE webhook_events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
  job_num INTEGER NOT NULL DEFAULT 0, sequence INTEGER NOT NULL,
  event_type TEXT NOT NULL CHECK (event_type = 'job.started' OR event_type = 'job.progress' OR
    event_type = 'job.completed' OR event_type = 'job.failed'),
  callback_url TEXT NOT NULL, body BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed' OR
    state = 'dropped' OR state = 'superseded'),
  attempt_count INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, series_started_at INTEGER NOT NULL,
  series_attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_status_code INTEGER,
  final_reason TEXT, updated_at INTEGER NOT NULL, redelivered INTEGER NOT NULL DEFAULT 0,
  first_started_at INTEGER, first_duration_ms INTEGER, first_status_code INTEGER, first_error TEXT,
  first_outcome TEXT, trace TEXT%s);
CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE state = 'pending';
""" % ("" if args.no_job_index else ", UNIQUE (%s, sequence)" % ("job_num" if args.integer_job_key else "job_id")))
if not args.no_listing_indices:
    db.executescript("""
    CREATE INDEX webhook_events_created ON webhook_events (created_at, event_id);
    CREATE INDEX webhook_events_state_created ON webhook_events (state, created_at, event_id) WHERE state != 'pending';
    """)

INSERT = """INSERT INTO webhook_events (event_id, job_id, job_num, sequence, event_type, callback_url, body, state,
  created_at, series_started_at, next_attempt_at, final_reason, updated_at, trace)
  VALUES (?, ?, ?, ?, 'job.progress', 'http://127.0.0.1:4000/hook', ?, 'pending', ?, ?, ?, NULL, ?, NULL)"""
UPDATE = """UPDATE webhook_events SET state = 'delivered', attempt_count = MAX(attempt_count, 1),
  series_attempts = series_attempts + 1, next_attempt_at = COALESCE(NULL, next_attempt_at),
  last_status_code = 204, final_reason = NULL, updated_at = ?, first_started_at = ?,
  first_duration_ms = 1, first_status_code = 204, first_error = NULL, first_outcome = 'delivered'
  WHERE event_id = ?"""

jobs, per_transaction, body = 256, 50, b"x" * 330
sequences = [0] * jobs
ids = []
inserted = updated = 0
started = time.process_time()
while updated < args.events:
    db.execute("BEGIN IMMEDIATE")
    for _ in range(per_transaction):
        if inserted < args.events:
            job = inserted % jobs
            sequences[job] += 1
            # Time-ordered ids, as EventID is (48 bits of milliseconds first).
            ids.append("evt_%026d" % (inserted * 1000 + random.randint(0, 999)))
            db.execute(INSERT, (ids[-1], "bench-%d" % job, job, sequences[job], body, inserted, inserted, inserted, inserted))
            inserted += 1
        for _ in range(2 if inserted >= args.events else 1):
            if updated < inserted and (inserted - updated > args.lag or inserted >= args.events):
                db.execute(UPDATE, (updated, updated, ids[updated]))
                updated += 1
    db.execute("COMMIT")
cpu = time.process_time() - started
print("sqlite-floor: %d events, %.1f µs of CPU per event (insert + first-attempt update)" % (args.events, cpu / args.events * 1e6))
