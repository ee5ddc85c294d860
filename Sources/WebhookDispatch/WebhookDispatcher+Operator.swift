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
        var evicted = [(slot: JobSlot, jobID: String, rest: Set<EventID>)]()
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
                // Its other events are in the store only: they are ended there. A read-back issued
                // before that is stored may return them (and those ended above, queued during a
                // read-back under way) as pending: it must not bring them back.
                let rest = ids.subtracting(endedHere)
                let filter = slot.discards ?? DiscardFilter()
                filter.ids.formUnion(ids)
                filter.underWay += 1
                slot.discards = filter
                evicted.append((slot, jobID, rest))
                untracked.append(contentsOf: rest)
            }
            pump(jobID)
        }
        let outcome: Result<[EventID], OutboxError>
        do {
            outcome = .success(try await store.discard(untracked, reason: reason, at: now))
        } catch {
            outcome = .failure(error)
        }
        if !evicted.isEmpty {
            discardReturns += 1
            let endedInStore = Set((try? outcome.get()) ?? [])
            for (slot, jobID, rest) in evicted {
                if let filter = slot.discards {
                    filter.underWay -= 1
                    filter.lastReturn = discardReturns
                    // The store failed: nothing of `rest` was ended, nothing to keep out of a
                    // read-back. (Ids it did not end because they were final already stay: they are
                    // not pending.)
                    if case .failure = outcome { filter.ids.subtract(rest) }
                    // No read-back under way: any later one reads the store after this discard.
                    if filter.underWay == 0 && !slot.machine.restoring { slot.discards = nil }
                }
                let endedThere = rest.filter(endedInStore.contains)
                guard !endedThere.isEmpty, jobs[jobID] === slot else { continue }
                withJob(jobID, callbackURL: slot.machine.callbackURL) { job, actions in
                    job.evictedEventsEnded(Array(endedThere), reason: reason, into: &actions)
                }
            }
            // Read-backs waiting for these discards to settle may merge now.
            for waiter in discardWaiters { waiter.resume() }
            discardWaiters.removeAll()
        }
        ended += try outcome.get()
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
