/// An outbox that lives in memory: for tests, demos and benchmarks that must not touch a disk.
/// It loses everything with the process, so production uses `SQLiteOutboxStore`.
public actor InMemoryOutboxStore: OutboxStore, OutboxReadModel {
    private var events: [EventID: OutboxEvent] = [:]
    private var order: [EventID] = []
    private var attempts: [EventID: [AttemptRecord]] = [:]
    private var reasons: [EventID: String] = [:]
    private var nextSequence: [String: Int64] = [:]
    private var goneJobs: Set<String> = []
    /// Jobs whose terminal event is stored: later started/progress drafts never become events.
    private var terminalJobs: Set<String> = []
    /// Jobs this (single) owner holds: claimed, or with events it appended.
    private var ownedJobs: Set<String> = []
    private var epochs: [String: Int64] = [:]

    /// Creates an empty store.
    public init() {}

    public func append(_ drafts: [EventDraft], at time: Timestamp) throws(OutboxError) -> [OutboxEvent] {
        var stored = [OutboxEvent]()
        for draft in drafts {
            if !draft.kind.isTerminal && terminalJobs.contains(draft.jobID) { continue }
            ownedJobs.insert(draft.jobID)
            if draft.kind.isTerminal { terminalJobs.insert(draft.jobID) }
            let sequence = (nextSequence[draft.jobID] ?? 1)
            nextSequence[draft.jobID] = sequence + 1
            let id = EventID.generate(at: time)
            var event = OutboxEvent(
                id: id, jobID: draft.jobID, sequence: sequence, kind: draft.kind, callbackURL: draft.callbackURL,
                body: draft.body(id: id, sequence: sequence), createdAt: time)
            event.trace = draft.trace
            if goneJobs.contains(draft.jobID) {
                event.state = draft.kind.isTerminal ? .failed : .dropped
                reasons[id] = "callback gone (410)"
            }
            events[id] = event
            order.append(id)
            stored.append(event)
        }
        return stored
    }

    public func apply(_ changes: [OutboxChange]) throws(OutboxError) {
        for change in changes {
            switch change {
            case .attempted(let id, let record, let next):
                guard var event = events[id] else { continue }
                event.attempts = max(event.attempts, record.attempt)
                event.seriesAttempts += 1
                event.state = record.outcome.state
                if let next { event.nextAttemptAt = next }
                events[id] = event
                attempts[id, default: []].append(record)
            case .finished(let id, let state, let reason, _):
                guard var event = events[id] else { continue }
                event.state = state
                events[id] = event
                reasons[id] = reason
            case .seriesRestarted(let id, let time):
                guard var event = events[id] else { continue }
                event.state = .pending
                event.redelivered = true
                event.seriesStartedAt = time
                event.seriesAttempts = 0
                event.nextAttemptAt = time
                events[id] = event
                reasons[id] = nil
            case .callbackGone(let jobID, _):
                goneJobs.insert(jobID)
            }
        }
    }

    /// One owner: leases never lapse.
    public nonisolated var leaseDuration: Duration? { nil }

    public func claimJobs(limit: Int, at time: Timestamp) throws(OutboxError) -> [ClaimedJob] {
        var claimed = [ClaimedJob]()
        var seen = Set<String>()
        for id in order {
            guard claimed.count < limit, let event = events[id], event.state == .pending else { continue }
            let jobID = event.jobID
            guard !ownedJobs.contains(jobID), seen.insert(jobID).inserted else { continue }
            var pending = order.compactMap { events[$0] }.filter { $0.jobID == jobID && $0.state == .pending }
            pending.sort { $0.sequence < $1.sequence }
            let highest = events.values.filter { $0.jobID == jobID && $0.attempts > 0 && !$0.redelivered }
                .map(\.sequence).max() ?? 0
            for index in pending.indices {
                pending[index].body = nil
                pending[index].jobTerminalStored = terminalJobs.contains(jobID)
                pending[index].jobHighestAttemptedSequence = highest
            }
            epochs[jobID, default: 0] += 1
            claimed.append(ClaimedJob(lease: JobLease(jobID: jobID, owner: "memory", epoch: epochs[jobID] ?? 1, expiresAt: nil), events: pending))
        }
        for job in claimed { ownedJobs.insert(job.lease.jobID) }
        return claimed
    }

    public func pendingEvents(ofJobs jobIDs: [String]) throws(OutboxError) -> [String: [OutboxEvent]] {
        // One pass over the events, whatever the number of jobs asked for.
        let wanted = Set(jobIDs)
        var byJob = [String: [OutboxEvent]]()
        var highest = [String: Int64]()
        for id in order {
            guard var event = events[id], wanted.contains(event.jobID) else { continue }
            if event.attempts > 0 && !event.redelivered { highest[event.jobID] = max(highest[event.jobID] ?? 0, event.sequence) }
            guard event.state == .pending else { continue }
            event.body = nil
            byJob[event.jobID, default: []].append(event)
        }
        for (jobID, pending) in byJob {
            byJob[jobID] = pending.sorted { $0.sequence < $1.sequence }.map { event in
                var event = event
                event.jobTerminalStored = terminalJobs.contains(jobID)
                event.jobHighestAttemptedSequence = highest[jobID] ?? 0
                return event
            }
        }
        return byJob
    }

    public func renewLeases(_ leases: [JobLease], at time: Timestamp) throws(OutboxError) -> [JobLease] {
        leases.filter { epochs[$0.jobID, default: 0] != $0.epoch }
    }

    public func releaseLease(_ lease: JobLease) throws(OutboxError) {
        guard epochs[lease.jobID, default: 0] == lease.epoch else { return }
        ownedJobs.remove(lease.jobID)
    }

    /// Forgets which jobs this owner holds, as a restarted process would (its leases are gone
    /// with it), so the next claims hand the backlog out again.
    public func simulateRestart() {
        ownedJobs.removeAll()
    }

    public func body(of id: EventID) throws(OutboxError) -> [UInt8] {
        guard let body = events[id]?.body else { throw OutboxError(.notFound, "no event \(id)") }
        return body
    }

    public func redeliver(_ id: EventID, at time: Timestamp) throws(OutboxError) -> OutboxEvent {
        guard var event = events[id] else { throw OutboxError(.notFound, "no event \(id)") }
        event.state = .pending
        event.seriesStartedAt = time
        event.seriesAttempts = 0
        event.nextAttemptAt = time
        event.redelivered = true
        events[id] = event
        reasons[id] = nil
        // Move it to the end so a pending listing sees it after the rest of its job's backlog.
        order.removeAll { $0 == id }
        order.append(id)
        return event
    }

    public func history(of id: EventID) throws(OutboxError) -> EventHistory? {
        guard let event = events[id] else { return nil }
        let list = attempts[id] ?? []
        return EventHistory(event: event, attempts: list, lastStatusCode: list.last?.statusCode, finalReason: reasons[id])
    }

    public func histories(ofJob jobID: String) throws(OutboxError) -> [EventHistory] {
        order.compactMap { events[$0] }.filter { $0.jobID == jobID }.sorted { $0.sequence < $1.sequence }.map {
            var event = $0
            event.body = nil
            let list = attempts[event.id] ?? []
            return EventHistory(event: event, attempts: list, lastStatusCode: list.last?.statusCode, finalReason: reasons[event.id])
        }
    }

    public func newestEvent(ofJob jobID: String) throws(OutboxError) -> EventHistory? {
        guard var event = events.values.filter({ $0.jobID == jobID }).max(by: { $0.sequence < $1.sequence }) else {
            return nil
        }
        event.body = nil
        return EventHistory(event: event, attempts: [], lastStatusCode: attempts[event.id]?.last?.statusCode, finalReason: reasons[event.id])
    }

    public func oldestPendingCreatedAt() throws(OutboxError) -> Timestamp? {
        events.values.filter { $0.state == .pending }.map(\.createdAt).min()
    }

    public func pendingCount() throws(OutboxError) -> Int {
        events.values.count { $0.state == .pending }
    }

    public func health() -> StoreHealth { .ready }
}
