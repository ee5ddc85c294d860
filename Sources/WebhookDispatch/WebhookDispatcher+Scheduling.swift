import Logging
import WebhookCore

extension WebhookDispatcher {
    // MARK: - Feeding the machines

    /// Runs `body` on the job's machine (made on first use), then carries out its actions and
    /// forgets the machine once it has nothing left to remember.
    @discardableResult
    func withJob<R>(
        _ jobID: String, callbackURL: String, _ body: (inout JobDeliveryMachine, inout [JobDeliveryMachine.Action]) -> R
    ) -> R {
        var actions = self.actions
        self.actions = []
        actions.removeAll(keepingCapacity: true)
        let slot: JobSlot
        if let existing = jobs[jobID] {
            slot = existing
        } else {
            slot = JobSlot(JobDeliveryMachine(jobID: jobID, callback: sharedCallback(callbackURL)))
            jobs[jobID] = slot
        }
        let before = slot.machine.pendingCount
        let wasEvicted = slot.machine.evicted
        let result = body(&slot.machine, &actions)
        let after = slot.machine.pendingCount
        if slot.machine.evicted != wasEvicted {
            jobsEvicted += wasEvicted ? -1 : 1
            metrics.setEvictedJobs(jobsEvicted)
        }
        if slot.machine.isFinished { jobs[jobID] = nil }
        countPending(after - before)
        for action in actions { carryOut(action, jobID: jobID, callbackURL: callbackURL) }
        actions.removeAll(keepingCapacity: true)
        self.actions = actions
        return result
    }

    /// The ``Callback`` of `url`, shared by the jobs that name the same URL.
    private func sharedCallback(_ url: String) -> Callback {
        if let known = callbacks[url] { return known }
        // Bounded: per-job URLs (a query string per job) would otherwise grow it without end.
        if callbacks.count >= 1024 { callbacks.removeAll(keepingCapacity: true) }
        let callback = Callback(url: url)
        callbacks[url] = callback
        return callback
    }

    private func countPending(_ delta: Int) {
        guard delta != 0 else { return }
        pendingEvents += delta
    }

    private func carryOut(_ action: JobDeliveryMachine.Action, jobID: String, callbackURL: String) {
        switch action {
        case .storeDraft(let draft):
            heldProgressInput.yield(draft)
        case .persist(let change):
            pendingChanges.append(change)
            changesHandedOver += 1
            changesReadyInput.yield()
        case .holdUntilStored:
            pendingStoreGates.append(jobID)
        case .report(let report):
            metrics.count(report.kind, report.outcome, attempted: report.attempt != nil)
            observer.record(
                DeliveryRecord(
                    time: clock.now, eventID: report.eventID, jobID: jobID, kind: report.kind, sequence: report.sequence,
                    attempt: report.attempt, url: callbackURL, statusCode: report.statusCode, outcome: report.outcome,
                    durationMs: report.durationMs, error: report.error, nextAttemptAt: report.nextAttemptAt))
        case .resolveWaiter(let id, let result):
            waiters.removeValue(forKey: id)?.resume(returning: result)
        case .armTimer(let deadline):
            arm(.job(jobID), at: deadline)
        case .releasedBody(let bytes):
            bodyBytesHeld -= bytes
        }
    }

    /// Whether an event body of `size` bytes may stay in memory (it is charged if so).
    func reserveBody(_ size: Int, paused: Bool) -> Bool {
        // Bodies of a paused origin's events would sit in memory for a long time: read them back when due.
        guard size > 0, !paused, bodyBytesHeld + size <= configuration.bodyCacheBytes else { return false }
        bodyBytesHeld += size
        return true
    }

    func originState(_ origin: Origin) -> OriginState {
        if let state = origins[origin] { return state }
        let state = OriginState(
            breaker: OriginBreaker(
                failureThreshold: configuration.breakerFailureThreshold, firstProbeDelay: configuration.firstProbeDelay,
                maxProbeInterval: configuration.maxProbeInterval),
            now: clock.now)
        if origins.isEmpty { arm(.pruneOrigins, at: clock.now.advanced(by: configuration.originIdleTimeout)) }
        origins[origin] = state
        return state
    }

    /// Takes a stored event into its job's machine.
    func accept(_ event: OutboxEvent, redelivery: Bool, pumpNow: Bool = true) {
        // The job's machine knows its origin already: parse the URL only for a job seen first.
        let origin = jobs[event.jobID]?.machine.origin ?? Origin(url: event.callbackURL)
        let paused = origin.flatMap { origins[$0] }?.breaker.isPaused ?? false
        let keep = event.state == .pending && reserveBody(event.body?.count ?? 0, paused: paused)
        let now = clock.now
        let kept = withJob(event.jobID, callbackURL: event.callbackURL) { job, actions in
            job.accept(event, now: now, keepBody: keep, redelivery: redelivery, into: &actions)
        }
        // Not queued with its body (superseded, already final, a duplicate): give the bytes back.
        if keep && !kept { bodyBytesHeld -= event.body?.count ?? 0 }
        if let trace = event.trace, let slot = jobs[event.jobID], slot.trace == nil { slot.trace = trace }
        if pumpNow { pump(event.jobID) }
    }

    // MARK: - Scheduling

    /// Starts the job's head attempt if it is due and its origin lets it; otherwise arranges to
    /// come back (timer, origin slot, probe).
    func pump(_ jobID: String) {
        guard !draining, let slot = jobs[jobID] else { return }
        let now = clock.now
        let callbackURL = slot.machine.callbackURL
        let poll = withJob(jobID, callbackURL: callbackURL) { job, actions in job.poll(now: now, into: &actions) }
        if poll == .evicted {
            restoreOrPark(jobID, slot: slot, now: now)
            return
        }
        guard poll == .ready, let origin = slot.machine.origin else { return }
        let state = originState(origin)
        var probe = false
        if state.breaker.isPaused {
            let probeDue = !state.probeInFlight && state.breaker.isProbeDue(now: now)
            if probeDue && attemptsInFlight >= configuration.maxInFlight {
                // The probe waits for a global slot like any attempt: begun now, it would leave
                // the breaker probing with nothing in flight, and the origin paused for good.
                globalWaiting.append(jobID)
                return
            }
            if probeDue && state.breaker.beginProbe(now: now) {
                probe = true
            } else {
                park(jobID, callbackURL: callbackURL, behind: origin, state)
                return
            }
        } else if state.inFlight >= configuration.perOriginConcurrency {
            state.wait(jobID)
            return
        }
        if attemptsInFlight >= configuration.maxInFlight {
            globalWaiting.append(jobID)
            return
        }
        guard let attempt = slot.machine.beginAttempt(now: now, isProbe: probe) else { return }
        state.inFlight += 1
        if probe { state.probeInFlight = true }
        attemptsInFlight += 1
        nextAttemptKey += 1
        let item = DeliveryWork(
            key: nextAttemptKey, jobID: jobID, eventID: attempt.eventID, kind: attempt.kind, sequence: attempt.sequence,
            attempt: attempt.number, url: callbackURL, body: attempt.body, isProbe: probe, trace: slot.trace)
        if !stopping, let body = item.body {
            launch(item, body: body)
        } else if stopping || workInput.yield(item).isTerminated {
            // Shutting down: the event stays pending in the store for the next start.
            state.inFlight -= 1
            if probe { state.probeInFlight = false }
            attemptsInFlight -= 1
            withJob(jobID, callbackURL: callbackURL) { job, actions in
                _ = job.attemptEnded(
                    attempt.eventID, result: .interrupted, now: now, policy: configuration.retryPolicy, random: 0,
                    into: &actions)
            }
            return
        }
        metrics.setInFlight(attemptsInFlight)
    }

    /// Parks a job behind its paused origin: it stops waiting (its terminal waiter is told the
    /// event is queued), drops its cached bodies and gives its queue up when quiet.
    private func park(_ jobID: String, callbackURL: String, behind origin: Origin, _ state: OriginState) {
        var probeAt: Timestamp?
        if case .open(let at, _) = state.breaker.state {
            probeAt = at
            if state.probeArmedAt != at {
                state.probeArmedAt = at
                arm(.probe(origin), at: at)
            }
        }
        let newlyParked = state.parked.insert(jobID).inserted
        // Behind an open or a probing origin alike, a waiting job stops waiting.
        let evict = configuration.evictParkedJobs
        withJob(jobID, callbackURL: callbackURL) { job, actions in
            if newlyParked { job.dropBodies(into: &actions) }
            job.parked(probeAt: probeAt, into: &actions)
            if evict { job.evict(into: &actions) }
        }
    }

    /// An evicted job was pumped: behind a paused origin it stays parked (its queue is read back
    /// only to carry a due probe); otherwise its queue is read back and it goes on from there.
    private func restoreOrPark(_ jobID: String, slot: JobSlot, now: Timestamp) {
        guard let origin = slot.machine.origin else { return }
        let state = originState(origin)
        guard state.breaker.isPaused else {
            scheduleRestore(jobID)
            return
        }
        var probeAt: Timestamp?
        if case .open(let at, _) = state.breaker.state {
            probeAt = at
            if at <= now && !state.probeInFlight && state.probeCarrier == nil {
                // The probe is due and no resident job took it: this one will, once restored.
                state.probeCarrier = jobID
                state.parked.remove(jobID)
                scheduleRestore(jobID, carriesProbe: true)
                return
            }
            if state.probeArmedAt != at {
                state.probeArmedAt = at
                arm(.probe(origin), at: at)
            }
        }
        state.parked.insert(jobID)
        // A terminal event accepted while evicted: its job stops waiting, as behind any paused origin.
        withJob(jobID, callbackURL: slot.machine.callbackURL) { job, actions in job.parked(probeAt: probeAt, into: &actions) }
    }

    /// Takes an attempt's result back: breaker, the machine's decision, next work.
    func complete(_ item: DeliveryWork, startedAt: Timestamp, duration: Duration, result: Result<WebhookResponse, TransportError>) {
        // The counters go down whatever became of the job meanwhile (its lease may have moved on).
        let slot = jobs[item.jobID]
        guard let origin = slot?.machine.origin ?? Origin(url: item.url) else { return }
        let state = originState(origin)
        state.inFlight -= 1
        state.lastUsed = clock.now
        attemptsInFlight -= 1
        metrics.setInFlight(attemptsInFlight)
        if attemptsInFlight == 0 {
            attemptsIdle.signal()
            lastAttemptEnded?.resume()
            lastAttemptEnded = nil
        }
        if item.isProbe { state.probeInFlight = false }
        guard let slot, slot.machine.inFlightEventID == item.eventID else {
            // The probe's job went away meanwhile (its lease moved on): its answer still decides
            // the breaker, which would otherwise stay probing with nothing in flight.
            if item.isProbe { settleOrphanedProbe(state, origin: origin, result: result) }
            pumpWaiting(state)
            return
        }
        let callbackURL = slot.machine.callbackURL

        let now = clock.now
        let outcome: JobDeliveryMachine.AttemptResult
        if case .failure(let error) = result, error.code == .cancelled || error.code == .shutdown {
            // Interrupted, not answered: the attempt does not count and the event stays pending.
            outcome = .interrupted
            if item.isProbe { reopenAfterUnansweredProbe(state, origin: origin, now: now) }
        } else {
            let verdict: AttemptVerdict
            var statusCode: Int?
            var errorText: String?
            switch result {
            case .success(let response):
                verdict = AttemptVerdict.of(response, now: now)
                statusCode = response.statusCode
                if case .success = verdict {} else { errorText = Self.describe(verdict) }
            case .failure(let error):
                verdict = AttemptVerdict.of(error)
                errorText = error.description
            }
            metrics.attemptTook(item.kind, duration)
            updateBreaker(state, origin: origin, unhealthy: verdict.indicatesUnhealthyReceiver, probe: item.isProbe, now: now)
            outcome = .ended(
                verdict: verdict, statusCode: statusCode, error: errorText, startedAt: startedAt,
                durationMs: duration.wholeMilliseconds)
        }
        let random = Double.random(in: 0..<1, using: &random)
        withJob(item.jobID, callbackURL: callbackURL) { job, actions in
            job.attemptEnded(
                item.eventID, result: outcome, now: now, policy: configuration.retryPolicy, random: random, into: &actions)
        }
        pump(item.jobID)
        pumpWaiting(state)
    }

    /// Judges the answer of a probe whose job is gone, for the breaker alone.
    private func settleOrphanedProbe(_ state: OriginState, origin: Origin, result: Result<WebhookResponse, TransportError>) {
        let now = clock.now
        let verdict: AttemptVerdict
        switch result {
        case .failure(let error) where error.code == .cancelled || error.code == .shutdown:
            reopenAfterUnansweredProbe(state, origin: origin, now: now)
            return
        case .failure(let error):
            verdict = AttemptVerdict.of(error)
        case .success(let response):
            verdict = AttemptVerdict.of(response, now: now)
        }
        updateBreaker(state, origin: origin, unhealthy: verdict.indicatesUnhealthyReceiver, probe: true, now: now)
    }

    /// A probe that got no answer leaves the origin paused with its next probe due now.
    private func reopenAfterUnansweredProbe(_ state: OriginState, origin: Origin, now: Timestamp) {
        guard let probeAt = state.breaker.probeUnanswered(now: now) else { return }
        state.probeArmedAt = probeAt
        arm(.probe(origin), at: probeAt)
    }

    /// Lets jobs waiting for a slot of this origin go, as far as its limit allows.
    private func pumpWaiting(_ state: OriginState) {
        while state.inFlight < configuration.perOriginConcurrency, !state.breaker.isPaused, let next = state.nextWaiting() {
            pump(next)
        }
        // Jobs held back by the global limit go as slots free up.
        while attemptsInFlight < configuration.maxInFlight, let next = globalWaiting.popFirst() {
            pump(next)
        }
    }

    /// Wakes parked jobs until one starts the due probe: pump() turns the first due head into
    /// the probe; a job not yet due arms its own timer and comes back then; an evicted job is
    /// read back first and takes the probe after (``restoreOrPark(_:slot:now:)``).
    func wakeParkedForProbe(_ state: OriginState) {
        for jobID in Array(state.parked) {
            guard state.breaker.isPaused, !state.probeInFlight, state.probeCarrier == nil else { break }
            state.parked.remove(jobID)
            pump(jobID)
        }
    }

    /// Forgets origins without an attempt for `originIdleTimeout` (a long-running worker meets
    /// many receivers once), and comes back while any origin is remembered.
    private func pruneOrigins() {
        let now = clock.now
        let cutoff = now.advanced(by: .zero - configuration.originIdleTimeout)
        for (origin, state) in origins where state.isIdle && state.lastUsed < cutoff {
            origins[origin] = nil
        }
        if !origins.isEmpty { arm(.pruneOrigins, at: now.advanced(by: configuration.originIdleTimeout)) }
    }

    private func updateBreaker(_ state: OriginState, origin: Origin, unhealthy: Bool, probe: Bool, now: Timestamp) {
        switch state.breaker.record(unhealthy: unhealthy, probe: probe, now: now) {
        case .none:
            break
        case .paused(let probeAt):
            pausedOriginCount += 1
            metrics.setPausedOrigins(pausedOriginCount)
            logger.warning(
                "webhook origin paused after repeated failures",
                metadata: [LogMetadataKey.webhookOrigin: "\(origin)", LogMetadataKey.webhookProbeAt: "\(probeAt)"])
            state.probeArmedAt = probeAt
            arm(.probe(origin), at: probeAt)
            // Jobs waiting for a slot of this origin now wait for its probe like the others (left
            // in `waiting`, nothing would wake them if no attempt of the origin is in flight),
            // parked as any job behind a paused origin: their queues given up.
            while let waitingJob = state.nextWaiting() {
                guard let slot = jobs[waitingJob] else { continue }
                park(waitingJob, callbackURL: slot.machine.callbackURL, behind: origin, state)
            }
        case .stillPaused(let probeAt):
            state.probeArmedAt = probeAt
            arm(.probe(origin), at: probeAt)
        case .resumed:
            pausedOriginCount -= 1
            metrics.setPausedOrigins(pausedOriginCount)
            logger.info("webhook origin answering again", metadata: [LogMetadataKey.webhookOrigin: "\(origin)"])
            let parked = state.parked
            state.parked.removeAll()
            for jobID in parked { pump(jobID) }
        }
    }

    private static func describe(_ verdict: AttemptVerdict) -> String? {
        switch verdict {
        case .success: nil
        case .retryable(let reason, _): reason
        case .rejected(let reason): reason
        case .gone: "HTTP 410 Gone"
        }
    }

    // MARK: - Timers

    func arm(_ target: TimerQueue.Target, at deadline: Timestamp) {
        timers.schedule(target, at: deadline)
        if let armed = timerLoopArmedFor, armed <= deadline { return }
        timerWake.signal()
    }

    func fireDueTimers() {
        let now = clock.now
        for target in timers.popDue(now: now) {
            switch target {
            case .job(let jobID):
                guard let slot = jobs[jobID] else { continue }
                withJob(jobID, callbackURL: slot.machine.callbackURL) { job, actions in
                    job.timerFired(now: now, interval: configuration.progressMinInterval, into: &actions)
                }
                pump(jobID)
            case .pruneOrigins:
                pruneOrigins()
            case .probe(let origin):
                guard let state = origins[origin] else { continue }
                state.probeArmedAt = nil
                wakeParkedForProbe(state)
            }
        }
    }
}

extension AsyncStream.Continuation.YieldResult {
    /// The stream was finished: the element was dropped.
    fileprivate var isTerminated: Bool {
        if case .terminated = self { return true }
        return false
    }
}
