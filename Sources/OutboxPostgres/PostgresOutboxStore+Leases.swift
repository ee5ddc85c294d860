import Logging
import PostgresNIO
public import WebhookCore

extension PostgresOutboxStore {
    /// Claims up to `limit` jobs with events due (within ``PostgresStoreConfiguration/claimAhead``
    /// of the database's `now()`) that no live lease holds, in one statement: rows locked by
    /// another claim are skipped (`FOR UPDATE SKIP LOCKED`), so concurrent workers never wait for
    /// each other nor take the same job; each claim bumps the job's epoch. Expiry uses the
    /// database's clock only. `time` is not used: a worker's clock never decides a lease.
    public func claimJobs(limit: Int, at time: Timestamp) async throws(OutboxError) -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        let (owner, logger) = (self.owner, self.logger)
        let lease = configuration.leaseDuration.wholeMilliseconds
        let ahead = configuration.claimAhead.wholeMilliseconds
        let claimed = try await database.withConnection(failure: .writeFailed) { connection -> [ClaimedJob] in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT job_id FROM webhook_jobs
                    WHERE next_due_at <= floor(extract(epoch FROM now()) * 1000)::int8 + \(ahead)
                        AND (lease_until IS NULL OR lease_until < now())
                    ORDER BY next_due_at
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED),
                claimed AS (
                    UPDATE webhook_jobs j SET lease_owner = \(owner), lease_epoch = j.lease_epoch + 1,
                        lease_until = now() + \(lease) * interval '1 millisecond'
                    FROM due WHERE j.job_id = due.job_id
                    RETURNING j.job_id, j.lease_epoch, j.lease_until, j.terminal_stored,
                        -- Once per job, not per event row.
                        COALESCE((SELECT max(a.sequence) FROM webhook_events a
                            WHERE a.job_id = j.job_id AND a.attempt_count > 0 AND NOT a.redelivered), 0) AS highest)
                \(unescaped: Self.claimedWithPendingEvents)
                """, logger: logger)
            return try await Self.claimedJobs(from: rows, owner: owner)
        }
        for job in claimed { book.hold(job.lease.jobID, epoch: job.lease.epoch) }
        return claimed
    }

    /// The pending events of jobs this worker holds (no bodies), in sequence order; a job whose
    /// lease moved to another worker is left out.
    public func pendingEvents(ofJobs jobIDs: [String]) async throws(OutboxError) -> [String: [OutboxEvent]] {
        guard !jobIDs.isEmpty else { return [:] }
        let (owner, logger) = (self.owner, self.logger)
        let held = try await database.withConnection(failure: .readFailed) { connection -> [ClaimedJob] in
            let rows = try await connection.query(
                """
                WITH claimed AS (
                    SELECT j.job_id, j.lease_epoch, j.lease_until, j.terminal_stored,
                        COALESCE((SELECT max(a.sequence) FROM webhook_events a
                            WHERE a.job_id = j.job_id AND a.attempt_count > 0 AND NOT a.redelivered), 0) AS highest
                    FROM webhook_jobs j
                    WHERE j.job_id = ANY(\(jobIDs)::text[]) AND j.lease_owner = \(owner))
                \(unescaped: Self.claimedWithPendingEvents)
                """, logger: logger)
            return try await Self.claimedJobs(from: rows, owner: owner)
        }
        var byJob = [String: [OutboxEvent]]()
        for job in held where !job.events.isEmpty { byJob[job.lease.jobID] = job.events }
        return byJob
    }

    /// Extends the leases this worker still holds (owner and epoch unchanged), in one statement
    /// that locks the rows in job id order (as every writer does, so renewals never deadlock with
    /// appends or attempt records).
    /// - Returns: the leases lost: their job's epoch or owner moved on (or the job is gone).
    public func renewLeases(_ leases: [JobLease], at time: Timestamp) async throws(OutboxError) -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let (owner, logger) = (self.owner, self.logger)
        let lease = configuration.leaseDuration.wholeMilliseconds
        let ours = leases.filter { $0.owner == owner }
        let renewed = try await database.withConnection(failure: .writeFailed) { connection -> Set<String> in
            let rows = try await connection.query(
                """
                WITH wanted AS (
                    SELECT j.job_id FROM webhook_jobs j
                    JOIN unnest(\(ours.map(\.jobID))::text[], \(ours.map(\.epoch))::int8[]) AS u(job_id, epoch)
                        ON u.job_id = j.job_id AND u.epoch = j.lease_epoch
                    WHERE j.lease_owner = \(owner)
                    ORDER BY j.job_id
                    FOR NO KEY UPDATE OF j)
                UPDATE webhook_jobs j SET lease_until = now() + \(lease) * interval '1 millisecond'
                FROM wanted WHERE j.job_id = wanted.job_id
                RETURNING j.job_id
                """, logger: logger)
            var renewed = Set<String>()
            for try await jobID in rows.decode(String.self) { renewed.insert(jobID) }
            return renewed
        }
        let lost = leases.filter { !renewed.contains($0.jobID) }
        for lease in lost { book.lose(lease.jobID, epoch: lease.epoch) }
        return lost
    }

    /// Gives a lease up, unless an event of the job is due within the claim look-ahead (an append
    /// raced the release: the job stays held, as it would be claimed straight back). A job whose
    /// next attempt is far away is released: its lease does not pin it through a long back-off,
    /// and it is claimed again once due.
    public func releaseLease(_ lease: JobLease) async throws(OutboxError) {
        // A job this process runs keeps its lease until the run ends (its events may be done first).
        if book.isPinned(lease.jobID) { return }
        let logger = self.logger
        let ahead = configuration.claimAhead.wholeMilliseconds
        let released = try await database.withConnection(failure: .writeFailed) { connection -> Bool in
            let rows = try await connection.query(
                """
                UPDATE webhook_jobs SET lease_owner = NULL, lease_until = NULL
                WHERE job_id = \(lease.jobID) AND lease_owner = \(lease.owner) AND lease_epoch = \(lease.epoch)
                    AND (next_due_at IS NULL
                        OR next_due_at > floor(extract(epoch FROM now()) * 1000)::int8 + \(ahead))
                RETURNING job_id
                """, logger: logger
            ).collect()
            return !rows.isEmpty
        }
        if released { book.forget(lease.jobID, epoch: lease.epoch) }
    }

    /// The SQL that turns the `claimed` CTE (job id, epoch, lease end, terminal-stored, highest
    /// attempted sequence) into rows of each claimed job with its pending events.
    static let claimedWithPendingEvents = """
        SELECT c.job_id AS claimed_job_id, c.lease_epoch AS claimed_epoch,
            floor(extract(epoch FROM c.lease_until) * 1000)::int8 AS claimed_until,
            c.terminal_stored AS claimed_terminal_stored, c.highest AS claimed_highest,
            \(PostgresEventRow.columns(prefix: "e."))
        FROM claimed c
        LEFT JOIN webhook_events e ON e.job_id = c.job_id AND e.state = 'pending'
        ORDER BY c.job_id, e.sequence
        """

    /// Reads the rows of ``claimedWithPendingEvents``: one ``ClaimedJob`` per job, its events in
    /// sequence order.
    static func claimedJobs(from rows: PostgresRowSequence, owner: String) async throws -> [ClaimedJob] {
        var jobs = [ClaimedJob]()
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let jobID = try cells["claimed_job_id"].decode(String.self)
            if jobs.last?.lease.jobID != jobID {
                jobs.append(
                    ClaimedJob(
                        lease: JobLease(
                            jobID: jobID, owner: owner, epoch: try cells["claimed_epoch"].decode(Int64.self),
                            expiresAt: Timestamp(milliseconds: try cells["claimed_until"].decode(Int64.self))),
                        events: []))
            }
            // A job whose pending events ended meanwhile comes without any (a null join).
            guard try cells["event_id"].decode(String?.self) != nil else { continue }
            var event = try PostgresEventRow.event(from: cells, body: nil)
            event.jobTerminalStored = try cells["claimed_terminal_stored"].decode(Bool.self)
            event.jobHighestAttemptedSequence = try cells["claimed_highest"].decode(Int64.self)
            jobs[jobs.count - 1].events.append(event)
        }
        return jobs
    }
}
