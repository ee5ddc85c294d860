import Logging
import PostgresNIO
import WebhookCore
public import WorkerCore

/// Runs across workers (SPEC section 8): a job runs on the worker that holds its lease — the
/// same lease in `webhook_jobs` that covers its events, so the job's terminal event is
/// delivered by the worker that ran it.
extension PostgresJobStore: RunClaiming {
    public var maintenancePeriod: Duration { outbox.configuration.leaseDuration / 3 }

    /// Claims in one statement: rows another claim holds are skipped (`FOR UPDATE SKIP LOCKED`),
    /// an expired lease is taken over (a new epoch fences its old owner), and a lease this worker
    /// already holds for the job's events is kept at its epoch. Only `webhook_jobs` rows are
    /// locked, in the order every writer locks them, so a claim never deadlocks with an append.
    public func claimRuns(limit: Int, excluding running: Set<String>) async throws(JobStoreError) -> [ClaimedRun] {
        guard limit > 0 else { return [] }
        let (owner, logger, book) = (outbox.owner, outbox.logger, outbox.book)
        let lease = outbox.configuration.leaseDuration.wholeMilliseconds
        let excluded = Array(running)
        do {
            let claimed = try await outbox.database.withConnection(failure: .writeFailed) { connection -> [ClaimedJob] in
                // Jobs stored before their first event (or by an older version) get their row.
                try await connection.query(
                    """
                    INSERT INTO webhook_jobs (job_id)
                    SELECT j.job_id FROM jobs j
                    WHERE j.status NOT IN ('completed', 'failed', 'cancelled')
                        AND NOT EXISTS (SELECT 1 FROM webhook_jobs w WHERE w.job_id = j.job_id)
                    ON CONFLICT (job_id) DO NOTHING
                    """, logger: logger)
                let rows = try await connection.query(
                    """
                    WITH candidates AS (
                        SELECT w.job_id FROM webhook_jobs w JOIN jobs j ON j.job_id = w.job_id
                        WHERE j.status NOT IN ('completed', 'failed', 'cancelled')
                            AND NOT (w.job_id = ANY(\(excluded)::text[]))
                            AND (w.lease_until IS NULL OR w.lease_until < now() OR w.lease_owner = \(owner))
                        ORDER BY j.created_at
                        LIMIT \(limit)
                        FOR UPDATE OF w SKIP LOCKED),
                    claimed AS (
                        UPDATE webhook_jobs w SET
                            lease_epoch = CASE WHEN w.lease_owner = \(owner) AND w.lease_until >= now()
                                THEN w.lease_epoch ELSE w.lease_epoch + 1 END,
                            lease_owner = \(owner),
                            lease_until = now() + \(lease) * interval '1 millisecond'
                        FROM candidates c WHERE w.job_id = c.job_id
                        RETURNING w.job_id, w.lease_epoch, w.lease_until, w.terminal_stored,
                            COALESCE((SELECT max(a.sequence) FROM webhook_events a
                                WHERE a.job_id = w.job_id AND a.attempt_count > 0 AND NOT a.redelivered), 0) AS highest)
                    \(unescaped: PostgresOutboxStore.claimedWithPendingEvents)
                    """, logger: logger)
                return try await PostgresOutboxStore.claimedJobs(from: rows, owner: owner)
            }
            for job in claimed {
                book.hold(job.lease.jobID, epoch: job.lease.epoch)
                book.pin(job.lease.jobID)
            }
            guard !claimed.isEmpty else { return [] }
            let ids = claimed.map(\.lease.jobID)
            let records = try await outbox.database.withConnection { connection -> [String: JobRecord] in
                var records = [String: JobRecord]()
                let rows = try await connection.query(
                    "SELECT \(unescaped: Self.columns) FROM jobs WHERE job_id = ANY(\(ids)::text[])", logger: logger)
                for try await row in rows {
                    let record = try Self.record(from: row.makeRandomAccess())
                    records[record.id] = record
                }
                return records
            }
            return claimed.compactMap { job in
                guard let record = records[job.lease.jobID] else {
                    // Deleted meanwhile (retention runs only on finished jobs: not expected).
                    book.unpin(job.lease.jobID)
                    return nil
                }
                return ClaimedRun(job: record, events: job)
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, "could not claim jobs: \(error.details)")
        }
    }

    public func endRun(_ jobID: String) {
        outbox.book.unpin(jobID)
    }

    public func lostRuns(among jobIDs: Set<String>) -> Set<String> {
        let book = outbox.book
        return jobIDs.filter { jobID in
            if case .held = book.standing(of: jobID) { return false }
            return true
        }
    }

    public func cancelRequested(among jobIDs: [String]) async throws(JobStoreError) -> Set<String> {
        guard !jobIDs.isEmpty else { return [] }
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection { connection -> Set<String> in
                var requested = Set<String>()
                let rows = try await connection.query(
                    "SELECT job_id FROM jobs WHERE job_id = ANY(\(jobIDs)::text[]) AND cancel_requested", logger: logger)
                for try await jobID in rows.decode(String.self) { requested.insert(jobID) }
                return requested
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, error.description)
        }
    }
}
