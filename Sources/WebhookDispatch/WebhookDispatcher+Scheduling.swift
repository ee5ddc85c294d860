import Logging
import WebhookCore

extension WebhookDispatcher {
    // MARK: - Queues

    func jobQueue(_ jobID: String, callbackURL: String) -> JobQueue {
        if let job = jobs[jobID] { return job }
        let job = JobQueue(jobID: jobID, callbackURL: callbackURL)
        jobs[jobID] = job
        return job
    }

    func originState(_ origin: Origin) -> OriginState {
        if let state = origins[origin] { return state }
        let state = OriginState(
            breaker: OriginBreaker(
                failureThreshold: configuration.breakerFailureThreshold, firstProbeDelay: configuration.firstProbeDelay,
                maxProbeInterval: configuration.maxProbeInterval))
        origins[origin] = state
        return state
    }

    /// Takes a stored event into its job's queue (or reports it, when the store already ended it).
    func accept(_ event: OutboxEvent, redelivery: Bool, pumpNow: Bool = true) {
        // Recovery may already have queued an event whose append was still returning.
        if pumpNow, recoveredIDs?.contains(event.id) == true { return }
        acceptedBeforeRecovery?.insert(event.id)
        let job = jobQueue(event.jobID, callbackURL: event.callbackURL)
        guard event.state == .pending else {
            // Stored already final: the job's callback is gone.
            report(event: event, job: job, outcome: event.state == .failed ? .failed : .dropped, attempt: nil,
                   statusCode: nil, durationMs: nil, error: "callback gone (410)", nextAttemptAt: nil)
            resolveWaiter(event.id, .failed(reason: "callback gone (410)"))
            return
        }
        if event.kind.isTerminal {
            job.terminalStored = true
        } else if job.terminalStored && !redelivery && !job.events.contains(where: { $0.kind.isTerminal && $0.sequence < event.sequence }) {
            // Stored before the terminal event but queued after it: it can no longer be sent in order.
            let now = clock.now
            pendingChanges.append(.finished(event.id, .superseded, reason: "superseded by the terminal event", at: now))
            changesReadyInput.yield()
            report(event: event, job: job, outcome: .superseded, attempt: nil, statusCode: nil, durationMs: nil,
                   error: "superseded by the terminal event", nextAttemptAt: nil)
            return
        }
        let size = event.body?.count ?? 0
        // Bodies of a paused origin's events would sit in memory for a long time: read them back when due.
        let paused = job.origin.flatMap { origins[$0] }?.breaker.isPaused ?? false
        let keepBody = size > 0 && !paused && bodyBytesHeld + size <= configuration.bodyCacheBytes
        if keepBody { bodyBytesHeld += size }
        job.insert(QueuedEvent(event, keepBody: keepBody))
        pendingEvents += 1
        metrics.setPending(pendingEvents)
        if pumpNow { pump(job) }
    }

    /// Ends every waiting (not in-flight) started/progress event of the job as superseded.
    func supersedeWaitingProgress(of job: JobQueue, at now: Timestamp) {
        var kept = [QueuedEvent]()
        for (index, event) in job.events.enumerated() {
            if event.kind.isTerminal || (index == 0 && job.inFlight) {
                if index == 0 && job.inFlight && !event.kind.isTerminal { job.supersedeInFlight = true }
                kept.append(event)
                continue
            }
            release(event)
            pendingChanges.append(.finished(event.id, .superseded, reason: "superseded by the terminal event", at: now))
            report(queued: event, job: job, outcome: .superseded, attempt: nil, statusCode: nil, durationMs: nil,
                   error: "superseded by the terminal event", nextAttemptAt: nil)
        }
        if kept.count != job.events.count {
            job.events = kept
            changesReadyInput.yield()
        }
    }

    // MARK: - Scheduling

    /// Starts the job's head attempt if it is due and its origin lets it; otherwise arranges to
    /// come back (timer, origin slot, probe).
    func pump(_ job: JobQueue) {
        guard !draining, !job.inFlight else { return }
        while let head = job.events.first {
            if job.gone {
                finishHead(job, state: head.kind.isTerminal ? .failed : .dropped, reason: "callback gone (410)")
                continue
            }
            guard let origin = job.origin else {
                finishHead(job, state: head.kind.isTerminal ? .failed : .dropped, reason: "callback URL has no scheme or host")
                continue
            }
            let now = clock.now
            if head.nextAttemptAt > now {
                if job.armedAt != head.nextAttemptAt {
                    job.armedAt = head.nextAttemptAt
                    arm(.job(job.jobID), at: head.nextAttemptAt)
                }
                return
            }
            let state = originState(origin)
            var probe = false
            if state.breaker.isPaused {
                if !state.probeInFlight && state.breaker.beginProbe(now: now) {
                    probe = true
                } else {
                    if state.parked.insert(job.jobID).inserted { dropBodies(of: job) }
                    if case .open(let probeAt, _) = state.breaker.state {
                        if state.probeArmedAt != probeAt {
                            state.probeArmedAt = probeAt
                            arm(.probe(origin), at: probeAt)
                        }
                        if head.kind.isTerminal { resolveWaiter(head.id, .queued(nextAttemptAt: probeAt)) }
                    }
                    return
                }
            } else if state.inFlight >= configuration.perOriginConcurrency {
                state.wait(job.jobID)
                return
            }
            start(job, origin: state, probe: probe)
            return
        }
        if job.isFinished { jobs[job.jobID] = nil }
    }

    private func start(_ job: JobQueue, origin: OriginState, probe: Bool) {
        let head = job.events[0]
        job.inFlight = true
        job.armedAt = nil
        origin.inFlight += 1
        if probe { origin.probeInFlight = true }
        attemptsInFlight += 1
        let item = DeliveryWork(
            jobID: job.jobID, eventID: head.id, kind: head.kind, sequence: head.sequence, attempt: head.attempts + 1,
            url: job.callbackURL, body: head.body, isProbe: probe)
        if case .terminated = workInput.yield(item) {
            // Shutting down: the event stays pending in the store for the next start.
            job.inFlight = false
            origin.inFlight -= 1
            if probe { origin.probeInFlight = false }
            attemptsInFlight -= 1
        } else {
            metrics.setInFlight(attemptsInFlight)
        }
    }

    /// Takes an attempt's result back: breaker, retry decision, records, next work.
    func complete(_ item: DeliveryWork, startedAt: Timestamp, duration: Duration, result: Result<WebhookResponse, TransportError>) {
        guard let job = jobs[item.jobID], job.inFlight, let head = job.events.first, head.id == item.eventID,
            let origin = job.origin
        else { return }
        let state = originState(origin)
        job.inFlight = false
        state.inFlight -= 1
        attemptsInFlight -= 1
        metrics.setInFlight(attemptsInFlight)
        if item.isProbe { state.probeInFlight = false }
        if case .failure(let error) = result, error.code == .cancelled || error.code == .shutdown {
            // Interrupted, not answered: the attempt does not count and the event stays pending.
            job.supersedeInFlight = false
            pump(job)
            return
        }

        let now = clock.now
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

        job.events[0].attempts = item.attempt
        job.events[0].seriesAttempts += 1
        let current = job.events[0]
        var decision = configuration.retryPolicy.decide(
            kind: current.kind, seriesAttempts: current.seriesAttempts, seriesStartedAt: current.seriesStartedAt,
            verdict: verdict, now: now, random: Double.random(in: 0..<1, using: &random))
        var superseded = false
        if job.supersedeInFlight {
            job.supersedeInFlight = false
            if case .delivered = decision {} else if !current.kind.isTerminal { superseded = true }
        }
        if superseded { decision = .dropped(reason: "superseded by the terminal event") }

        let durationMs = duration.wholeMilliseconds
        func record(_ outcome: AttemptOutcome, next: Timestamp?) {
            let attempt = AttemptRecord(
                attempt: item.attempt, startedAt: startedAt, durationMs: durationMs, statusCode: statusCode,
                error: errorText, outcome: outcome)
            pendingChanges.append(.attempted(item.eventID, attempt, nextAttemptAt: next))
            report(queued: current, job: job, outcome: outcome, attempt: item.attempt, statusCode: statusCode,
                   durationMs: durationMs, error: errorText, nextAttemptAt: next)
        }

        switch decision {
        case .delivered:
            record(.delivered, next: nil)
            popHead(job)
            resolveWaiter(current.id, .delivered(attempts: item.attempt))
        case .retry(let at, let quickPhaseOver):
            record(.retrying, next: at)
            job.events[0].nextAttemptAt = at
            if quickPhaseOver || !current.kind.isTerminal { resolveWaiter(current.id, .queued(nextAttemptAt: at)) }
        case .failed(let reason):
            errorText = reason
            record(.failed, next: nil)
            popHead(job)
            resolveWaiter(current.id, .failed(reason: reason))
        case .dropped(let reason):
            errorText = reason
            record(superseded ? .superseded : .dropped, next: nil)
            popHead(job)
        case .gone:
            errorText = "HTTP 410 Gone: the callback takes no further events"
            record(.failed, next: nil)
            popHead(job)
            resolveWaiter(current.id, .failed(reason: "callback gone (410)"))
            job.gone = true
            pendingChanges.append(.callbackGone(jobID: job.jobID, at: now))
        }
        changesReadyInput.yield()
        pump(job)
        while state.inFlight < configuration.perOriginConcurrency, !state.breaker.isPaused, let next = state.nextWaiting() {
            if let waitingJob = jobs[next] { pump(waitingJob) }
        }
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
                metadata: ["webhook.origin": "\(origin)", "webhook.probe_at": "\(probeAt)"])
            state.probeArmedAt = probeAt
            arm(.probe(origin), at: probeAt)
        case .stillPaused(let probeAt):
            state.probeArmedAt = probeAt
            arm(.probe(origin), at: probeAt)
        case .resumed:
            pausedOriginCount -= 1
            metrics.setPausedOrigins(pausedOriginCount)
            logger.info("webhook origin answering again", metadata: ["webhook.origin": "\(origin)"])
            let parked = state.parked
            state.parked.removeAll()
            for jobID in parked { if let job = jobs[jobID] { pump(job) } }
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

    // MARK: - Ending events

    /// Gives back the memory of a parked job's bodies; they are read from the store when due.
    private func dropBodies(of job: JobQueue) {
        for index in job.events.indices {
            if let body = job.events[index].body {
                bodyBytesHeld -= body.count
                job.events[index].body = nil
            }
        }
    }

    private func popHead(_ job: JobQueue) {
        let head = job.events.removeFirst()
        release(head)
    }

    private func release(_ event: QueuedEvent) {
        if let body = event.body { bodyBytesHeld -= body.count }
        pendingEvents -= 1
        metrics.setPending(pendingEvents)
    }

    /// Ends the head without an attempt.
    private func finishHead(_ job: JobQueue, state: DeliveryState, reason: String) {
        let head = job.events[0]
        popHead(job)
        let now = clock.now
        pendingChanges.append(.finished(head.id, state, reason: reason, at: now))
        changesReadyInput.yield()
        let outcome: AttemptOutcome = state == .failed ? .failed : (state == .superseded ? .superseded : .dropped)
        report(queued: head, job: job, outcome: outcome, attempt: nil, statusCode: nil, durationMs: nil, error: reason,
               nextAttemptAt: nil)
        resolveWaiter(head.id, .failed(reason: reason))
    }

    func resolveWaiter(_ id: EventID, _ result: TerminalDelivery) {
        waiters.removeValue(forKey: id)?.resume(returning: result)
    }

    // MARK: - Records

    private func report(
        queued event: QueuedEvent, job: JobQueue, outcome: AttemptOutcome, attempt: Int?, statusCode: Int?,
        durationMs: Int64?, error: String?, nextAttemptAt: Timestamp?
    ) {
        metrics.count(event.kind, outcome)
        observer.record(
            DeliveryRecord(
                time: clock.now, eventID: event.id, jobID: job.jobID, kind: event.kind, sequence: event.sequence,
                attempt: attempt, url: job.callbackURL, statusCode: statusCode, outcome: outcome, durationMs: durationMs,
                error: error, nextAttemptAt: nextAttemptAt))
    }

    private func report(
        event: OutboxEvent, job: JobQueue, outcome: AttemptOutcome, attempt: Int?, statusCode: Int?,
        durationMs: Int64?, error: String?, nextAttemptAt: Timestamp?
    ) {
        report(queued: QueuedEvent(event, keepBody: false), job: job, outcome: outcome, attempt: attempt,
               statusCode: statusCode, durationMs: durationMs, error: error, nextAttemptAt: nextAttemptAt)
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
                guard let job = jobs[jobID] else { continue }
                job.armedAt = nil
                pump(job)
            case .throttle(let jobID):
                guard let job = jobs[jobID] else { continue }
                job.throttleArmedAt = nil
                guard !job.terminalStored,
                    let draft = job.throttle.takeDue(now: now, interval: configuration.progressMinInterval)
                else { continue }
                storeHeldProgress(draft)
            case .probe(let origin):
                guard let state = origins[origin] else { continue }
                state.probeArmedAt = nil
                // Wake parked jobs until one starts the probe: pump() turns the first due head
                // into the probe; a job not yet due arms its own timer and comes back then.
                for jobID in Array(state.parked) {
                    guard state.breaker.isPaused, !state.probeInFlight else { break }
                    state.parked.remove(jobID)
                    if let job = jobs[jobID] { pump(job) }
                }
            }
        }
    }

    /// Hands the trailing progress update to the loop that stores it, so the timer loop never
    /// waits on the store.
    private func storeHeldProgress(_ draft: EventDraft) {
        heldProgressInput.yield(draft)
    }
}
