import Foundation
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
    private let queue: AsyncStream<String>
    private let queueInput: AsyncStream<String>.Continuation
    private var cancelSignals: [String: CancelSignal] = [:]
    private var queued: Set<String> = []

    /// Creates a runner; nothing runs until ``run()``.
    public init(
        jobs: Jobs, publisher: Publisher, clock: Clock, engine: any ClippingEngine, downloader: MediaDownloader,
        configuration: Configuration, logger: Logger
    ) {
        self.jobs = jobs
        self.publisher = publisher
        self.clock = clock
        self.engine = engine
        self.downloader = downloader
        self.configuration = configuration
        self.logger = logger
        (queue, queueInput) = AsyncStream.makeStream(of: String.self)
    }

    /// Queues a stored job.
    public func enqueue(_ jobID: String) {
        guard queued.insert(jobID).inserted else { return }
        queueInput.yield(jobID)
    }

    /// Stops a job: a queued one never starts, a running one stops its current stage. The job
    /// ends as `cancelled` with a `job.failed` webhook (`error: "cancelled"`).
    /// - Returns: the job after the request, or nil for an unknown id.
    public func cancel(_ jobID: String) async throws(JobStoreError) -> JobRecord? {
        let job = try await jobs.requestCancel(jobID, at: clock.now)
        cancelSignals[jobID]?.fire()
        return job
    }

    /// Resumes unfinished jobs, then runs queued ones until graceful shutdown (running jobs are
    /// cancelled then and resume on the next start).
    public func run() async throws {
        for job in try await jobs.unfinishedJobs() { enqueue(job.id) }
        let queueInput = self.queueInput
        let limit = configuration.maxConcurrentJobs
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var running = 0
                var iterator = self.queue.makeAsyncIterator()
                let slots = AsyncStream<Void>.makeStream()
                var slotIterator = slots.stream.makeAsyncIterator()
                while let jobID = await iterator.next() {
                    if running >= limit {
                        _ = await slotIterator.next()
                        running -= 1
                    }
                    running += 1
                    group.addTask {
                        await self.runJob(jobID)
                        slots.continuation.yield()
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            queueInput.finish()
        }
    }

    // MARK: - One job

    private func runJob(_ jobID: String) async {
        queued.remove(jobID)
        let stored: JobRecord?
        do {
            stored = try await jobs.job(jobID)
        } catch {
            // The job stays unfinished in the store and is picked up again on the next start.
            logger.error("could not read a queued job", metadata: ["job.id": "\(jobID)", "error": "\(error)"])
            return
        }
        guard let job = stored, !job.status.isFinished else { return }
        let signal = CancelSignal()
        cancelSignals[jobID] = signal
        defer { cancelSignals[jobID] = nil }
        if job.cancelRequested {
            await finish(job, as: .cancelled, error: "cancelled", code: .cancelled, output: nil, started: clock.now)
            return
        }
        let started = clock.now
        logger.info(
            job.status == .queued ? "job started" : "job resumed",
            metadata: ["job.id": "\(jobID)", "job.status": "\(job.status.rawValue)"])
        let work = configuration.workDirectory + "/" + jobID
        let outputs = configuration.mediaDirectory + "/" + jobID
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let reporter = JobProgressReporter(job: job, publisher: publisher, clock: clock, logger: logger)
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
        if case .failure = result {
            // A job that did not complete keeps no partial outputs.
            try? FileManager.default.removeItem(atPath: outputs)
        }
        switch result {
        case .success(let output):
            logger.info("job completed", metadata: ["job.id": "\(jobID)", "job.clips": "\(output.totalClips)"])
            await finish(job, as: .completed, error: nil, code: nil, output: output, started: started)
        case .failure(let error):
            if signal.fired || error is CancellationError {
                if signal.fired {
                    logger.info("job cancelled", metadata: ["job.id": "\(jobID)"])
                    await finish(job, as: .cancelled, error: "cancelled", code: .cancelled, output: nil, started: started)
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
                        "job.id": "\(jobID)", "job.error_code": "\(failure.code.rawValue)", "job.error": "\(failure.message)",
                        "job.error_detail": "\(failure.detail ?? "")",
                    ])
                await finish(job, as: .failed, error: failure.message, code: failure.code, output: nil, started: started)
            }
        }
    }

    private func finish(
        _ job: JobRecord, as status: JobStatus, error: String?, code: JobErrorCode?, output: JobOutput?, started: Timestamp
    ) async {
        let outputJSON = output.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
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
                return try EventDraft(kind: status == .completed ? .completed : .failed, callbackURL: callback, snapshot: snapshot)
            }
            let delivery = try await publisher.publishTerminal(update, event: event)
            logger.debug(
                "job finished", metadata: ["job.id": "\(job.id)", "job.status": "\(status)", "webhook": "\(String(describing: delivery))"])
        } catch {
            logger.error("could not store the end of a job", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
        }
    }
}
