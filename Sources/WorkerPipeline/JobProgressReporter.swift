import Foundation
import Synchronization
import Logging
import Metrics
import WebhookCore
import WebhookDispatch
import WorkerCore

/// Turns stage entries and in-stage progress into job state updates and progress webhooks.
///
/// | stage | progress_percent |
/// |---|---|
/// | downloading | 0–10 |
/// | transcribing | 10–30 |
/// | planning | 30–40 |
/// | detecting | 40–50 |
/// | rendering | 50–90 |
/// | uploading | 90–99 |
final class JobProgressReporter<Publisher: JobEventPublisher, Clock: WorkerClock>: StageReporter, @unchecked Sendable {
    // @unchecked: `stage` and `started` are touched only by the one task running the job.
    private let job: JobRecord
    private let publisher: Publisher
    private let clock: Clock
    private let logger: Logger
    private let stageDurations: [JobStatus: Metrics.Timer]
    private var stage = JobStatus.queued
    /// When the current stage was entered (its duration is recorded when it ends).
    private var stageEntered: Timestamp?
    private var sentStarted = false
    /// The highest progress already reported for this job (kept in its row): a job resumed
    /// after a restart never reports less, so progress bars built on it never jump back.
    private var floor: Int

    init(
        job: JobRecord, publisher: Publisher, clock: Clock, stageDurations: [JobStatus: Metrics.Timer] = [:],
        logger: Logger
    ) {
        self.job = job
        self.publisher = publisher
        self.clock = clock
        self.stageDurations = stageDurations
        self.logger = logger
        self.floor = job.progressPercent
    }

    /// Records the current stage's duration: it ended because the next one began or the job
    /// ended (completed, failed or cancelled in it). A stage cut short by shutdown is not recorded.
    func endStage() {
        guard let entered = stageEntered else { return }
        stageEntered = nil
        stageDurations[stage]?.record(duration: max(.zero, entered.duration(to: clock.now)))
    }

    /// The stage the job is in (for the error of a failure without a code of its own).
    var currentStage: JobStatus { stage }

    static func range(of stage: JobStatus) -> (Int, Int) {
        switch stage {
        case .downloading: (0, 10)
        case .transcribing: (10, 30)
        case .planning: (30, 40)
        case .detecting: (40, 50)
        case .rendering: (50, 90)
        case .uploading: (90, 99)
        default: (0, 0)
        }
    }

    static func step(of stage: JobStatus) -> String {
        switch stage {
        case .downloading: "Downloading video..."
        case .transcribing: "Transcribing audio..."
        case .planning: "Planning clips..."
        case .detecting: "Detecting scenes and layout..."
        case .rendering: "Rendering clips..."
        case .uploading: "Uploading outputs..."
        default: stage.rawValue
        }
    }

    /// The job enters `stage`; the first entry of a fresh job is its `job.started` event.
    func enter(_ stage: JobStatus, resumed: Bool = false) async {
        endStage()
        self.stage = stage
        stageEntered = clock.now
        let (low, _) = Self.range(of: stage)
        let step = resumed ? "Resuming after a restart: " + Self.step(of: stage) : Self.step(of: stage)
        let kind: EventKind = sentStarted || resumed ? .progress : .started
        sentStarted = true
        await send(kind, percent: low, step: step, clipsCompleted: nil, totalClips: nil)
    }

    func report(fraction: Double, step: String, clipsCompleted: Int?, totalClips: Int?) async {
        let (low, high) = Self.range(of: stage)
        let percent = low + Int((Double(high - low) * min(1, max(0, fraction))).rounded(.down))
        await send(.progress, percent: percent, step: step, clipsCompleted: clipsCompleted, totalClips: totalClips)
    }

    private func send(_ kind: EventKind, percent: Int, step: String, clipsCompleted: Int?, totalClips: Int?) async {
        let percent = max(percent, floor)
        floor = percent
        let update = JobStateUpdate(
            jobID: job.id, status: stage, progressPercent: percent, currentStep: step,
            clipsCompleted: clipsCompleted, totalClips: totalClips)
        do {
            let event = try job.spec.callbackURL.map { callback in
                let snapshot = JobSnapshot(
                    timestamp: clock.now, jobID: job.id, externalJobID: job.spec.externalJobID,
                    ownerUserID: job.spec.ownerUserID, status: stage, progressPercent: percent, currentStep: step,
                    clipsCompleted: clipsCompleted, totalClips: totalClips)
                return try EventDraft(kind: kind, callbackURL: callback, snapshot: snapshot, trace: job.spec.trace)
            }
            try await publisher.publish(update, event: event)
        } catch {
            // Progress is fire-and-forget: a failed store write loses one update, never the job.
            logger.warning("could not store a progress update", metadata: [LogMetadataKey.jobID: "\(job.id)", LogMetadataKey.error: "\(error)"])
        }
    }
}

/// Fired once to stop one job; waiting on it returns when fired or when the task is cancelled.
///
/// Two reasons stop a job: an operator's cancel (the job ends `cancelled`), or the loss of its
/// lease to another worker (it is that worker's now: this one stops without a word, like an
/// interruption by shutdown).
final class CancelSignal: Sendable {
    private let signal = WakeSignal()
    private let lostLease = Mutex(false)

    /// Cancelled by an operator.
    var fired: Bool { signal.isClosed && !lost }

    /// Stopped because another worker holds the job now.
    var lost: Bool { lostLease.withLock { $0 } }

    func fire() { signal.close() }

    func interruptForLostLease() {
        lostLease.withLock { $0 = true }
        signal.close()
    }

    func wait() async { await signal.wait() }
}
