import Logging
import PostgresNIO
public import WebhookCore

extension PostgresOutboxStore {
    /// Writes a batch of attempt records and state changes in one transaction:
    /// 1. the batch's job rows are locked in job id order (with their lease) — the fence: a job
    ///    whose row is not at the epoch this worker holds has its changes refused;
    /// 2. the accepted changes, one statement per round (an event appears once per round, so a
    ///    batch with two records of one event takes two rounds; the hot path takes one), each
    ///    kind of change an `unnest` of arrays in a data-modifying `WITH`;
    /// 3. the jobs' due times (the earliest pending attempt) recomputed in one statement.
    ///
    /// Refused changes are counted (`clipping_worker_store_fenced_changes_total`) and dropped,
    /// not thrown: the job's new holder repeats the work (see ``OutboxStore/apply(_:)``).
    public func apply(_ changes: [OutboxChange]) async throws(OutboxError) {
        guard !changes.isEmpty else { return }
        let (owner, logger, book) = (self.owner, self.logger, self.book)
        let outcome = try await database.transaction { connection -> (refused: Int, lostJobs: [String: Int64]) in
            let eventIDs = Array(Set(changes.compactMap(\.eventID).map(\.description)))
            let goneJobs = Array(Set(changes.compactMap(\.goneJobID)))
            let rows = try await connection.query(
                """
                WITH ev AS (SELECT event_id, job_id FROM webhook_events WHERE event_id = ANY(\(eventIDs)::text[])),
                -- One list of job ids (an OR of two conditions would keep the lock from the primary key index).
                wanted AS (SELECT job_id FROM ev UNION SELECT unnest(\(goneJobs)::text[])),
                locked AS (
                    SELECT job_id, lease_owner, lease_epoch FROM webhook_jobs
                    WHERE job_id IN (SELECT job_id FROM wanted)
                    ORDER BY job_id
                    FOR NO KEY UPDATE)
                SELECT l.job_id, l.lease_owner, l.lease_epoch, ev.event_id
                FROM locked l LEFT JOIN ev ON ev.job_id = l.job_id
                """, logger: logger)
            var jobOfEvent = [String: String]()
            var accepted = Set<String>()
            var lostJobs = [String: Int64]()
            for try await (jobID, rowOwner, epoch, eventID) in rows.decode((String, String?, Int64, String?).self) {
                if let eventID { jobOfEvent[eventID] = jobID }
                switch book.standing(of: jobID) {
                case .held(let held) where rowOwner == owner && epoch == held:
                    accepted.insert(jobID)
                case nil where rowOwner == owner:
                    accepted.insert(jobID)
                case .held(let held):
                    lostJobs[jobID] = held
                default:
                    break
                }
            }
            var refused = 0
            var rounds = [ChangeRound()]
            var roundOfEvent = [String: Int]()
            var roundOfJob = [String: Int]()
            for change in changes {
                let jobID = change.goneJobID ?? change.eventID.flatMap { jobOfEvent[$0.description] }
                guard let jobID, accepted.contains(jobID) else {
                    refused += 1
                    continue
                }
                // The round after the last one that touched the same event (or job, for gone).
                let round: Int
                if let id = change.eventID?.description {
                    round = roundOfEvent[id].map { $0 + 1 } ?? 0
                    roundOfEvent[id] = round
                } else {
                    round = roundOfJob[jobID].map { $0 + 1 } ?? 0
                    roundOfJob[jobID] = round
                }
                if round == rounds.count { rounds.append(ChangeRound()) }
                rounds[round].add(change)
            }
            for round in rounds where !round.isEmpty {
                try await round.write(on: connection, logger: logger)
            }
            let touched = Array(accepted)
            if !touched.isEmpty {
                try await connection.query(
                    """
                    UPDATE webhook_jobs j SET next_due_at = (
                        SELECT min(e.next_attempt_at) FROM webhook_events e WHERE e.job_id = j.job_id AND e.state = 'pending')
                    WHERE j.job_id = ANY(\(touched)::text[])
                    """, logger: logger)
            }
            return (refused, lostJobs)
        }
        for (jobID, epoch) in outcome.lostJobs { book.lose(jobID, epoch: epoch) }
        noteFenced(outcome.refused, jobs: Array(outcome.lostJobs.keys))
    }
}

extension OutboxChange {
    /// The event a change is about (nil for a job-wide change).
    var eventID: EventID? {
        switch self {
        case .attempted(let id, _, _), .finished(let id, _, _, _), .seriesRestarted(let id, _): id
        case .callbackGone: nil
        }
    }

    /// The job of a job-wide change.
    var goneJobID: String? {
        if case .callbackGone(let jobID, _) = self { return jobID }
        return nil
    }
}
