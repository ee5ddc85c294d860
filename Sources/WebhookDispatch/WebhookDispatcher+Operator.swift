public import WebhookCore

/// What an operator does across jobs (SPEC sections 4 and 9): discard pending events.
extension WebhookDispatcher where Store: DeliveryListing {
    /// Ends pending events without further attempts (`POST /deliveries/discard`).
    ///
    /// Events of jobs this dispatcher tracks are ended by their job's machine, so nothing queued
    /// in memory is sent afterwards; an event whose attempt is in flight is left to that attempt.
    /// Events of jobs it does not track are ended in the store (which, when shared, leaves alone
    /// jobs another live worker holds).
    /// - Returns: the events ended.
    /// - Throws: ``OutboxError`` when the store could not be written.
    public func discard(_ matches: [BulkMatch], reason: String) async throws(OutboxError) -> [EventID] {
        try await waitForRecovery()
        let now = clock.now
        var ended = [EventID]()
        var untracked = [EventID]()
        var byJob = [String: Set<EventID>]()
        for match in matches { byJob[match.jobID, default: []].insert(match.id) }
        var evicted = [String: Set<EventID>]()
        for (jobID, ids) in byJob {
            guard let slot = jobs[jobID] else {
                untracked.append(contentsOf: ids)
                continue
            }
            let endedHere = withJob(jobID, callbackURL: slot.machine.callbackURL) { job, actions in
                job.discard(ids, reason: reason, now: now, into: &actions)
            }
            ended += endedHere
            if slot.machine.evicted {
                // Its other events are in the store only: they are ended there, and a read-back
                // under way must not bring them back.
                let rest = ids.subtracting(endedHere)
                if slot.machine.restoring { slot.discardedWhileRestoring = (slot.discardedWhileRestoring ?? []).union(rest) }
                evicted[jobID] = rest
                untracked.append(contentsOf: rest)
            }
            pump(jobID)
        }
        let endedInStore = try await store.discard(untracked, reason: reason, at: now)
        ended += endedInStore
        if !evicted.isEmpty {
            let endedSet = Set(endedInStore)
            for (jobID, ids) in evicted {
                let count = ids.reduce(0) { $0 + (endedSet.contains($1) ? 1 : 0) }
                guard count > 0, let slot = jobs[jobID] else { continue }
                withJob(jobID, callbackURL: slot.machine.callbackURL) { job, _ in job.evictedEventsEnded(count) }
            }
        }
        return ended
    }

}

/// The origins this process delivers to, for the operations page.
extension WebhookDispatcher {
    /// The origins this dispatcher remembers, busiest first.
    public var originSnapshots: [OriginSnapshot] {
        origins.map { origin, state in
            let breaker: String
            var probeAt: Timestamp?
            switch state.breaker.state {
            case .closed: breaker = "closed"
            case .open(let at, _):
                breaker = "open"
                probeAt = at
            case .probing: breaker = "probing"
            }
            return OriginSnapshot(
                origin: origin.description, breaker: breaker, inFlight: state.inFlight, waitingJobs: state.waiting.count,
                parkedJobs: state.parked.count, nextProbeAt: probeAt)
        }.sorted { ($0.inFlight, $0.origin) > ($1.inFlight, $1.origin) }
    }
}
