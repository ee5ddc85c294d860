import Foundation
import Logging
import PostgresNIO
public import WebhookCore
public import WorkerCore

/// Jobs in the shared database, beside the outbox: a job's state and its events commit in one
/// transaction (the transactional outbox of ``SQLiteJobStore``'s design), and every worker sees
/// every job. The outbox never writes `jobs`.
///
/// Fencing reaches the job's state too: a job whose lease this worker held and lost is not
/// written (the worker that holds it now runs it).
public struct PostgresJobStore: JobStore {
    let outbox: PostgresOutboxStore

    /// A job store on the database of `outbox`.
    public init(outbox: PostgresOutboxStore) {
        self.outbox = outbox
    }

    public func create(_ spec: JobSpec, idempotencyKey: String?, requestDigest: String, maxQueued: Int?, at time: Timestamp)
        async throws(JobStoreError) -> (job: JobRecord, created: Bool)
    {
        let specJSON = try spec.storedJSON()
        let id = JobRecord.newID(at: time)
        let logger = outbox.logger
        let outcome: Result<(JobRecord, Bool), JobStoreError>
        do {
            outcome = try await outbox.database.transaction(timeout: outbox.configuration.requestTimeout) {
                connection -> Result<(JobRecord, Bool), JobStoreError> in
                // Submissions take turns across workers (a short lock, released at commit), so the
                // queue bound and the idempotency key are decided on what every worker stored.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.clipping_worker.create', 0))",
                    logger: logger)
                if let idempotencyKey {
                    let rows = try await connection.query(
                        "SELECT \(unescaped: Self.columns) FROM jobs WHERE idempotency_key = \(idempotencyKey)", logger: logger
                    ).collect()
                    if let row = rows.first {
                        let cells = row.makeRandomAccess()
                        guard try cells["request_digest"].decode(String.self) == requestDigest else {
                            return .failure(
                                JobStoreError(.idempotencyConflict, "Idempotency-Key was used with another request body"))
                        }
                        return .success((try Self.record(from: cells), false))
                    }
                }
                if let maxQueued {
                    let queued = try await connection.query(
                        "SELECT count(*) FROM jobs WHERE status = 'queued'", logger: logger
                    ).collect().first?.decode(Int64.self) ?? 0
                    if queued >= maxQueued {
                        return .failure(JobStoreError(.queueFull, "\(maxQueued) jobs are already queued"))
                    }
                }
                try await connection.query(
                    """
                    INSERT INTO jobs (job_id, spec_json, status, progress_percent, current_step, idempotency_key,
                        request_digest, created_at, updated_at)
                    VALUES (\(id), \(specJSON), 'queued', 0, 'Queued', \(idempotencyKey), \(requestDigest),
                        \(time.milliseconds), \(time.milliseconds))
                    """, logger: logger)
                // Delivered at commit: idle workers claim it at once.
                try await connection.query(
                    "SELECT pg_notify(\(PostgresWorkListener.channel), \(PostgresWorkListener.jobPayload))", logger: logger)
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
        let (appender, book, owner, logger) = (outbox.appender, outbox.book, outbox.owner, outbox.logger)
        let outcome: EventAppender.Outcome
        do {
            outcome = try await outbox.database.transaction { connection in
                // A finished job never changes again and gets no event after its end (a second run
                // of it, however it came about, must not send a second terminal event): the row is
                // locked and checked before anything is appended.
                let finished = try await connection.query(
                    "SELECT status IN ('completed', 'failed', 'cancelled') FROM jobs WHERE job_id = \(update.jobID) FOR UPDATE",
                    logger: logger
                ).collect().first?.decode(Bool.self) ?? false
                if finished { return EventAppender.Outcome(events: [], leases: [:]) }
                // The append locks the job's row and checks its lease; a state update alone checks
                // the lease only when this worker holds (or held) the job.
                let outcome = try await appender.append(drafts, at: time, on: connection)
                if drafts.isEmpty, let standing = book.standing(of: update.jobID) {
                    try await Self.checkLease(
                        of: update.jobID, standing: standing, owner: owner, book: book, on: connection, logger: logger)
                }
                try await connection.query(
                    """
                    UPDATE jobs SET status = \(update.status.rawValue), progress_percent = \(update.progressPercent),
                        current_step = \(update.currentStep), clips_completed = \(update.clipsCompleted),
                        total_clips = \(update.totalClips), error = \(update.error),
                        output_json = COALESCE(\(update.outputJSON), output_json), updated_at = \(time.milliseconds)
                    WHERE job_id = \(update.jobID) AND status NOT IN ('completed', 'failed', 'cancelled')
                    """, logger: logger)
                return outcome
            }
        } catch {
            if error.code == .leaseLost { throw JobStoreError(.leaseLost, error.details) }
            throw JobStoreError(.unavailable, "the job's state could not be stored: \(error.details)")
        }
        for (jobID, epoch) in outcome.leases { book.hold(jobID, epoch: epoch) }
        return outcome.events
    }

    /// Refuses a write for a job this worker lost, or whose row moved to another epoch or owner.
    private static func checkLease(
        of jobID: String, standing: LeaseBook.Standing, owner: String, book: LeaseBook, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        guard case .held(let held) = standing else {
            throw OutboxError(.leaseLost, "this worker lost the lease on job \(jobID)")
        }
        let rows = try await connection.query(
            "SELECT lease_owner, lease_epoch FROM webhook_jobs WHERE job_id = \(jobID) FOR NO KEY UPDATE", logger: logger
        ).collect()
        let (rowOwner, epoch) = try rows.first?.decode((String?, Int64).self) ?? (nil, Int64(-1))
        guard rowOwner == owner, epoch == held else {
            book.lose(jobID, epoch: held)
            throw OutboxError(.leaseLost, "job \(jobID) was claimed by another worker (epoch \(held) moved on)")
        }
    }

    public func job(_ id: String) async throws(JobStoreError) -> JobRecord? {
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection(timeout: outbox.configuration.requestTimeout) { connection in
                try await connection.query("SELECT \(unescaped: Self.columns) FROM jobs WHERE job_id = \(id)", logger: logger)
                    .collect().first.map { try Self.record(from: $0.makeRandomAccess()) }
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, error.description)
        }
    }

    public func unfinishedJobs() async throws(JobStoreError) -> [JobRecord] {
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection { connection in
                try await connection.query(
                    """
                    SELECT \(unescaped: Self.columns) FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled')
                    ORDER BY created_at
                    """, logger: logger
                ).collect().map { try Self.record(from: $0.makeRandomAccess()) }
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, error.description)
        }
    }

    /// Deletes up to `limit` finished jobs older than `cutoff` with their events and attempts, one
    /// sweeper at a time across workers: a worker that finds another sweeping (a transaction-level
    /// advisory lock) deletes nothing this round. A job an append or a redelivery holds meanwhile
    /// is skipped (its `webhook_jobs` row is locked), and "no pending event" is checked again
    /// under the lock. PostgreSQL reuses the freed space after autovacuum; it is not handed back to
    /// the file system (that needs `VACUUM FULL`, which locks the tables).
    public func deleteFinishedJobs(before cutoff: Timestamp, limit: Int) async throws(JobStoreError) -> [String] {
        let (logger, book) = (outbox.logger, outbox.book)
        let deleted: [String]
        do {
            deleted = try await outbox.database.transaction { connection -> [String] in
                let sweeping = try await connection.query(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || '.clipping_worker.retention', 0))",
                    logger: logger
                ).collect().first?.decode(Bool.self) ?? false
                guard sweeping else { return [] }
                let candidates = try await connection.query(
                    """
                    SELECT job_id FROM jobs j
                    WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < \(cutoff.milliseconds)
                        AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.job_id = j.job_id AND e.state = 'pending')
                    ORDER BY updated_at LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).collect().map { try $0.decode(String.self) }
                guard !candidates.isEmpty else { return [] }
                // Jobs with events: their outbox row too, or they are left for the next sweep.
                let busy = try await connection.query(
                    """
                    WITH free AS (
                        SELECT job_id FROM webhook_jobs WHERE job_id = ANY(\(candidates)::text[])
                        ORDER BY job_id FOR UPDATE SKIP LOCKED)
                    SELECT c.job_id FROM unnest(\(candidates)::text[]) AS c(job_id)
                    WHERE EXISTS (SELECT 1 FROM webhook_jobs w WHERE w.job_id = c.job_id)
                        AND c.job_id NOT IN (SELECT job_id FROM free)
                    """, logger: logger
                ).collect().map { try $0.decode(String.self) }
                let doomed = Array(Set(candidates).subtracting(busy))
                return try await connection.query(
                    """
                    WITH doomed AS (
                        SELECT d.job_id FROM unnest(\(doomed)::text[]) AS d(job_id)
                        WHERE NOT EXISTS (
                            SELECT 1 FROM webhook_events e WHERE e.job_id = d.job_id AND e.state = 'pending')),
                    attempts AS (
                        DELETE FROM webhook_attempts WHERE event_id IN (
                            SELECT event_id FROM webhook_events WHERE job_id IN (SELECT job_id FROM doomed))),
                    events AS (DELETE FROM webhook_events WHERE job_id IN (SELECT job_id FROM doomed)),
                    outbox_jobs AS (DELETE FROM webhook_jobs WHERE job_id IN (SELECT job_id FROM doomed))
                    DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM doomed) RETURNING job_id
                    """, logger: logger
                ).collect().map { try $0.decode(String.self) }
            }
        } catch {
            throw JobStoreError(.unavailable, "retention could not delete: \(error.details)")
        }
        for jobID in deleted { book.forget(jobID) }
        return deleted
    }

    public func requestCancel(_ id: String, at time: Timestamp) async throws(JobStoreError) -> JobRecord? {
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection(failure: .writeFailed, timeout: outbox.configuration.requestTimeout) {
                connection in
                try await connection.query(
                    """
                    UPDATE jobs SET cancel_requested = true, updated_at = \(time.milliseconds)
                    WHERE job_id = \(id) AND status NOT IN ('completed', 'failed', 'cancelled')
                    """, logger: logger)
                // The worker running it (maybe another) checks its runs at once.
                try await connection.query(
                    "SELECT pg_notify(\(PostgresWorkListener.channel), \(PostgresWorkListener.cancelPayload))", logger: logger)
                return try await connection.query("SELECT \(unescaped: Self.columns) FROM jobs WHERE job_id = \(id)", logger: logger)
                    .collect().first.map { try Self.record(from: $0.makeRandomAccess()) }
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, error.description)
        }
    }

    static let columns = """
        job_id, spec_json, status, progress_percent, current_step, clips_completed, total_clips, error, output_json,
        cancel_requested, request_digest, created_at, updated_at
        """

    static func record(from cells: PostgresRandomAccessRow) throws -> JobRecord {
        let spec = try JSONDecoder().decode(JobSpec.self, from: Data(try cells["spec_json"].decode(String.self).utf8))
        guard let status = JobStatus(rawValue: try cells["status"].decode(String.self)) else {
            throw OutboxError(.corrupt, "unreadable job status")
        }
        return JobRecord(
            id: try cells["job_id"].decode(String.self), spec: spec, status: status,
            progressPercent: Int(try cells["progress_percent"].decode(Int32.self)),
            currentStep: try cells["current_step"].decode(String.self),
            clipsCompleted: try cells["clips_completed"].decode(Int32?.self).map(Int.init),
            totalClips: try cells["total_clips"].decode(Int32?.self).map(Int.init),
            error: try cells["error"].decode(String?.self), outputJSON: try cells["output_json"].decode(String?.self),
            createdAt: Timestamp(milliseconds: try cells["created_at"].decode(Int64.self)),
            updatedAt: Timestamp(milliseconds: try cells["updated_at"].decode(Int64.self)),
            cancelRequested: try cells["cancel_requested"].decode(Bool.self))
    }
}
