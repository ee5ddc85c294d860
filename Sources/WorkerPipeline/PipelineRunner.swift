import DequeModule
import Foundation
public import Metrics
public import Logging
public import ServiceLifecycle
public import WebhookCore
import WebhookDispatch
public import WorkerCore

/// Runs jobs through download → transcribe → plan → detect → render → upload, at most
/// `maxConcurrentJobs` at a time, reporting each step to the delivery engine.
///
/// A job's state change and its event are stored together (``JobStateUpdate``); progress is
/// fire-and-forget, the terminal event is awaited. Cancelling a job stops its running stage
/// (task cancellation reaches the download and the engine). On start it resumes every
/// unfinished job from its download, so a crash leaves none hanging.
public actor PipelineRunner<Jobs: JobStore, Publisher: JobEventPublisher, Clock: WorkerClock>: Service {
    /// Settings of the runner.
    public struct Configuration: Sendable {
        /// `CLIPPING_WORKER_MAX_CONCURRENT_JOBS` (default 2).
        public var maxConcurrentJobs: Int
        /// `<data dir>/media`: local outputs go to `<mediaDirectory>/<job_id>/`.
        public var mediaDirectory: String
        /// `<data dir>/work`: per-job scratch space, removed after each job.
        public var workDirectory: String
        /// Where outputs are stored (local media directory or S3).
        public var storage: any OutputStorage
        /// A job whose end could not be stored (full disk, failing store) runs again after this
        /// long, in this process, instead of staying unfinished until a restart.
        public var retryUnstoredAfter: Duration = .seconds(5)

        /// Creates a configuration.
        public init(maxConcurrentJobs: Int = 2, mediaDirectory: String, workDirectory: String, storage: any OutputStorage) {
            self.maxConcurrentJobs = max(1, maxConcurrentJobs)
            self.mediaDirectory = mediaDirectory
            self.workDirectory = workDirectory
            self.storage = storage
        }

        /// Local storage under `mediaDirectory`, served at `mediaBaseURL`.
        public init(maxConcurrentJobs: Int = 2, mediaDirectory: String, workDirectory: String, mediaBaseURL: String) {
            self.init(
                maxConcurrentJobs: maxConcurrentJobs, mediaDirectory: mediaDirectory, workDirectory: workDirectory,
                storage: LocalOutputStorage(mediaDirectory: mediaDirectory, mediaBaseURL: mediaBaseURL))
        }
    }

    private let jobs: Jobs
    private let publisher: Publisher
    private let clock: Clock
    private let engine: any ClippingEngine
    private let downloader: MediaDownloader
    private let configuration: Configuration
    private let logger: Logger
    private let events: AsyncStream<Event>
    private let eventsInput: AsyncStream<Event>.Continuation
    private let shutdown: ShutdownDeadline
    private nonisolated let metrics: JobMetrics
    private var cancelSignals: [String: CancelSignal] = [:]
    private var queued: Set<String> = []
    /// Jobs whose run has begun and not ended. An enqueue of one of them (the start-up recovery
    /// and the API both enqueue a job submitted as the worker starts) is ignored: a second run
    /// beside the first would work in the same directories and, failing, delete the outputs of
    /// the job the first run completed.
    private var running: Set<String> = []
    /// Jobs to run again when their current run ends: their end could not be stored.
    private var runAgain: Set<String> = []
    /// Shared store: jobs this process claimed, from the claim until their run ends. A claim
    /// round excludes them (the store would hand this worker's own jobs back to it).
    private var claimed: Set<String> = []
    /// Shared store (PostgreSQL): jobs come by claims, not by the local queue alone.
    private let claims: (any RunClaiming)?
    /// Ends the wait of ``maintainRuns(every:)`` early.
    private nonisolated let maintenanceWake = WakeSignal()
    /// Hands the pending events of a claimed job to the dispatcher.
    private let adopt: @Sendable (ClaimedJob) async throws -> Void

    /// Creates a runner; nothing runs until ``run()``.
    public init(
        jobs: Jobs, publisher: Publisher, clock: Clock, engine: any ClippingEngine, downloader: MediaDownloader,
        configuration: Configuration, shutdown: ShutdownDeadline = ShutdownDeadline(grace: .seconds(20)),
        claims: (any RunClaiming)? = nil, adopt: @escaping @Sendable (ClaimedJob) async throws -> Void = { _ in },
        metricsFactory: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) {
        self.claims = claims
        self.adopt = adopt
        self.metrics = JobMetrics(factory: metricsFactory)
        self.jobs = jobs
        self.publisher = publisher
        self.clock = clock
        self.engine = engine
        self.downloader = downloader
        self.configuration = configuration
        self.logger = logger
        (events, eventsInput) = AsyncStream.makeStream(of: Event.self)
        self.shutdown = shutdown
    }

    /// Queues a stored job. On a shared store the job is claimed first (by whichever worker has a
    /// free slot): this worker looks for work at once.
    public func enqueue(_ jobID: String) {
        if claims != nil {
            eventsInput.yield(.lookForWork)
            return
        }
        guard !running.contains(jobID), queued.insert(jobID).inserted else { return }
        eventsInput.yield(.enqueued(jobID))
    }

    /// Shared store: another worker announced a queued job or a cancel: claim if slots are free,
    /// and check the runs here for cancellations now rather than at the next period.
    public nonisolated func lookForWork() {
        eventsInput.yield(.lookForWork)
        maintenanceWake.signal()
    }

    /// True once graceful shutdown began: the API refuses new jobs (503) from then on.
    public nonisolated var isShuttingDown: Bool { shutdown.hasBegun }

    /// Stops a job: a queued one ends `cancelled` at once (without waiting for a slot), a running
    /// one stops its current stage. The job ends as `cancelled` with a `job.failed` webhook
    /// (`error: "cancelled"`, `error_code: "cancelled"`).
    /// - Returns: the job after the request, or nil for an unknown id.
    public func cancel(_ jobID: String) async throws(JobStoreError) -> JobRecord? {
        let job = try await jobs.requestCancel(jobID, at: clock.now)
        if let signal = cancelSignals[jobID] {
            signal.fire()
        } else if queued.contains(jobID) {
            eventsInput.yield(.cancelQueued(jobID))
        }
        return job
    }

    /// What the run loop reacts to.
    enum Event: Sendable {
        case enqueued(String)
        /// A job left its processing slot (it ended, or stored its terminal event and now only
        /// awaits that event's attempts, which need no slot).
        case slotFreed
        /// A queued job was cancelled: finish it now, outside the slots.
        case cancelQueued(String)
        case shutdownBegan
        /// The shutdown grace ended: cancel what still runs.
        case graceOver
        /// Shared store: claim jobs if slots are free (a submission, a freed slot, the poll).
        case lookForWork
        /// Shared store: a claim round ended.
        case claimed([String])
    }

    /// Resumes unfinished jobs, then runs queued ones, at most `maxConcurrentJobs` at a time,
    /// until graceful shutdown.
    ///
    /// On graceful shutdown no queued job starts; running jobs get the shutdown grace, then are
    /// cancelled. A job interrupted that way is not `cancelled`: it stays unfinished and runs
    /// again after the restart. The run returns as soon as nothing runs, at the latest just
    /// after the grace.
    public func run() async throws {
        if claims == nil {
            for job in try await jobs.unfinishedJobs() { enqueue(job.id) }
        }
        let eventsInput = self.eventsInput
        let limit = configuration.maxConcurrentJobs
        let clock = self.clock
        let shutdown = self.shutdown
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var waiting = Deque<String>()
                var running = 0
                var draining = false
                var claiming = false
                if let claims = self.claims {
                    // Polls for work and keeps watch over the runs (lost leases, remote cancels).
                    group.addTask { await self.maintainRuns(every: claims.maintenancePeriod) }
                    eventsInput.yield(.lookForWork)
                }
                for await event in self.events {
                    switch event {
                    case .enqueued(let jobID):
                        waiting.append(jobID)
                    case .lookForWork:
                        let free = limit - running - waiting.count
                        if !draining, !claiming, free > 0 {
                            claiming = true
                            group.addTask { eventsInput.yield(.claimed(await self.claimRound(limit: free))) }
                        }
                    case .claimed(let jobIDs):
                        claiming = false
                        for jobID in jobIDs {
                            if draining {
                                // Claimed as shutdown began: let it go (its lease lapses for another worker).
                                await self.release(claimOf: jobID)
                            } else {
                                waiting.append(jobID)
                            }
                        }
                    case .slotFreed:
                        running -= 1
                        if self.claims != nil { eventsInput.yield(.lookForWork) }
                    case .cancelQueued(let jobID):
                        guard let index = waiting.firstIndex(of: jobID) else { break }
                        waiting.remove(at: index)
                        group.addTask { await self.runJob(jobID, slot: nil) }
                    case .shutdownBegan:
                        draining = true
                        let deadline = shutdown.deadline(from: clock.now)
                        group.addTask {
                            try? await clock.sleep(until: deadline)
                            if !Task.isCancelled { eventsInput.yield(.graceOver) }
                        }
                    case .graceOver:
                        // Everything still running is interrupted (and resumes after the restart).
                        group.cancelAll()
                    }
                    if draining {
                        if running == 0 { break }
                        continue
                    }
                    while running < limit, let next = waiting.popFirst() {
                        running += 1
                        let slot = SlotRelease { eventsInput.yield(.slotFreed) }
                        group.addTask { await self.runJob(next, slot: slot) }
                    }
                    // After the slots are filled: recorded before, the gauges lagged one event behind
                    // (a queue that had drained still showed its last job).
                    self.metrics.running.record(running)
                    self.metrics.queued.record(waiting.count)
                }
                // Jobs only awaiting their terminal attempts, and the grace timer, end now.
                group.cancelAll()
            }
        } onGracefulShutdown: {
            shutdown.begin()
            eventsInput.yield(.shutdownBegan)
        }
    }

    // MARK: - Shared store

    /// Claims up to `limit` jobs and hands their leftover events to the dispatcher.
    /// - Returns: the ids of the jobs to run.
    private func claimRound(limit: Int) async -> [String] {
        guard let claims else { return [] }
        let runs: [ClaimedRun]
        do {
            runs = try await claims.claimRuns(limit: limit, excluding: claimed)
        } catch {
            logger.warning("could not claim jobs", metadata: [LogMetadataKey.error: "\(error)"])
            return []
        }
        var ids = [String]()
        for run in runs where claimed.insert(run.job.id).inserted {
            do {
                try await adopt(run.events)
            } catch {
                // The dispatcher could not recover: the job's events stay where they are.
                logger.warning(
                    "could not take over a claimed job's events",
                    metadata: [LogMetadataKey.jobID: "\(run.job.id)", LogMetadataKey.error: "\(error)"])
            }
            if run.job.status != .queued {
                logger.info(
                    "taking over a job whose worker stopped", metadata: [LogMetadataKey.jobID: "\(run.job.id)"])
            }
            queued.insert(run.job.id)
            ids.append(run.job.id)
        }
        return ids
    }

    /// A claimed job that will not run here.
    private func release(claimOf jobID: String) {
        claimed.remove(jobID)
        queued.remove(jobID)
        claims?.endRun(jobID)
    }

    /// Every `period`: looks for work, stops runs whose lease another worker took, and stops runs
    /// cancelled through another worker (SPEC section 8: within a lease renewal).
    private func maintainRuns(every period: Duration) async {
        while !Task.isCancelled {
            let deadline = clock.now.advanced(by: period)
            let (clock, wake) = (self.clock, maintenanceWake)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await clock.sleep(until: deadline) }
                group.addTask { await wake.wait() }
                await group.next()
                group.cancelAll()
            }
            guard let claims, !Task.isCancelled, !shutdown.hasBegun else { return }
            eventsInput.yield(.lookForWork)
            let runs = Set(cancelSignals.keys)
            for jobID in claims.lostRuns(among: runs) {
                guard let signal = cancelSignals[jobID], !signal.lost else { continue }
                logger.warning("another worker took over a running job; stopping it here", metadata: [LogMetadataKey.jobID: "\(jobID)"])
                signal.interruptForLostLease()
            }
            do {
                for jobID in try await claims.cancelRequested(among: Array(runs)) {
                    cancelSignals[jobID]?.fire()
                }
            } catch {
                logger.warning("could not check for cancelled jobs", metadata: [LogMetadataKey.error: "\(error)"])
            }
        }
    }

    // MARK: - One job

    /// Runs one job. `slot` (nil for a cancelled queued job, which needs none) is released once:
    /// when the terminal event is stored, or when the job ends without one.
    private func runJob(_ jobID: String, slot: SlotRelease?) async {
        running.insert(jobID)
        defer {
            slot?.release()
            if claims != nil {
                claimed.remove(jobID)
                claims?.endRun(jobID)
            }
            running.remove(jobID)
            if runAgain.remove(jobID) != nil { enqueue(jobID) }
        }
        queued.remove(jobID)
        let stored: JobRecord?
        do {
            stored = try await jobs.job(jobID)
        } catch {
            // The job stays unfinished in the store and is picked up again on the next start.
            logger.error("could not read a queued job", metadata: [LogMetadataKey.jobID: "\(jobID)", LogMetadataKey.error: "\(error)"])
            return
        }
        guard let job = stored, !job.status.isFinished else { return }
        // This job's lines carry its trace id, so they can be found from the submitter's trace.
        let logger = Self.logger(self.logger, for: job)
        let signal = CancelSignal()
        cancelSignals[jobID] = signal
        defer { cancelSignals[jobID] = nil }
        if job.cancelRequested {
            await finish(job, as: .cancelled, error: "cancelled", code: .cancelled, output: nil, started: clock.now, slot: slot)
            return
        }
        let started = clock.now
        logger.info(
            job.status == .queued ? "job started" : "job resumed",
            metadata: [LogMetadataKey.jobID: "\(jobID)", LogMetadataKey.jobStatus: "\(job.status.rawValue)"])
        let work = configuration.workDirectory + "/" + jobID
        let outputs = configuration.mediaDirectory + "/" + jobID
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let reporter = JobProgressReporter(
            job: job, publisher: publisher, clock: clock, stageDurations: metrics.stageDuration, logger: logger)
        let result: Result<JobOutput, any Error> = await withTaskGroup(of: Result<JobOutput, any Error>?.self) { group in
            group.addTask {
                do {
                    await reporter.enter(.downloading, resumed: job.status != .queued)
                    let source = try await self.downloader.fetch(job.spec.videoURL, into: work)
                    try Task.checkCancellation()
                    let context = EngineContext(
                        job: job, source: source, workDirectory: work, storage: self.configuration.storage)
                    var output = try await self.engine.process(
                        context, enter: { await reporter.enter($0, resumed: false) }, reporter: reporter)
                    output.processingTimeSeconds = Double(started.duration(to: self.clock.now).wholeMilliseconds) / 1000
                    return .success(output)
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                await signal.wait()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        if case .failure(let error) = result, error is CancellationError, !signal.fired {
            // Shutdown interrupted the stage: it runs again after the restart, so its partial
            // duration says nothing.
        } else {
            reporter.endStage()
        }
        // Scratch files go before the job is seen finished (its terminal webhook may take a
        // while, and a finished job's disk use should already be gone).
        try? FileManager.default.removeItem(atPath: work)
        if case .failure = result {
            // A job that did not complete keeps no partial outputs.
            try? FileManager.default.removeItem(atPath: outputs)
        }
        switch result {
        case .success(let output):
            logger.info("job completed", metadata: [LogMetadataKey.jobID: "\(jobID)", LogMetadataKey.jobClips: "\(output.totalClips)"])
            await finish(job, as: .completed, error: nil, code: nil, output: output, started: started, slot: slot)
        case .failure(let error):
            if signal.fired || error is CancellationError {
                if signal.fired {
                    logger.info("job cancelled", metadata: [LogMetadataKey.jobID: "\(jobID)"])
                    await finish(
                        job, as: .cancelled, error: "cancelled", code: .cancelled, output: nil, started: started, slot: slot)
                }
                // Otherwise the service is shutting down: the job stays unfinished and resumes on the next start.
            } else {
                // The webhook gets a sentence for people and a code; tool output and paths go
                // to the log only.
                let failure = (error as? PipelineError)
                    ?? PipelineError(
                        .internal, "Processing failed during \(reporter.currentStage.rawValue)", detail: "\(error)")
                logger.warning(
                    "job failed",
                    metadata: [
                        LogMetadataKey.jobID: "\(jobID)", LogMetadataKey.jobErrorCode: "\(failure.code.rawValue)", LogMetadataKey.jobError: "\(failure.message)",
                        LogMetadataKey.jobErrorDetail: "\(failure.detail ?? "")",
                    ])
                await finish(
                    job, as: .failed, error: failure.message, code: failure.code, output: nil, started: started, slot: slot)
            }
        }
    }

    /// `base`, with the job's trace id when it was submitted with one.
    private static func logger(_ base: Logger, for job: JobRecord) -> Logger {
        guard let trace = job.spec.trace else { return base }
        var logger = base
        logger[metadataKey: LogMetadataKey.traceID] = "\(trace.traceID)"
        return logger
    }

    private func finish(
        _ job: JobRecord, as status: JobStatus, error: String?, code: JobErrorCode?, output: JobOutput?, started: Timestamp,
        slot: SlotRelease?
    ) async {
        let logger = Self.logger(self.logger, for: job)
        let outputJSON = output.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        metrics.finished[status]?.increment()
        let update = JobStateUpdate(
            jobID: job.id, status: status, progressPercent: status == .completed ? 100 : job.progressPercent,
            currentStep: status == .completed ? "Completed" : (status == .cancelled ? "Cancelled" : "Failed"),
            clipsCompleted: output?.totalClips, totalClips: output?.totalClips, error: error, outputJSON: outputJSON)
        do {
            let event = try job.spec.callbackURL.map { callback in
                // A cancelled job's webhook is job.failed with status "failed" and error "cancelled" (SPEC section 4).
                let snapshot = JobSnapshot(
                    timestamp: clock.now, jobID: job.id, externalJobID: job.spec.externalJobID,
                    ownerUserID: job.spec.ownerUserID, status: status == .completed ? .completed : .failed,
                    progressPercent: update.progressPercent, currentStep: update.currentStep,
                    clipsCompleted: output?.totalClips, totalClips: output?.totalClips, error: error, errorCode: code,
                    output: output)
                return try EventDraft(
                    kind: status == .completed ? .completed : .failed, callbackURL: callback, snapshot: snapshot,
                    trace: job.spec.trace)
            }
            let delivery = try await publisher.publishTerminal(update, event: event, stored: { slot?.release() })
            logger.debug(
                "job finished", metadata: [LogMetadataKey.jobID: "\(job.id)", LogMetadataKey.jobStatus: "\(status)", LogMetadataKey.webhookDelivery: "\(String(describing: delivery))"])
        } catch {
            logger.error(
                "could not store the end of a job; it runs again once the store takes writes",
                metadata: [LogMetadataKey.jobID: "\(job.id)", LogMetadataKey.error: "\(error)"])
            slot?.release()
            // Still unfinished in the store: run it again later, so it ends in this process
            // once writes succeed (it never reported its end, so nothing is sent twice).
            if (try? await clock.sleep(until: clock.now.advanced(by: configuration.retryUnstoredAfter))) != nil {
                runAgain.insert(job.id)
            }
        }
    }
}
