import Foundation

/// The versioned schema of the shared store: one list of migrations, applied in order by
/// ``PostgresMigrator``.
///
/// Rules, so that a rolling deploy can run the previous and the new version on one schema:
/// - Append only: a migration that has shipped is never edited or removed.
/// - Additive (expand, then contract one release later): add tables, nullable columns or columns
///   with defaults, and indices; drop or rename only what no released version still reads.
/// - No application types in here: plain SQL text.
///
/// Times. Event and job times (`created_at`, `next_attempt_at`, attempt times, `next_due_at`) are
/// `bigint` Unix milliseconds from the worker's ``WebhookCore/Timestamp``, as in SQLite: they
/// round-trip exactly and the two stores compare them the same way. Lease times (`lease_until`)
/// are `timestamptz` from the database's `now()` only: a lease never depends on a worker's clock.
enum PostgresSchema {
    /// One migration: its version (1, 2, 3 …) and the SQL that takes the schema there.
    struct Migration: Sendable {
        let version: Int
        let name: String
        /// Statements separated by a `;` at the end of a line (the extended query protocol runs
        /// one statement at a time); no `;` may end a line inside a statement or a comment.
        let sql: String

        /// ``sql`` cut into its statements.
        var statements: [String] {
            sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
                .filter { statement in
                    // A piece made of comments only is no statement.
                    statement.split(separator: "\n").contains { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
                }
        }
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "jobs-and-outbox",
            sql: """
                CREATE TABLE jobs (
                    job_id text PRIMARY KEY,
                    spec_json text NOT NULL,
                    status text NOT NULL
                        CHECK (status IN ('queued', 'downloading', 'transcribing', 'planning', 'detecting',
                            'rendering', 'uploading', 'completed', 'failed', 'cancelled')),
                    progress_percent integer NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
                    current_step text NOT NULL,
                    clips_completed integer,
                    total_clips integer,
                    error text,
                    output_json text,
                    cancel_requested boolean NOT NULL DEFAULT false,
                    idempotency_key text UNIQUE,
                    request_digest text NOT NULL,
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL
                );
                -- What a restart resumes and what counts against CLIPPING_WORKER_MAX_QUEUED_JOBS.
                CREATE INDEX jobs_unfinished ON jobs (created_at)
                    WHERE status NOT IN ('completed', 'failed', 'cancelled');
                CREATE INDEX jobs_queued ON jobs (created_at) WHERE status = 'queued';
                -- Retention walks finished jobs by age.
                CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('completed', 'failed', 'cancelled');

                -- One row per job with events: the next sequence (appends take it under the row's
                -- lock, so they are serialized per job across workers), the durable facts that
                -- decide what may still be stored or sent, the lease and when the job is next due.
                CREATE TABLE webhook_jobs (
                    job_id text PRIMARY KEY,
                    next_sequence bigint NOT NULL DEFAULT 1 CHECK (next_sequence >= 1),
                    terminal_stored boolean NOT NULL DEFAULT false,
                    gone boolean NOT NULL DEFAULT false,
                    gone_at bigint,
                    lease_owner text,
                    lease_epoch bigint NOT NULL DEFAULT 0 CHECK (lease_epoch >= 0),
                    lease_until timestamptz,
                    -- The earliest next_attempt_at of the job's pending events; null with none pending.
                    next_due_at bigint,
                    CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
                );
                -- The claim query's index: only jobs with pending events are in it, by due time.
                CREATE INDEX webhook_jobs_due ON webhook_jobs (next_due_at) INCLUDE (lease_until)
                    WHERE next_due_at IS NOT NULL;

                CREATE TABLE webhook_events (
                    event_id text PRIMARY KEY,
                    job_id text NOT NULL,
                    sequence bigint NOT NULL CHECK (sequence >= 1),
                    event_type text NOT NULL
                        CHECK (event_type IN ('job.started', 'job.progress', 'job.completed', 'job.failed')),
                    callback_url text NOT NULL,
                    body bytea NOT NULL,
                    state text NOT NULL
                        CHECK (state IN ('pending', 'delivered', 'failed', 'dropped', 'superseded')),
                    attempt_count integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
                    created_at bigint NOT NULL,
                    series_started_at bigint NOT NULL,
                    series_attempts integer NOT NULL DEFAULT 0 CHECK (series_attempts >= 0),
                    next_attempt_at bigint NOT NULL,
                    last_status_code integer,
                    final_reason text,
                    updated_at bigint NOT NULL,
                    redelivered boolean NOT NULL DEFAULT false,
                    -- The first attempt lives in the event's row: a first-try success is one UPDATE.
                    first_started_at bigint,
                    first_duration_ms bigint,
                    first_status_code integer,
                    first_error text,
                    first_outcome text
                        CHECK (first_outcome IN ('delivered', 'retrying', 'failed', 'dropped', 'superseded')),
                    UNIQUE (job_id, sequence)
                );
                CREATE INDEX webhook_events_pending ON webhook_events (job_id, sequence) WHERE state = 'pending';
                CREATE INDEX webhook_events_pending_age ON webhook_events (created_at) WHERE state = 'pending';

                -- Attempts after the first.
                CREATE TABLE webhook_attempts (
                    event_id text NOT NULL,
                    attempt integer NOT NULL CHECK (attempt >= 1),
                    started_at bigint NOT NULL,
                    duration_ms bigint NOT NULL,
                    status_code integer,
                    error text,
                    outcome text NOT NULL
                        CHECK (outcome IN ('delivered', 'retrying', 'failed', 'dropped', 'superseded')),
                    PRIMARY KEY (event_id, attempt)
                );

                -- Readiness commits a real write here.
                CREATE TABLE store_probe (
                    id integer PRIMARY KEY CHECK (id = 1),
                    checked_at timestamptz NOT NULL
                );
                """),
        Migration(
            version: 2, name: "delivery-listing",
            sql: """
                -- Listings across jobs (SPEC sections 4 and 9), newest first, one index range per page:
                -- events with or without a state; jobs by time, status, external_job_id or owner
                -- (the last two read from the stored request: no writer fills a new column, and a
                -- previous version writing jobs during a rolling deploy keeps them indexed).
                CREATE INDEX IF NOT EXISTS webhook_events_created ON webhook_events (created_at, event_id);
                CREATE INDEX IF NOT EXISTS webhook_events_state_created ON webhook_events (state, created_at, event_id);
                CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, job_id);
                CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, job_id);
                CREATE INDEX IF NOT EXISTS jobs_external_created
                    ON jobs (((spec_json::jsonb) ->> 'external_job_id'), created_at, job_id);
                CREATE INDEX IF NOT EXISTS jobs_owner_created
                    ON jobs (((spec_json::jsonb) ->> 'owner_user_id'), created_at, job_id);
                """),
        Migration(
            version: 3, name: "trace-context",
            sql: """
                -- The job's W3C trace, carried on every attempt (TraceContext.storedForm).
                ALTER TABLE webhook_events ADD COLUMN trace text;
                """),
    ]

    /// The newest version this build knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }
}
