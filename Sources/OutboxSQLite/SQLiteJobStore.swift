import Foundation
import GRDB
public import WebhookCore
public import WorkerCore

/// Jobs in the outbox's SQLite database, so a job's state and its events commit together: the
/// job side owns the `jobs` table and writes its events through the outbox in the same
/// transaction (a transactional outbox). The outbox never touches `jobs`.
public struct SQLiteJobStore: JobStore {
    let outbox: SQLiteOutboxStore

    /// A job store on the database of `outbox`.
    public init(outbox: SQLiteOutboxStore) {
        self.outbox = outbox
    }

    public func create(_ spec: JobSpec, idempotencyKey: String?, requestDigest: String, maxQueued: Int?, at time: Timestamp)
        async throws(JobStoreError) -> (job: JobRecord, created: Bool)
    {
        let specJSON = try spec.storedJSON()
        // Writes into a deleted database file would vanish at the next start: refuse them.
        if let problem = outbox.fileProblem() { throw JobStoreError(.unavailable, problem) }
        let id = JobRecord.newID(at: time)
        let outcome: Result<(JobRecord, Bool), JobStoreError>
        do {
            outcome = try await outbox.write { db -> Result<(JobRecord, Bool), JobStoreError> in
                if let idempotencyKey,
                    let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE idempotency_key = ?", arguments: [idempotencyKey])
                {
                    guard row["request_digest"] as String == requestDigest else {
                        return .failure(JobStoreError(.idempotencyConflict, "Idempotency-Key was used with another request body"))
                    }
                    return .success((try Self.record(from: row), false))
                }
                if let maxQueued,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE status = 'queued'") ?? 0 >= maxQueued
                {
                    return .failure(JobStoreError(.queueFull, "\(maxQueued) jobs are already queued"))
                }
                try db.execute(
                    sql: """
                        INSERT INTO jobs (job_id, spec_json, status, progress_percent, current_step, idempotency_key,
                            request_digest, created_at, updated_at)
                        VALUES (?, ?, 'queued', 0, 'Queued', ?, ?, ?, ?)
                        """,
                    arguments: [id, specJSON, idempotencyKey, requestDigest, time.milliseconds, time.milliseconds])
                return .success((JobRecord(id: id, spec: spec, createdAt: time), true))
            }
        } catch {
            throw JobStoreError(.unavailable, "the job could not be stored: \(error.details)")
        }
        let (job, created) = try outcome.get()
        return (job, created)
    }

    public func record(_ update: JobStateUpdate, appending drafts: [EventDraft], at time: Timestamp)
        async throws(JobStoreError) -> [OutboxEvent]
    {
        if let problem = outbox.fileProblem() { throw JobStoreError(.unavailable, problem) }
        let appending = outbox.appender(for: drafts, at: time)
        do {
            return try await outbox.write { db in
                // A finished job never changes again, and gets no event after its end (a second
                // run of it, however it came about, must not send a second terminal event).
                guard try Self.apply(update, at: time, in: db) else { return [] }
                return try appending(db)
            }
        } catch {
            throw JobStoreError(.unavailable, "the job's state could not be stored: \(error.details)")
        }
    }

    /// Applies a job state update (no-op for an unknown job, and never rewrites a finished job).
    /// - Returns: false when the job is finished: its events must not be stored either.
    private static func apply(_ update: JobStateUpdate, at time: Timestamp, in db: Database) throws -> Bool {
        let statement = try db.cachedStatement(
            sql: """
                UPDATE jobs SET status = ?, progress_percent = ?, current_step = ?, clips_completed = ?,
                    total_clips = ?, error = ?, output_json = COALESCE(?, output_json), updated_at = ?
                WHERE job_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')
                """)
        try statement.execute(arguments: [
            update.status.rawValue, update.progressPercent, update.currentStep, update.clipsCompleted, update.totalClips,
            update.error, update.outputJSON, time.milliseconds, update.jobID,
        ])
        guard db.changesCount == 0 else { return true }
        let status = try String.fetchOne(db, sql: "SELECT status FROM jobs WHERE job_id = ?", arguments: [update.jobID])
        return !(status.flatMap(JobStatus.init(rawValue:))?.isFinished ?? false)
    }

    public func job(_ id: String) async throws(JobStoreError) -> JobRecord? {
        do {
            return try await outbox.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE job_id = ?", arguments: [id]).map(Self.record(from:))
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }

    public func unfinishedJobs() async throws(JobStoreError) -> [JobRecord] {
        do {
            return try await outbox.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled') ORDER BY created_at
                        """
                ).map(Self.record(from:))
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }

    public func deleteFinishedJobs(before cutoff: Timestamp, limit: Int) async throws(JobStoreError) -> [String] {
        let cache = outbox.jobCache
        let deleted: [String]
        do {
            deleted = try await outbox.write { db -> [String] in
                let ids = try String.fetchAll(
                    db,
                    sql: """
                        SELECT job_id FROM jobs
                        WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < ?
                            AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.job_id = jobs.job_id AND e.state = 'pending')
                        ORDER BY updated_at LIMIT ?
                        """,
                    arguments: [cutoff.milliseconds, limit])
                for id in ids {
                    try db.execute(
                        sql: "DELETE FROM webhook_attempts WHERE event_id IN (SELECT event_id FROM webhook_events WHERE job_id = ?)",
                        arguments: [id])
                    try db.execute(sql: "DELETE FROM webhook_events WHERE job_id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM webhook_jobs WHERE job_id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM webhook_gone_jobs WHERE job_id = ?", arguments: [id])
                    try db.execute(sql: "DELETE FROM jobs WHERE job_id = ?", arguments: [id])
                    cache.forget(id)
                }
                return ids
            }
        } catch {
            throw JobStoreError(.unavailable, "retention could not delete: \(error)")
        }
        if !deleted.isEmpty { await outbox.reclaimSpace() }
        return deleted
    }

    public func requestCancel(_ id: String, at time: Timestamp) async throws(JobStoreError) -> JobRecord? {
        do {
            return try await outbox.write { db in
                try db.execute(
                    sql: """
                        UPDATE jobs SET cancel_requested = 1, updated_at = ?
                        WHERE job_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')
                        """,
                    arguments: [time.milliseconds, id])
                return try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE job_id = ?", arguments: [id]).map(Self.record(from:))
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }

    static func record(from row: Row) throws -> JobRecord {
        let specText: String = row["spec_json"]
        let spec = try JSONDecoder().decode(JobSpec.self, from: Data(specText.utf8))
        guard let status = JobStatus(rawValue: row["status"]) else {
            throw OutboxError(.corrupt, "unreadable job status")
        }
        return JobRecord(
            id: row["job_id"], spec: spec, status: status, progressPercent: row["progress_percent"],
            currentStep: row["current_step"], clipsCompleted: row["clips_completed"], totalClips: row["total_clips"],
            error: row["error"], outputJSON: row["output_json"], createdAt: Timestamp(milliseconds: row["created_at"]),
            updatedAt: Timestamp(milliseconds: row["updated_at"]), cancelRequested: row["cancel_requested"])
    }
}
