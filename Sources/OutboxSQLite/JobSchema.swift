import GRDB

/// The `jobs` table, owned by ``SQLiteJobStore`` (the outbox never writes it).
enum JobSchema {
    static func registerV2Jobs(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        job_id TEXT PRIMARY KEY,
                        spec_json TEXT NOT NULL,
                        status TEXT NOT NULL
                            CHECK (status IN ('queued', 'downloading', 'transcribing', 'planning', 'detecting',
                                'rendering', 'uploading', 'completed', 'failed', 'cancelled')),
                        progress_percent INTEGER NOT NULL DEFAULT 0,
                        current_step TEXT NOT NULL,
                        clips_completed INTEGER,
                        total_clips INTEGER,
                        error TEXT,
                        output_json TEXT,
                        cancel_requested INTEGER NOT NULL DEFAULT 0,
                        idempotency_key TEXT UNIQUE,
                        request_digest TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX jobs_unfinished ON jobs (created_at)
                        WHERE status NOT IN ('completed', 'failed', 'cancelled');
                    """)
        }
    }
}
