import Logging
import NIOCore
import PostgresNIO
import WebhookCore

/// Appends events inside a caller's transaction: for ``PostgresOutboxStore/append(_:at:)`` and
/// for ``PostgresJobStore``, which commits a job's state with its events (a transactional outbox).
///
/// Two statements, whatever the number of drafts:
/// 1. an upsert of the drafts' `webhook_jobs` rows, in job id order, that locks them and returns
///    their next sequence, terminal and gone flags and lease: appends of one job queue here,
///    across workers, so sequences are gapless and unique;
/// 2. one statement that moves the rows on (next sequence, terminal stored, lease, due time) and
///    inserts every event (`unnest` of arrays).
struct EventAppender: Sendable {
    let owner: String
    let leaseMilliseconds: Int64
    let book: LeaseBook
    let logger: Logger

    /// What an append stored, and the leases it won or kept (the book takes them after the commit).
    struct Outcome: Sendable {
        var events: [OutboxEvent]
        /// For each event, the index of the draft it came from (a draft coalesced away has none).
        var draftIndices: [Int] = []
        var leases: [String: Int64]
    }

    /// The durable per-job facts read under the row lock.
    private struct JobRow {
        var nextSequence: Int64
        var terminalStored: Bool
        var gone: Bool
        var epoch: Int64
        var due: Int64?
    }

    static let goneReason = "callback gone (410)"

    /// Stores `drafts` in the transaction open on `connection`.
    /// - Throws: ``OutboxError`` `.leaseLost` when a job's lease is this worker's no more (or
    ///   another worker holds it alive); the caller rolls back, so nothing was stored.
    func append(_ drafts: [EventDraft], at time: Timestamp, on connection: PostgresConnection) async throws -> Outcome {
        try await append(drafts, times: Array(repeating: time, count: drafts.count), on: connection)
    }

    /// Stores `drafts`, each at its own time (appends of several callers batched into one
    /// transaction), in the transaction open on `connection`.
    func append(_ drafts: [EventDraft], times: [Timestamp], on connection: PostgresConnection) async throws -> Outcome {
        guard !drafts.isEmpty else { return Outcome(events: [], leases: [:]) }
        let jobIDs = Array(Set(drafts.map(\.jobID))).sorted()
        let rows = try await connection.query(
            """
            INSERT INTO webhook_jobs AS j (job_id)
            SELECT u.job_id FROM unnest(\(jobIDs)::text[]) AS u(job_id) ORDER BY u.job_id
            ON CONFLICT (job_id) DO UPDATE SET lease_epoch = j.lease_epoch
            RETURNING j.job_id, j.next_sequence, j.terminal_stored, j.gone, j.lease_owner, j.lease_epoch,
                COALESCE(j.lease_until > now(), false)
            """, logger: logger)
        var jobs = [String: JobRow]()
        for try await (jobID, next, terminal, gone, leaseOwner, epoch, live) in rows.decode(
            (String, Int64, Bool, Bool, String?, Int64, Bool).self)
        {
            jobs[jobID] = JobRow(
                nextSequence: next, terminalStored: terminal, gone: gone,
                epoch: try fencedEpoch(jobID: jobID, owner: leaseOwner, epoch: epoch, live: live))
        }

        var events = [OutboxEvent]()
        events.reserveCapacity(drafts.count)
        var draftIndices = [Int]()
        var bodies = [ByteBuffer]()
        var reasons = [Bool]()
        var createdAts = [Int64]()
        // An array of optionals does not bind: an empty string stands for none (NULLIF below).
        var traces = [String]()
        for (index, draft) in drafts.enumerated() {
            let time = times[index]
            guard var job = jobs[draft.jobID] else { throw OutboxError(.writeFailed, "job row missing after upsert") }
            // After the terminal event, progress is an update coalesced away: no row, no sequence.
            if job.terminalStored && !draft.kind.isTerminal { continue }
            let id = EventID.generate(at: time)
            let sequence = job.nextSequence
            let body = draft.body(id: id, sequence: sequence)
            var event = OutboxEvent(
                id: id, jobID: draft.jobID, sequence: sequence, kind: draft.kind, callbackURL: draft.callbackURL,
                body: body, createdAt: time)
            event.trace = draft.trace
            if job.gone { event.state = draft.kind.isTerminal ? .failed : .dropped }
            if event.state == .pending { job.due = min(job.due ?? time.milliseconds, time.milliseconds) }
            job.nextSequence += 1
            if draft.kind.isTerminal { job.terminalStored = true }
            jobs[draft.jobID] = job
            events.append(event)
            draftIndices.append(index)
            bodies.append(ByteBuffer(bytes: body))
            reasons.append(job.gone)
            createdAts.append(time.milliseconds)
            traces.append(draft.trace?.storedForm ?? "")
        }

        let noDue = Int64.min
        let jobColumns = try jobIDs.map { jobID in
            guard let job = jobs[jobID] else { throw OutboxError(.writeFailed, "job row missing after upsert") }
            return job
        }
        try await connection.query(
            """
            WITH moved AS (
                UPDATE webhook_jobs j SET next_sequence = u.next_sequence, terminal_stored = u.terminal_stored,
                    lease_owner = \(owner), lease_epoch = u.lease_epoch,
                    lease_until = now() + \(leaseMilliseconds) * interval '1 millisecond',
                    next_due_at = LEAST(j.next_due_at, NULLIF(u.due, \(noDue)))
                FROM unnest(\(jobIDs)::text[], \(jobColumns.map(\.nextSequence))::int8[],
                    \(jobColumns.map(\.terminalStored))::bool[], \(jobColumns.map(\.epoch))::int8[],
                    \(jobColumns.map { $0.due ?? noDue })::int8[])
                    AS u(job_id, next_sequence, terminal_stored, lease_epoch, due)
                WHERE j.job_id = u.job_id
                RETURNING 1)
            INSERT INTO webhook_events (event_id, job_id, sequence, event_type, callback_url, body, state, created_at,
                series_started_at, next_attempt_at, final_reason, updated_at, trace)
            SELECT e.event_id, e.job_id, e.sequence, e.event_type, e.callback_url, e.body, e.state, e.created_at,
                e.created_at, e.created_at, CASE WHEN e.gone THEN \(Self.goneReason) END, e.created_at, NULLIF(e.trace, '')
            FROM unnest(\(events.map(\.id.description))::text[], \(events.map(\.jobID))::text[],
                \(events.map(\.sequence))::int8[], \(events.map(\.kind.rawValue))::text[],
                \(events.map(\.callbackURL))::text[], \(bodies)::bytea[], \(events.map(\.state.rawValue))::text[],
                \(reasons)::bool[], \(createdAts)::int8[], \(traces)::text[])
                AS e(event_id, job_id, sequence, event_type, callback_url, body, state, gone, created_at, trace)
            """, logger: logger)
        return Outcome(events: events, draftIndices: draftIndices, leases: jobs.mapValues(\.epoch))
    }

    /// The epoch the append holds the job at, or `.leaseLost`.
    ///
    /// A job this process holds must still be at the book's epoch and owner; one it lost stays
    /// refused; one it never held is taken when free (or its holder's lease lapsed), and refused
    /// while another worker holds it alive.
    private func fencedEpoch(jobID: String, owner rowOwner: String?, epoch: Int64, live: Bool) throws -> Int64 {
        switch book.standing(of: jobID) {
        case .lost:
            throw OutboxError(.leaseLost, "this worker lost the lease on job \(jobID)")
        case .held(let held):
            guard rowOwner == owner, epoch == held else {
                book.lose(jobID, epoch: held)
                throw OutboxError(.leaseLost, "job \(jobID) was claimed by another worker (epoch \(held) moved on)")
            }
            return held
        case nil:
            if rowOwner == owner { return epoch }
            if live { throw OutboxError(.leaseLost, "job \(jobID) is leased by another worker") }
            return epoch + 1
        }
    }
}
