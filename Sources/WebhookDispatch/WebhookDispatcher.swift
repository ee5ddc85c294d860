public import Logging
public import Metrics
public import ServiceLifecycle
public import WebhookCore
public import WebhookSigning

/// Delivers stored webhook events: per-job order, retries, throttling, origin pausing.
///
/// The pipeline talks to it through ``publish(_:)`` (started and progress: throttled,
/// fire-and-forget) and ``publishTerminal(_:)`` (completed and failed: awaited through the
/// quick attempts). Every event is committed to the store before its first attempt, and every
/// attempt is recorded there, so a new dispatcher on the same store resumes where this one
/// stopped. Run it as a `Service`: on graceful shutdown it stops starting attempts, lets those in
/// flight finish, writes their outcomes and returns; whatever is pending stays in the store.
///
/// ```swift
/// let dispatcher = WebhookDispatcher(store: store, sender: client, clock: SystemClock(), signer: signer)
/// let group = ServiceGroup(services: [dispatcher, httpServer], logger: logger)
/// try await dispatcher.publish(EventDraft(kind: .progress, callbackURL: url, snapshot: snapshot))
/// ```
public actor WebhookDispatcher<Store: OutboxStore, Sender: WebhookSender, Clock: WorkerClock>: Service {
    let store: Store
    nonisolated let sender: Sender
    nonisolated let clock: Clock
    nonisolated let signer: WebhookSigner
    let configuration: DispatcherConfiguration
    nonisolated let observer: any DeliveryObserver
    let logger: Logger
    nonisolated let metrics: DeliveryMetrics

    var jobs: [String: JobQueue] = [:]
    var origins: [Origin: OriginState] = [:]
    var timers = TimerQueue()
    var waiters: [EventID: CheckedContinuation<TerminalDelivery, Never>] = [:]
    var pendingChanges: [OutboxChange] = []
    var bodyBytesHeld = 0
    var pendingEvents = 0
    var attemptsInFlight = 0
    var pausedOriginCount = 0
    var draining = false
    var timerLoopArmedFor: Timestamp?
    var timerLoopStopped = false
    var random = SystemRandomNumberGenerator()
    /// Ids accepted before recovery finished, so recovery does not queue them a second time
    /// (they are in the store as pending too). Nil once recovery is done.
    var acceptedBeforeRecovery: Set<EventID>? = []
    /// Ids queued by recovery, kept while appends that began before recovery ended are still
    /// under way: their events may have been read by recovery already.
    var recoveredIDs: Set<EventID>?
    var appendsInFlight = 0
    var bodyLoads = 0

    nonisolated let work: AsyncStream<DeliveryWork>
    nonisolated let workInput: AsyncStream<DeliveryWork>.Continuation
    nonisolated let timerWake = WakeSignal()
    nonisolated let changesReady: AsyncStream<Void>
    nonisolated let changesReadyInput: AsyncStream<Void>.Continuation
    nonisolated let heldProgress: AsyncStream<EventDraft>
    nonisolated let heldProgressInput: AsyncStream<EventDraft>.Continuation

    /// Creates a dispatcher. Nothing runs until ``run()``; publishing before that stores events
    /// and queues them.
    /// - Parameters:
    ///   - store: the durable outbox.
    ///   - sender: performs attempts (`CurlHTTPClient` in production).
    ///   - clock: the source of time for every schedule.
    ///   - signer: signs each attempt.
    ///   - configuration: retry, throttle and isolation settings.
    ///   - observer: receives a record per attempt and per final decision (delivery log).
    ///   - logger: for things an operator should know (origins paused, store failures).
    ///   - metricsFactory: where metrics go; tests pass their own.
    public init(
        store: Store, sender: Sender, clock: Clock, signer: WebhookSigner,
        configuration: DispatcherConfiguration = DispatcherConfiguration(),
        observer: any DeliveryObserver = DeliveryObservers([]),
        logger: Logger = Logger(label: "clipping-worker.dispatcher"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.sender = sender
        self.clock = clock
        self.signer = signer
        self.configuration = configuration
        self.observer = observer
        self.logger = logger
        self.metrics = DeliveryMetrics(factory: metricsFactory)
        (work, workInput) = AsyncStream.makeStream(of: DeliveryWork.self)
        (changesReady, changesReadyInput) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (heldProgress, heldProgressInput) = AsyncStream.makeStream(of: EventDraft.self)
    }

    // MARK: - Publishing

    /// Stores and sends a `job.started` or `job.progress` event, fire-and-forget.
    ///
    /// The draft's ``EventDraft/jobUpdate`` is stored with the event, or alone when the throttle
    /// holds the event back.
    ///
    /// Progress is throttled per job: the first goes at once, later ones at most one per
    /// `progressMinInterval`, the newest held one at the end of the interval. Returns once the
    /// event is stored (or held by the throttle); delivery happens in the background.
    /// - Throws: ``OutboxError`` when the store could not take the event.
    public func publish(_ draft: EventDraft) async throws(OutboxError) {
        precondition(!draft.kind.isTerminal, "terminal events go through publishTerminal")
        let job = jobQueue(draft.jobID, callbackURL: draft.callbackURL)
        if job.terminalStored { return }
        if draft.kind == .progress {
            switch job.throttle.offer(draft, now: clock.now, interval: configuration.progressMinInterval) {
            case .emitNow:
                break
            case .held(let until):
                if job.throttleArmedAt != until {
                    job.throttleArmedAt = until
                    arm(.throttle(draft.jobID), at: until)
                }
                // The job's state moves on even while its event waits.
                if let update = draft.jobUpdate { try await store.recordJobState(update, at: clock.now) }
                return
            }
        }
        let stored = try await append(draft)
        for event in stored { accept(event, redelivery: false) }
    }

    /// Appends through the store, counting appends under way for ``recoveredIDs``.
    func append(_ draft: EventDraft) async throws(OutboxError) -> [OutboxEvent] {
        appendsInFlight += 1
        defer {
            appendsInFlight -= 1
            if appendsInFlight == 0, acceptedBeforeRecovery == nil { recoveredIDs = nil }
        }
        return try await store.append([draft], at: clock.now)
    }

    /// Stores a `job.completed` or `job.failed` event and waits through its quick attempts
    /// (at once, +1 s, +2 s).
    ///
    /// Supersedes the job's progress events that are still waiting. If the quick attempts fail,
    /// or the origin is paused, returns `.queued` and the event keeps being retried in the
    /// background until the max age.
    /// - Throws: ``OutboxError`` when the store could not take the event (then nothing was stored).
    public func publishTerminal(_ draft: EventDraft) async throws(OutboxError) -> TerminalDelivery {
        precondition(draft.kind.isTerminal, "only job.completed and job.failed are terminal")
        let job = jobQueue(draft.jobID, callbackURL: draft.callbackURL)
        let wasTerminal = job.terminalStored
        job.terminalStored = true
        job.throttle.discardHeld()
        let stored: [OutboxEvent]
        do {
            stored = try await append(draft)
        } catch {
            job.terminalStored = wasTerminal
            throw error
        }
        guard let event = stored.first else { return .failed(reason: "not stored") }
        supersedeWaitingProgress(of: job, at: clock.now)
        if event.state != .pending {
            accept(event, redelivery: false)
            return .failed(reason: "callback gone (410)")
        }
        if draining { 
            accept(event, redelivery: false)
            return .queued(nextAttemptAt: event.nextAttemptAt)
        }
        return await withCheckedContinuation { continuation in
            waiters[event.id] = continuation
            accept(event, redelivery: false)
        }
    }

    /// Stores a job's state without an event (a job without a callback URL).
    public func recordJobState(_ update: JobStateUpdate) async throws(OutboxError) {
        try await store.recordJobState(update, at: clock.now)
    }

    /// Starts a new series of attempts for a stored event, with the same `webhook-id`.
    /// - Throws: ``OutboxError`` `.notFound` for an unknown event.
    public func redeliver(_ id: EventID) async throws(OutboxError) -> OutboxEvent {
        let event = try await store.redeliver(id, at: clock.now)
        if let job = jobs[event.jobID], let index = job.events.firstIndex(where: { $0.id == id }) {
            if !(job.inFlight && index == 0) {
                job.events[index].seriesStartedAt = event.seriesStartedAt
                job.events[index].seriesAttempts = 0
                job.events[index].nextAttemptAt = event.nextAttemptAt
                pump(job)
            }
        } else {
            accept(event, redelivery: true)
        }
        return event
    }

    /// A snapshot of the dispatcher's state, for `/metrics`, `/readyz` and tests.
    public var status: DispatcherStatus {
        DispatcherStatus(
            pendingEvents: pendingEvents, attemptsInFlight: attemptsInFlight, pausedOrigins: pausedOriginCount,
            jobsTracked: jobs.count, timersArmed: timers.count, bodyCacheBytes: bodyBytesHeld, bodyLoads: bodyLoads)
    }

    // MARK: - Service

    /// Resumes every pending event from the store, then delivers until graceful shutdown.
    /// - Throws: ``OutboxError`` when the pending events cannot be read at start.
    public func run() async throws {
        try await recover()
        let workInput = self.workInput
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { loops in
                loops.addTask { await self.timerLoop() }
                loops.addTask { await self.changeWriterLoop() }
                loops.addTask { await self.heldProgressLoop() }
                await withDiscardingTaskGroup { attempts in
                    for await item in self.work {
                        attempts.addTask { await self.perform(item) }
                    }
                }
                self.finishDraining()
            }
        } onGracefulShutdown: {
            workInput.finish()
        }
    }

    private func recover() async throws(OutboxError) {
        var cursor = PendingCursor.start
        var recovered = 0
        recoveredIDs = []
        while true {
            let page = try await store.pendingEvents(after: cursor, limit: configuration.recoveryPageSize)
            if page.events.isEmpty { break }
            for event in page.events where acceptedBeforeRecovery?.contains(event.id) != true {
                accept(event, redelivery: false, pumpNow: false)
                recoveredIDs?.insert(event.id)
            }
            recovered += page.events.count
            cursor = page.next
        }
        acceptedBeforeRecovery = nil
        if appendsInFlight == 0 { recoveredIDs = nil }
        if recovered > 0 {
            logger.info("resuming pending webhook events", metadata: ["outbox.pending": "\(recovered)"])
        }
        for job in jobs.values { pump(job) }
    }

    /// After the last attempt finished: no new attempts, waiters released, outcomes flushed.
    private func finishDraining() {
        draining = true
        workInput.finish()
        for (_, waiter) in waiters { waiter.resume(returning: .queued(nextAttemptAt: nil)) }
        waiters.removeAll()
        timerLoopStopped = true
        timerWake.close()
        changesReadyInput.finish()
        heldProgressInput.finish()
    }

    /// Stores trailing-edge progress updates released by the throttle timer.
    private func heldProgressLoop() async {
        for await draft in heldProgress {
            guard !draining, let job = jobs[draft.jobID], !job.terminalStored else { continue }
            do {
                let stored = try await append(draft)
                for event in stored { accept(event, redelivery: false) }
            } catch {
                // Only a coalesced progress update is lost, never a stored event.
                logger.debug("could not store a throttled progress update", metadata: ["error": "\(error)"])
            }
        }
    }

    private func timerLoop() async {
        while !timerLoopStopped && !Task.isCancelled {
            let deadline = timers.earliest
            timerLoopArmedFor = deadline
            let clock = self.clock
            let wake = self.timerWake
            await withTaskGroup(of: Void.self) { group in
                if let deadline {
                    group.addTask { try? await clock.sleep(until: deadline) }
                }
                group.addTask { await wake.wait() }
                await group.next()
                group.cancelAll()
            }
            timerLoopArmedFor = nil
            fireDueTimers()
        }
    }

    private func changeWriterLoop() async {
        for await _ in changesReady {
            await writeChanges()
        }
        await writeChanges()
    }

    private func writeChanges() async {
        while !pendingChanges.isEmpty {
            let batch = pendingChanges
            pendingChanges.removeAll(keepingCapacity: true)
            var tries = 0
            while true {
                do {
                    try await store.apply(batch)
                    break
                } catch {
                    tries += 1
                    // The attempts happened; losing their record only means redelivery after a
                    // restart (at least once), so retry a while, then give up loudly.
                    guard tries < 5 else {
                        logger.error(
                            "could not record webhook attempts; they may be repeated after a restart",
                            metadata: ["outbox.changes": "\(batch.count)", "error": "\(error)"])
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(100 * tries))
                }
            }
        }
    }

    private func countBodyLoad() {
        bodyLoads += 1
    }

    /// Performs one attempt off the actor: load the body if needed, sign, send.
    nonisolated func perform(_ item: DeliveryWork) async {
        var body = item.body
        if body == nil {
            await countBodyLoad()
            do {
                body = try await store.body(of: item.eventID)
            } catch {
                await complete(
                    item, startedAt: clock.now, duration: .zero,
                    result: .failure(TransportError(.internalError, "event body unavailable: \(error.code)")))
                return
            }
        }
        let bytes = body ?? []
        let startedAt = clock.now
        let headers = signer.headers(
            eventID: item.eventID, kind: item.kind, attempt: item.attempt, timestamp: startedAt, body: bytes)
        let request = WebhookRequest(url: item.url, headers: headers, body: bytes)
        let began = ContinuousClock.now
        let result: Result<WebhookResponse, TransportError>
        do {
            result = .success(try await sender.send(request))
        } catch {
            result = .failure(error)
        }
        await complete(item, startedAt: startedAt, duration: ContinuousClock.now - began, result: result)
    }
}

/// Counters describing a dispatcher at one moment.
public struct DispatcherStatus: Sendable, Hashable {
    /// Events stored and not yet final.
    public var pendingEvents: Int
    public var attemptsInFlight: Int
    /// Origins paused by their breaker.
    public var pausedOrigins: Int
    public var jobsTracked: Int
    public var timersArmed: Int
    public var bodyCacheBytes: Int
    /// Bodies read back from the store because they were not cached.
    public var bodyLoads: Int
}
