import DequeModule
public import Logging
public import Metrics
public import ServiceLifecycle
public import WebhookCore
public import WebhookSigning

/// Delivers stored webhook events: a thin driver around one ``JobDeliveryMachine`` per job.
///
/// The machines own every per-job rule (order, throttle, superseding, retries, gone callbacks,
/// redelivery, waiters); this actor feeds them what happens (an event published or stored, an
/// attempt ended, a timer fired, an operator's redelivery) and carries out their actions: store,
/// send, arm a timer, resume a waiter, write the delivery log. What is shared by jobs stays here:
/// origins (breaker, per-origin concurrency), the timer heap, the body cache budget.
///
/// The pipeline talks to it through ``publish(_:)`` (started and progress: throttled,
/// fire-and-forget) and ``publishTerminal(_:)`` (completed and failed: awaited through the
/// quick attempts). Every event is committed to the store before its first attempt, and every
/// attempt is recorded there, so a new dispatcher on the same store resumes where this one
/// stopped. Publishing waits until the pending events of the store have been read back
/// (recovery), so an event is never queued twice. Run it as a `Service`: on graceful shutdown it
/// stops starting attempts, lets those in flight finish, writes their outcomes and returns;
/// whatever is pending stays in the store.
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

    /// One slot per job with something to remember. Boxed: the table then holds a pointer per
    /// job rather than the whole machine inline (at 100,000 jobs, 6 MiB of slots instead of ~100),
    /// and a machine is mutated in place, never copied with its queue.
    var jobs: [String: JobSlot] = [:]
    /// Leases from claims, by job (a job whose events this worker appended needs none).
    var leases: [String: JobLease] = [:]
    var origins: [Origin: OriginState] = [:]
    /// Callback URLs seen lately with their origins (``sharedCallback(_:)``).
    var callbacks: [String: Callback] = [:]
    /// Jobs whose head is due but `maxInFlight` attempts are in flight.
    var globalWaiting = JobWaitQueue()
    var timers = TimerQueue()
    var waiters: [EventID: CheckedContinuation<TerminalDelivery, Never>] = [:]
    var pendingChanges: [OutboxChange] = []
    /// Changes handed to the change writer, and how many of them it stored: a restore of an
    /// evicted queue first waits until what was handed over before it is stored, so the store
    /// it reads holds the job's latest attempt records.
    var changesHandedOver: UInt64 = 0
    var changesWritten: UInt64 = 0
    var changeBarriers: [(through: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    /// Jobs whose evicted queues are to be read back, in order.
    var restoreQueue = Deque<String>()
    nonisolated let restoreWake = WakeSignal()
    /// Jobs whose next attempt waits for the changes in ``pendingChanges`` (one entry per
    /// ``JobDeliveryMachine/Action/holdUntilStored``), released once their batch is stored.
    var pendingStoreGates: [String] = []
    /// Reused for every machine call, so the hot path does not allocate an array per event.
    var actions: [JobDeliveryMachine.Action] = []
    var bodyBytesHeld = 0
    var pendingEvents = 0
    /// Operator discards of evicted jobs' events that have returned from the store so far: a
    /// read-back issued after the n-th saw its effect (``DiscardFilter``).
    var discardReturns: UInt64 = 0
    /// Read-backs waiting for discards of their jobs' events to return from the store.
    var discardWaiters: [CheckedContinuation<Void, Never>] = []
    /// Jobs whose machines gave their queues up (``JobDeliveryMachine/evict(into:)``).
    var jobsEvicted = 0
    var attemptsInFlight = 0
    var pausedOriginCount = 0
    var draining = false
    var timerLoopArmedFor: Timestamp?
    var timerLoopStopped = false
    var random = JitterRandom()
    var bodyLoads = 0
    /// Set once recovery has read the store's pending events (or failed to). Publishing waits
    /// for it, so an event is never both recovered and accepted from its own append.
    var recoveryResult: Result<Void, OutboxError>?
    var recoveryWaiters: [CheckedContinuation<Result<Void, OutboxError>, Never>] = []
    /// True while attempt records cannot be written (the store fails); `/readyz` reports it.
    var storeFailing = false
    /// Graceful shutdown began: no attempt starts any more.
    var stopping = false
    /// Attempts handed to the sender, by ``DeliveryWork/key``: what is cancelled at the shutdown deadline.
    var startedAttempts: [UInt64: WebhookAttempt] = [:]
    var nextAttemptKey: UInt64 = 0

    /// Attempts whose body must be read from the store before they start (a task each).
    nonisolated let work: AsyncStream<DeliveryWork>
    nonisolated let workInput: AsyncStream<DeliveryWork>.Continuation
    /// Ends of attempts, pushed by the sender's completions (on its thread), taken on the actor
    /// by ``completionLoop()``: many per wake-up, no task or continuation per attempt.
    nonisolated let attemptEnds = AttemptEndQueue()
    /// Resumed when the last attempt in flight ends after shutdown cancelled them.
    var lastAttemptEnded: CheckedContinuation<Void, Never>?
    nonisolated let timerWake = WakeSignal()
    nonisolated let leaseLoopStop = WakeSignal()
    /// Runs the lease loop's round now (new work announced by another worker).
    nonisolated let leaseLoopWake = WakeSignal()
    /// Signalled whenever the last attempt in flight ends (shutdown waits on it).
    nonisolated let attemptsIdle = WakeSignal()
    nonisolated let changesReady: AsyncStream<Void>
    nonisolated let changesReadyInput: AsyncStream<Void>.Continuation
    nonisolated let heldProgress: AsyncStream<EventDraft>
    nonisolated let heldProgressInput: AsyncStream<EventDraft>.Continuation

    /// Creates a dispatcher. Nothing runs until ``run()``; publishing waits for it to have read
    /// the store's pending events.
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

    /// How a caller stores the drafts the dispatcher decided to store, in its own transaction
    /// (the job store writes the job's state with them; an empty list stores the state alone).
    public typealias Storing = @Sendable (_ drafts: [EventDraft]) async throws(OutboxError) -> [OutboxEvent]

    /// Stores and sends a `job.started` or `job.progress` event, fire-and-forget.
    ///
    /// Progress is throttled per job: the first goes at once, later ones at most one per
    /// `progressMinInterval`, the newest held one at the end of the interval. Returns once the
    /// event is stored (or held by the throttle); delivery happens in the background.
    /// - Parameters:
    ///   - storing: stores what is to be stored: `[draft]`, or `[]` when the throttle holds the
    ///     event back (the job's state still moves on); not called once the job's terminal event
    ///     is stored. Defaults to this dispatcher's outbox.
    /// - Throws: ``OutboxError`` when the store could not take the event.
    public func publish(_ draft: EventDraft, storing: Storing? = nil) async throws(OutboxError) {
        precondition(!draft.kind.isTerminal, "terminal events go through publishTerminal")
        try await waitForRecovery()
        let now = clock.now
        let offer = withJob(draft.jobID, callbackURL: draft.callbackURL) { job, actions in
            job.offerProgress(draft, now: now, interval: configuration.progressMinInterval, into: &actions)
        }
        switch offer {
        case .discarded:
            return
        case .held:
            if let storing { _ = try await storing([]) }
        case .store:
            try await appendAndAccept(draft, at: now, storing: storing)
        }
    }

    /// Appends one draft and accepts what was stored, keeping the job's machine alive meanwhile.
    private func appendAndAccept(_ draft: EventDraft, at time: Timestamp, storing: Storing?) async throws(OutboxError) {
        withJob(draft.jobID, callbackURL: draft.callbackURL) { job, _ in job.appendBegan() }
        defer {
            let now = clock.now
            withJob(draft.jobID, callbackURL: draft.callbackURL) { job, actions in
                job.appendEnded(now: now, interval: configuration.progressMinInterval, into: &actions)
            }
            pump(draft.jobID)
        }
        let stored: [OutboxEvent]
        if let storing {
            stored = try await storing([draft])
        } else {
            stored = try await store.append([draft], at: time)
        }
        // Pumped once, after the append ended (the `defer`): not once more per accepted event.
        for event in stored { accept(event, redelivery: false, pumpNow: false) }
    }

    /// Stores a `job.completed` or `job.failed` event and waits through its quick attempts
    /// (at once, +1 s, +2 s).
    ///
    /// Supersedes the job's started and progress events that are not delivered yet. If the quick
    /// attempts fail, or the origin is paused, returns `.queued` and the event keeps being retried
    /// in the background until the max age. Cancelling the calling task stops the wait (the
    /// event stays queued).
    /// - Parameters:
    ///   - storing: stores `[draft]` (with the job's final state); defaults to this dispatcher's outbox.
    /// - Throws: ``OutboxError`` when the store could not take the event (then nothing was stored).
    public func publishTerminal(_ draft: EventDraft, storing: Storing? = nil) async throws(OutboxError) -> TerminalDelivery {
        precondition(draft.kind.isTerminal, "only job.completed and job.failed are terminal")
        try await waitForRecovery()
        withJob(draft.jobID, callbackURL: draft.callbackURL) { job, _ in job.terminalPublishBegan() }
        let stored: [OutboxEvent]
        do {
            if let storing {
                stored = try await storing([draft])
            } else {
                stored = try await store.append([draft], at: clock.now)
            }
        } catch {
            withJob(draft.jobID, callbackURL: draft.callbackURL) { job, _ in job.terminalPublishFailed() }
            throw error
        }
        guard let event = stored.first else { return .failed(reason: "not stored") }
        let wait = event.state == .pending && !draining
        if wait { withJob(event.jobID, callbackURL: event.callbackURL) { job, _ in job.awaitTerminal(event.id) } }
        accept(event, redelivery: false, pumpNow: false)
        if event.state != .pending {
            pump(event.jobID)
            return .failed(reason: "callback gone (410)")
        }
        guard wait else {
            pump(event.jobID)
            return .queued(nextAttemptAt: event.nextAttemptAt)
        }
        let id = event.id
        let jobID = event.jobID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    withJob(jobID, callbackURL: event.callbackURL) { job, _ in job.forgetWaiter(id) }
                    continuation.resume(returning: .queued(nextAttemptAt: nil))
                } else {
                    waiters[id] = continuation
                }
                pump(jobID)
            }
        } onCancel: {
            // The handler is synchronous and off the actor: hop back to release the waiter.
            Task { await self.cancelWaiter(id, jobID: jobID) }
        }
    }

    private func cancelWaiter(_ id: EventID, jobID: String) {
        jobs[jobID]?.machine.forgetWaiter(id)
        waiters.removeValue(forKey: id)?.resume(returning: .queued(nextAttemptAt: nil))
    }

    /// An event of a job this worker may hold was redelivered through another worker (a shared
    /// store's notification): if this worker holds the job, it sends the event now rather than
    /// leaving it to whoever claims the job after this worker lets it go.
    public nonisolated func redeliveredElsewhere(jobID: String, eventID: String) {
        guard let id = EventID(eventID) else { return }
        Task { await self.redeliverIfHeld(jobID: jobID, id) }
    }

    private func redeliverIfHeld(jobID: String, _ id: EventID) async {
        guard store.heldLeases.contains(where: { $0.jobID == jobID }) else { return }
        // As the holder, the store restarts the series here (again: harmless) and the machine sends it.
        _ = try? await redeliver(id)
    }

    /// Starts a new series of attempts for a stored event, with the same `webhook-id`. An event
    /// whose attempt is in flight starts it when that attempt ends; an event of a gone callback
    /// is attempted anyway (the operator asked).
    /// - Throws: ``OutboxError`` `.notFound` for an unknown event.
    public func redeliver(_ id: EventID) async throws(OutboxError) -> OutboxEvent {
        try await waitForRecovery()
        let event = try await store.redeliver(id, at: clock.now)
        // Pending again: a discard's filter must not keep it out of a read-back.
        jobs[event.jobID]?.discards?.ids.remove(id)
        // On a shared store another worker may hold the job: it stays pending and due there, and
        // that worker (or whoever claims the job next) sends it, so a job never has attempts in
        // flight on two workers.
        if store.leaseDuration != nil, !store.heldLeases.contains(where: { $0.jobID == event.jobID }) {
            wakeClaims()
            return event
        }
        let now = clock.now
        let paused = (jobs[event.jobID]?.machine.origin ?? Origin(url: event.callbackURL)).flatMap { origins[$0] }?.breaker
            .isPaused ?? false
        let keep = reserveBody(event.body?.count ?? 0, paused: paused)
        let kept = withJob(event.jobID, callbackURL: event.callbackURL) { job, actions in
            job.redeliver(event, now: now, keepBody: keep, into: &actions)
        }
        if keep && !kept { bodyBytesHeld -= event.body?.count ?? 0 }
        pump(event.jobID)
        return event
    }

    /// A snapshot of the dispatcher's state, for `/metrics`, `/readyz` and tests.
    public var status: DispatcherStatus {
        DispatcherStatus(
            pendingEvents: pendingEvents, attemptsInFlight: attemptsInFlight, pausedOrigins: pausedOriginCount,
            jobsTracked: jobs.count, jobsEvicted: jobsEvicted, jobsWaitingForASlot: globalWaiting.count, originsTracked: origins.count,
            timersArmed: timers.count,
            bodyCacheBytes: bodyBytesHeld, bodyLoads: bodyLoads,
            storeFailing: storeFailing)
    }

    // MARK: - Service

    /// Resumes every pending event from the store, then delivers until graceful shutdown.
    /// - Throws: ``OutboxError`` when the pending events cannot be read at start (publishers
    ///   waiting for recovery get the same error).
    public func run() async throws {
        do {
            try await recover()
        } catch {
            finishRecovery(.failure(error))
            finishDraining()
            throw error
        }
        finishRecovery(.success(()))
        let workInput = self.workInput
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { loops in
                loops.addTask { await self.timerLoop() }
                loops.addTask { await self.changeWriterLoop() }
                loops.addTask { await self.heldProgressLoop() }
                loops.addTask { await self.completionLoop() }
                loops.addTask { await self.restoreLoop() }
                if let duration = self.store.leaseDuration {
                    loops.addTask { await self.leaseLoop(every: duration / 3) }
                }
                await withDiscardingTaskGroup { bodyLoads in
                    for await item in self.work {
                        bodyLoads.addTask { await self.loadBodyAndStart(item) }
                    }
                    // Graceful shutdown: attempts in flight get until the shutdown deadline, then are
                    // cancelled (an interrupted attempt does not count; its event stays pending).
                    self.stopping = true
                    await self.waitForAttemptsInFlight()
                    bodyLoads.cancelAll()
                    await self.cancelAttemptsInFlight()
                }
                self.finishDraining()
            }
        } onGracefulShutdown: {
            workInput.finish()
        }
    }

    /// Cancels the attempts still in flight and returns once each has reported its end.
    ///
    /// The wait ignores cancellation of the calling task (the whole service may be cancelled):
    /// a cancelled attempt ends promptly, and its end must be taken before the dispatcher stops.
    private func cancelAttemptsInFlight() async {
        for attempt in startedAttempts.values { attempt.cancel() }
        guard attemptsInFlight > 0 else { return }
        await withCheckedContinuation { lastAttemptEnded = $0 }
    }

    /// Returns when no attempt is in flight, or at the shutdown deadline.
    private func waitForAttemptsInFlight() async {
        // A cancelled task cannot wait (every wait returns at once): what is in flight is cancelled next.
        guard let shutdown = configuration.shutdown else {
            while attemptsInFlight > 0 && !Task.isCancelled { await attemptsIdle.wait() }
            return
        }
        let deadline = shutdown.deadline(from: clock.now)
        let clock = self.clock
        let idle = self.attemptsIdle
        while attemptsInFlight > 0 && clock.now < deadline && !Task.isCancelled {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await clock.sleep(until: deadline) }
                group.addTask { await idle.wait() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    func waitForRecovery() async throws(OutboxError) {
        if let recoveryResult { return try recoveryResult.get() }
        let outcome = await withCheckedContinuation { recoveryWaiters.append($0) }
        try outcome.get()
    }

    private func finishRecovery(_ outcome: Result<Void, OutboxError>) {
        recoveryResult = outcome
        for waiter in recoveryWaiters { waiter.resume(returning: outcome) }
        recoveryWaiters.removeAll()
    }

    /// Claims every job with pending events that this worker does not hold yet, page by page.
    private func recover() async throws(OutboxError) {
        let recovered = try await claimAvailableJobs()
        if recovered > 0 {
            logger.info("resuming pending webhook events", metadata: [LogMetadataKey.outboxPending: "\(recovered)"])
        }
    }

    /// One claim round: takes jobs until the store has none left to give, queues their events.
    /// - Returns: how many events were taken.
    @discardableResult
    private func claimAvailableJobs() async throws(OutboxError) -> Int {
        var taken = 0
        while true {
            let claimed = try await store.claimJobs(limit: configuration.recoveryPageSize, at: clock.now)
            if claimed.isEmpty { break }
            for job in claimed { take(job) }
            taken += claimed.reduce(0) { $0 + $1.events.count }
        }
        return taken
    }

    /// Claims due work now instead of at the next poll: another worker announced events (a
    /// redelivery, a job released with events due). Stores whose leases never lapse ignore it.
    public nonisolated func wakeClaims() {
        leaseLoopWake.signal()
    }

    /// Takes a job the runner claimed to run, with the pending events its dead worker left
    /// behind (the job's lease covers both). Waits for recovery, like a publish.
    /// - Throws: ``OutboxError`` when recovery failed.
    public func adopt(_ job: ClaimedJob) async throws(OutboxError) {
        try await waitForRecovery()
        take(job)
    }

    /// Takes a claimed job and its pending events into the machines.
    private func take(_ job: ClaimedJob) {
        // Leases that never lapse (one owner) need no bookkeeping.
        if store.leaseDuration != nil { leases[job.lease.jobID] = job.lease }
        for event in job.events { accept(event, redelivery: false, pumpNow: false) }
        pump(job.lease.jobID)
    }

    /// For stores whose leases lapse (shared by several workers): every third of the lease,
    /// renew what this worker holds, give up jobs whose lease moved to another worker, release
    /// jobs with nothing left, and claim jobs that lost their worker.
    private func leaseLoop(every period: Duration) async {
        let clock = self.clock
        let stop = self.leaseLoopStop
        let wake = self.leaseLoopWake
        while !timerLoopStopped && !Task.isCancelled {
            let deadline = clock.now.advanced(by: period)
            // Sleep until the deadline or until the dispatcher stops, whichever comes first.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await clock.sleep(until: deadline) }
                group.addTask { await stop.wait() }
                group.addTask { await wake.wait() }
                await group.next()
                group.cancelAll()
            }
            if timerLoopStopped || stop.isClosed { return }
            await maintainLeases()
        }
    }

    func maintainLeases() async {
        do {
            let idle = leases.values.filter { jobs[$0.jobID] == nil }
            for lease in idle {
                // Checked again: an append during an earlier release's await may have brought it back.
                guard jobs[lease.jobID] == nil, leases[lease.jobID] == lease else { continue }
                leases[lease.jobID] = nil
                try await store.releaseLease(lease)
            }
            // Leases won outside claims (appends, redeliveries, runs of the job) are renewed too.
            for lease in store.heldLeases where leases[lease.jobID] == nil { leases[lease.jobID] = lease }
            let lost = try await store.renewLeases(Array(leases.values), at: clock.now)
            for lease in lost where leases[lease.jobID]?.epoch == lease.epoch {
                leases[lease.jobID] = nil
                guard let slot = jobs[lease.jobID] else { continue }
                logger.warning("lost the lease on a job's events to another worker", metadata: [LogMetadataKey.jobID: "\(lease.jobID)"])
                withJob(lease.jobID, callbackURL: slot.machine.callbackURL) { job, actions in job.relinquish(into: &actions) }
            }
            try await claimAvailableJobs()
        } catch {
            logger.warning("could not maintain job leases", metadata: [LogMetadataKey.error: "\(error)"])
        }
    }

    /// After the last attempt finished: no new attempts, waiters released, outcomes flushed.
    private func finishDraining() {
        draining = true
        workInput.finish()
        for (_, waiter) in waiters { waiter.resume(returning: .queued(nextAttemptAt: nil)) }
        waiters.removeAll()
        timerLoopStopped = true
        timerWake.close()
        restoreWake.close()
        for barrier in changeBarriers { barrier.continuation.resume() }
        changeBarriers.removeAll()
        for waiter in discardWaiters { waiter.resume() }
        discardWaiters.removeAll()
        leaseLoopStop.close()
        attemptEnds.finish()
        changesReadyInput.finish()
        heldProgressInput.finish()
    }

    /// Stores trailing-edge progress updates released by the throttle timer.
    private func heldProgressLoop() async {
        // Concurrently across jobs (one slow job's append does not hold back the others'
        // trailing edges); one at a time per job, which the machine enforces.
        await withDiscardingTaskGroup { group in
            for await draft in heldProgress {
                group.addTask { await self.storeHeldProgress(draft) }
            }
        }
    }

    private func storeHeldProgress(_ draft: EventDraft) async {
        // The machine may be gone (nothing else pending); the store refuses the update anyway
        // once the job's terminal event is stored.
        guard !draining, jobs[draft.jobID]?.machine.terminalStored != true,
            jobs[draft.jobID]?.machine.terminalPublishing != true
        else { return }
        do {
            // The job's state was recorded when the update was held.
            try await appendAndAccept(draft, at: clock.now, storing: nil)
        } catch {
            // Only a coalesced progress update is lost, never a stored event.
            logger.debug("could not store a throttled progress update", metadata: [LogMetadataKey.error: "\(error)"])
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

    /// Writes attempt records and state changes in order. A batch that cannot be written is
    /// never dropped: losing it would re-send event n after n+1 following a restart. It is
    /// retried with backoff (up to 5 s apart) while ``DispatcherStatus/storeFailing`` tells
    /// `/readyz` that the store is in trouble.
    private func writeChanges() async {
        var batch = [OutboxChange]()
        var gates = [String]()
        while !pendingChanges.isEmpty {
            // Swap buffers: copying then clearing would allocate a new buffer per batch.
            swap(&batch, &pendingChanges)
            swap(&gates, &pendingStoreGates)
            defer {
                batch.removeAll(keepingCapacity: true)
                gates.removeAll(keepingCapacity: true)
            }
            var tries = 0
            while true {
                do {
                    try await store.apply(batch)
                    changesStored(batch.count)
                    if storeFailing {
                        storeFailing = false
                        logger.notice("webhook attempt records are written again")
                    }
                    releaseStoreGates(gates)
                    break
                } catch {
                    tries += 1
                    if !storeFailing {
                        storeFailing = true
                        logger.error(
                            "could not record webhook attempts; retrying until the store accepts them",
                            metadata: [LogMetadataKey.outboxChanges: "\(batch.count)", LogMetadataKey.error: "\(error)"])
                    }
                    // Shutting down (or closed) with a store that still fails: the process must
                    // exit within its grace. These attempts happened; without their records
                    // they are repeated after the restart (at least once still holds).
                    if error.code == .closed || Task.isCancelled || (draining && tries >= 10) {
                        logger.error(
                            "giving up recording webhook attempts at shutdown; they will be repeated after the restart",
                            metadata: [LogMetadataKey.outboxChanges: "\(batch.count)", LogMetadataKey.error: "\(error)"])
                        pendingChanges.removeAll()
                        pendingStoreGates.removeAll()
                        changesStored(Int(changesHandedOver - changesWritten))
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(tries, 7))))
                }
            }
        }
    }

    /// Counts stored changes and lets go the restores waiting for them.
    private func changesStored(_ count: Int) {
        changesWritten += UInt64(count)
        guard !changeBarriers.isEmpty else { return }
        let written = changesWritten
        changeBarriers.removeAll { barrier in
            guard barrier.through <= written else { return false }
            barrier.continuation.resume()
            return true
        }
    }

    /// Returns once every change handed to the change writer so far is stored (or the
    /// dispatcher stops).
    private func changesHandedOverAreStored() async {
        let through = changesHandedOver
        guard changesWritten < through, !draining else { return }
        await withCheckedContinuation { changeBarriers.append((through, $0)) }
    }

    // MARK: - Evicted queues

    /// Reads evicted queues back, a page of jobs per store call, as fast as the store reads them.
    /// (Not paced by what is queued in memory: events that wait for other reasons, a paused
    /// origin's or a long back-off's, would hold every read-back back, probes included.)
    private func restoreLoop() async {
        while !timerLoopStopped && !Task.isCancelled {
            guard !restoreQueue.isEmpty else {
                await restoreWake.wait()
                continue
            }
            var page = [String]()
            while page.count < configuration.recoveryPageSize, let jobID = restoreQueue.popFirst() { page.append(jobID) }
            await restore(page)
        }
    }

    /// Reads the pending events of jobs whose queues were evicted and queues them again.
    private func restore(_ jobIDs: [String]) async {
        await changesHandedOverAreStored()
        // Discards stored before this point are seen by the read (see ``discard(_:reason:)``).
        let issuedAfterDiscards = discardReturns
        let result: Result<[String: [OutboxEvent]], OutboxError>
        do {
            result = .success(try await store.pendingEvents(ofJobs: jobIDs))
        } catch {
            result = .failure(error)
        }
        // A discard of these jobs' events still under way decides what the read may bring back
        // (ended: kept out; failed: merged): wait for it to return.
        while !draining, jobIDs.contains(where: { (jobs[$0]?.discards?.underWay ?? 0) > 0 }) {
            await withCheckedContinuation { discardWaiters.append($0) }
        }
        // Whatever became of the page, the origins it was to carry a probe for may pick another.
        let page = Set(jobIDs)
        let carried = origins.values.filter { $0.probeCarrier.map(page.contains) == true }
        for state in carried { state.probeCarrier = nil }
        switch result {
        case .failure(let error):
            logger.warning(
                "could not read back the pending events of parked jobs; retrying in a second",
                metadata: [LogMetadataKey.error: "\(error)"])
            for jobID in jobIDs {
                guard let slot = jobs[jobID], slot.machine.restoring else { continue }
                withJob(jobID, callbackURL: slot.machine.callbackURL) { job, actions in job.restoreFailed(into: &actions) }
                // Parked again (its waiter told), or queued for the next try.
                pump(jobID)
            }
            try? await clock.sleep(until: clock.now.advanced(by: .seconds(1)))
        case .success(let events):
            for jobID in jobIDs {
                // Relinquished meanwhile (its lease moved on), or claimed afresh: nothing to merge.
                guard let slot = jobs[jobID], slot.machine.restoring else { continue }
                // Kept out only if the read may have missed a discard's commit; either way no discard
                // is under way now, so later reads see them all and need no filter.
                let discarded = slot.discards.flatMap { issuedAfterDiscards < $0.lastReturn ? $0.ids : nil }
                slot.discards = nil
                withJob(jobID, callbackURL: slot.machine.callbackURL) { job, _ in job.finishRestore() }
                for event in events[jobID] ?? [] where discarded?.contains(event.id) != true {
                    accept(event, redelivery: false, pumpNow: false)
                }
                pump(jobID)
            }
        }
        // The restored job may not have taken the probe (its head not due): another may.
        for state in carried { wakeParkedForProbe(state) }
    }

    /// Queues a read-back of the job's evicted queue (once: a restore under way is not repeated).
    /// A job that is to carry its origin's probe goes first: a resumed origin's backlog ahead of
    /// it must not keep another origin paused.
    func scheduleRestore(_ jobID: String, carriesProbe: Bool = false) {
        guard !draining, let slot = jobs[jobID], slot.machine.beginRestore() else { return }
        if carriesProbe { restoreQueue.prepend(jobID) } else { restoreQueue.append(jobID) }
        restoreWake.signal()
    }

    /// The ends of events in a stored batch are durable: their jobs' next attempts may start.
    private func releaseStoreGates(_ gates: [String]) {
        for jobID in gates {
            // A job forgotten meanwhile (its lease lost) has nothing left to send.
            guard let slot = jobs[jobID] else { continue }
            let open = withJob(jobID, callbackURL: slot.machine.callbackURL) { job, _ in job.changesStored() }
            if open { pump(jobID) }
        }
    }

    /// Takes the ends of attempts back, as many as have arrived per wake-up (the loop runs on
    /// the actor: an end that is already there is taken without a suspension).
    private func completionLoop() async {
        while let ends = await attemptEnds.next() {
            for end in ends {
                startedAttempts[end.item.key] = nil
                complete(end.item, startedAt: end.startedAt, duration: end.duration, result: end.result)
            }
        }
    }

    /// Signs the attempt and hands it to the sender, whose completion reports its end to
    /// ``completionLoop()``.
    func launch(_ item: DeliveryWork, body: [UInt8]) {
        let startedAt = clock.now
        var headers = signer.headers(
            eventID: item.eventID, kind: item.kind, attempt: item.attempt, timestamp: startedAt, body: body)
        if let trace = item.trace {
            // SPEC section 5: the submitted trace and flags, a new span per attempt.
            headers.append("traceparent: " + trace.traceparent(spanID: TraceContext.newSpanID()))
            if let state = trace.state { headers.append("tracestate: " + state) }
        }
        let ends = attemptEnds
        let began = ContinuousClock.now
        let attempt = sender.start(WebhookRequest(url: item.url, headers: headers, body: body)) { result in
            ends.push(AttemptEnd(item: item, startedAt: startedAt, duration: ContinuousClock.now - began, result: result))
        }
        // Its end is taken on this actor, so it cannot be processed before this line.
        startedAttempts[item.key] = attempt
    }

    /// An attempt whose body was not kept: read it, then start it (off the actor while reading).
    nonisolated func loadBodyAndStart(_ item: DeliveryWork) async {
        do {
            let body = try await loadBody(item.eventID)
            await launchLoaded(item, body: body)
        } catch {
            await complete(
                item, startedAt: clock.now, duration: .zero,
                result: .failure(TransportError(.internalError, "event body unavailable: \(error.code)")))
        }
    }

    private func launchLoaded(_ item: DeliveryWork, body: [UInt8]) {
        if Task.isCancelled {
            // The shutdown deadline passed while the body was read: nothing was sent.
            complete(item, startedAt: clock.now, duration: .zero, result: .failure(TransportError(.cancelled, "shut down")))
        } else {
            launch(item, body: body)
        }
    }

    private func loadBody(_ id: EventID) async throws(OutboxError) -> [UInt8] {
        bodyLoads += 1
        return try await store.body(of: id)
    }
}
