import GRDB
import WebhookCore

/// The outbox tables, in the database the job store shares (one migrator, so the order of all
/// migrations is one list). Migrations are append-only: never edit one that has shipped.
enum OutboxSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE webhook_events (
                        id INTEGER PRIMARY KEY,
                        event_id TEXT NOT NULL UNIQUE,
                        job_id TEXT NOT NULL,
                        sequence INTEGER NOT NULL,
                        event_type TEXT NOT NULL
                            CHECK (event_type IN ('job.started', 'job.progress', 'job.completed', 'job.failed')),
                        callback_url TEXT NOT NULL,
                        body BLOB NOT NULL,
                        state TEXT NOT NULL
                            CHECK (state IN ('pending', 'delivered', 'failed', 'dropped', 'superseded')),
                        attempt_count INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL,
                        series_started_at INTEGER NOT NULL,
                        series_attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at INTEGER NOT NULL,
                        last_status_code INTEGER,
                        final_reason TEXT,
                        updated_at INTEGER NOT NULL,
                        UNIQUE (job_id, sequence)
                    );
                    CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE state = 'pending';
                    CREATE TABLE webhook_attempts (
                        event_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        started_at INTEGER NOT NULL,
                        duration_ms INTEGER NOT NULL,
                        status_code INTEGER,
                        error TEXT,
                        outcome TEXT NOT NULL
                            CHECK (outcome IN ('delivered', 'retrying', 'failed', 'dropped', 'superseded')),
                        PRIMARY KEY (event_id, attempt)
                    ) WITHOUT ROWID;
                    CREATE TABLE webhook_gone_jobs (
                        job_id TEXT PRIMARY KEY,
                        gone_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        // The jobs table belongs to the job store; its migration keeps its place in the order.
        JobSchema.registerV2Jobs(in: &migrator)
        migrator.registerMigration("v3-webhook-jobs") { db in
            // One row per job with events: the durable facts that decide what may still be
            // stored or sent (terminal stored, callback gone), and the job's lease. The next
            // sequence is MAX(sequence) + 1 (one index probe when a job is first seen).
            try db.execute(
                sql: """
                    CREATE TABLE webhook_jobs (
                        job_id TEXT PRIMARY KEY,
                        terminal_stored INTEGER NOT NULL DEFAULT 0 CHECK (terminal_stored IN (0, 1)),
                        gone INTEGER NOT NULL DEFAULT 0 CHECK (gone IN (0, 1)),
                        lease_owner TEXT,
                        lease_epoch INTEGER NOT NULL DEFAULT 0 CHECK (lease_epoch >= 0)
                    ) WITHOUT ROWID;
                    INSERT INTO webhook_jobs (job_id, terminal_stored, gone)
                        SELECT job_id, MAX(event_type IN ('job.completed', 'job.failed')),
                            job_id IN (SELECT job_id FROM webhook_gone_jobs)
                        FROM webhook_events GROUP BY job_id;
                    INSERT OR IGNORE INTO webhook_jobs (job_id, gone) SELECT job_id, 1 FROM webhook_gone_jobs;
                    ALTER TABLE webhook_events ADD COLUMN redelivered INTEGER NOT NULL DEFAULT 0
                        CHECK (redelivered IN (0, 1));
                    -- Before v3 a redelivery left its mark only in a series that began after the event.
                    UPDATE webhook_events SET redelivered = 1 WHERE series_started_at > created_at;
                    -- The first attempt lives in the event's row: a first-try success is one UPDATE,
                    -- not an UPDATE and an INSERT. Later attempts go to webhook_attempts.
                    ALTER TABLE webhook_events ADD COLUMN first_started_at INTEGER;
                    ALTER TABLE webhook_events ADD COLUMN first_duration_ms INTEGER;
                    ALTER TABLE webhook_events ADD COLUMN first_status_code INTEGER;
                    ALTER TABLE webhook_events ADD COLUMN first_error TEXT;
                    ALTER TABLE webhook_events ADD COLUMN first_outcome TEXT
                        CHECK (first_outcome IN ('delivered', 'retrying', 'failed', 'dropped', 'superseded'));
                    CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at INTEGER NOT NULL);
                    """)
        }
        migrator.registerMigration("v4-checks-without-value-lists") { db in
            try rebuildWithoutValueLists(db)
        }
        migrator.registerMigration("v5-delivery-listing") { db in
            try db.execute(sql: deliveryListingIndices)
        }
        migrator.registerMigration("v6-trace-context") { db in
            // The job's W3C trace, carried on every attempt (`TraceContext.storedForm`).
            try db.execute(sql: "ALTER TABLE webhook_events ADD COLUMN trace TEXT")
        }
        return migrator
    }

    /// Rebuilds the two tables whose CHECK constraints test a column against a list of more than
    /// two values (`state IN ('pending', …)`), with the same meaning written as `=` comparisons.
    ///
    /// SQLite evaluates `x IN (v1, v2, v3, …)` by building an ephemeral index, once per execution
    /// of the statement: each INSERT of an event and each UPDATE of its state opened and closed up
    /// to three temporary b-trees, each with its own page cache (measured: ~2.6 µs an INSERT, and
    /// the freed page cache made glibc trim the writer thread's heap and fault it back in every
    /// time). The `=` chains are checked in place. The data, the column order and the indexes are
    /// unchanged; a CHECK cannot be altered in place, hence the copy (the documented
    /// create–copy–drop–rename procedure, with foreign keys off during GRDB migrations).
    static func rebuildWithoutValueLists(_ db: Database) throws {
        let eventTypes = oneOf("event_type", ["job.started", "job.progress", "job.completed", "job.failed"])
        let states = oneOf("state", ["pending", "delivered", "failed", "dropped", "superseded"])
        let firstOutcomes = oneOf("first_outcome", ["delivered", "retrying", "failed", "dropped", "superseded"])
        let outcomes = oneOf("outcome", ["delivered", "retrying", "failed", "dropped", "superseded"])
        let eventColumns = """
            id, event_id, job_id, sequence, event_type, callback_url, body, state, attempt_count, created_at,
            series_started_at, series_attempts, next_attempt_at, last_status_code, final_reason, updated_at,
            redelivered, first_started_at, first_duration_ms, first_status_code, first_error, first_outcome
            """
        try db.execute(
            sql: """
                CREATE TABLE webhook_events_v4 (
                    id INTEGER PRIMARY KEY,
                    event_id TEXT NOT NULL UNIQUE,
                    job_id TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    event_type TEXT NOT NULL CHECK (\(eventTypes)),
                    callback_url TEXT NOT NULL,
                    body BLOB NOT NULL,
                    state TEXT NOT NULL CHECK (\(states)),
                    attempt_count INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    series_started_at INTEGER NOT NULL,
                    series_attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    last_status_code INTEGER,
                    final_reason TEXT,
                    updated_at INTEGER NOT NULL,
                    redelivered INTEGER NOT NULL DEFAULT 0 CHECK (redelivered IN (0, 1)),
                    first_started_at INTEGER,
                    first_duration_ms INTEGER,
                    first_status_code INTEGER,
                    first_error TEXT,
                    first_outcome TEXT CHECK (\(firstOutcomes)),
                    UNIQUE (job_id, sequence)
                );
                INSERT INTO webhook_events_v4 (\(eventColumns)) SELECT \(eventColumns) FROM webhook_events;
                DROP TABLE webhook_events;
                ALTER TABLE webhook_events_v4 RENAME TO webhook_events;
                CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE state = 'pending';
                CREATE TABLE webhook_attempts_v4 (
                    event_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    duration_ms INTEGER NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    outcome TEXT NOT NULL CHECK (\(outcomes)),
                    PRIMARY KEY (event_id, attempt)
                ) WITHOUT ROWID;
                INSERT INTO webhook_attempts_v4 (event_id, attempt, started_at, duration_ms, status_code, error, outcome)
                    SELECT event_id, attempt, started_at, duration_ms, status_code, error, outcome FROM webhook_attempts;
                DROP TABLE webhook_attempts;
                ALTER TABLE webhook_attempts_v4 RENAME TO webhook_attempts;
                """)
    }

    /// The indices behind the listings across jobs (SPEC sections 4 and 9): events newest first,
    /// with or without a state; jobs newest first, by status, `external_job_id` or `owner_user_id`
    /// (read from the stored request, so no writer has to fill a new column). Each listing is one
    /// range scan in index order, a page at a time, whatever the table's size. Cost: two more
    /// index entries per stored event.
    ///
    /// The state index leaves pending events out: covering, it would otherwise win over the
    /// pending index of v1 for the dispatcher's `state = 'pending' … ORDER BY id` reads and make
    /// each of them sort every pending event (SQLite chose it so when it held them). Listings of
    /// another state name `state != 'pending'` too, which is how SQLite knows the index applies;
    /// pending events are listed through the time index or the pending index.
    static let deliveryListingIndices = """
        CREATE INDEX webhook_events_created ON webhook_events (created_at, event_id);
        CREATE INDEX webhook_events_state_created ON webhook_events (state, created_at, event_id) WHERE state != 'pending';
        CREATE INDEX jobs_created ON jobs (created_at, job_id);
        CREATE INDEX jobs_status_created ON jobs (status, created_at, job_id);
        CREATE INDEX jobs_external_created ON jobs (json_extract(spec_json, '$.external_job_id'), created_at, job_id);
        CREATE INDEX jobs_owner_created ON jobs (json_extract(spec_json, '$.owner_user_id'), created_at, job_id);
        """

    /// `column = 'a' OR column = 'b' OR …`: what `column IN ('a', 'b', …)` means, without the
    /// ephemeral index SQLite builds for a list (a NULL still passes, as with `IN`).
    private static func oneOf(_ column: String, _ values: [String]) -> String {
        values.map { "\(column) = '\($0)'" }.joined(separator: " OR ")
    }

    /// The columns every event listing reads (`SQLiteOutboxStore.event(from:body:)` reads them by name).
    static let eventColumns = """
        event_id, job_id, sequence, event_type, callback_url, created_at, state, attempt_count,
        series_started_at, series_attempts, next_attempt_at, last_status_code, final_reason, redelivered,
        first_started_at, first_duration_ms, first_status_code, first_error, first_outcome, trace
        """
}
