public import WebhookCore

/// A job as stored: its request and where it stands.
public struct JobRecord: Sendable, Hashable {
    /// `job_` followed by 26 base32 characters, sortable by creation time.
    public var id: String
    public var spec: JobSpec
    public var status: JobStatus
    public var progressPercent: Int
    public var currentStep: String
    public var clipsCompleted: Int?
    public var totalClips: Int?
    public var error: String?
    /// The encoded ``JobOutput`` once completed.
    public var outputJSON: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// A cancel was asked for and the pipeline has not finished the job yet.
    public var cancelRequested: Bool

    /// Creates a record.
    public init(
        id: String, spec: JobSpec, status: JobStatus = .queued, progressPercent: Int = 0, currentStep: String = "Queued",
        clipsCompleted: Int? = nil, totalClips: Int? = nil, error: String? = nil, outputJSON: String? = nil,
        createdAt: Timestamp, updatedAt: Timestamp? = nil, cancelRequested: Bool = false
    ) {
        self.id = id
        self.spec = spec
        self.status = status
        self.progressPercent = progressPercent
        self.currentStep = currentStep
        self.clipsCompleted = clipsCompleted
        self.totalClips = totalClips
        self.error = error
        self.outputJSON = outputJSON
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.cancelRequested = cancelRequested
    }

    /// A new job id for a job created at `time`.
    public static func newID(at time: Timestamp) -> String {
        "job_" + EventID.generate(at: time).description.dropFirst(4)
    }
}

/// Stores jobs. The SQLite implementation shares the outbox's database, so a job's state and
/// the event reporting it commit together (see ``JobStateUpdate``).
public protocol JobStore: Sendable {
    /// Stores a new job, or returns the one an earlier request with the same idempotency key made.
    /// - Parameters:
    ///   - idempotencyKey: the `Idempotency-Key` header, if sent.
    ///   - requestDigest: a digest of the request body; the same key with another digest is a conflict.
    ///   - maxQueued: a new job is refused (`.queueFull`) when this many are already queued;
    ///     decided in the creating transaction. A repeated idempotent request is never refused.
    /// - Returns: the job and whether it was created now.
    /// - Throws: ``JobStoreError`` `.idempotencyConflict`, `.queueFull`, or a storage failure.
    func create(_ spec: JobSpec, idempotencyKey: String?, requestDigest: String, maxQueued: Int?, at time: Timestamp)
        async throws(JobStoreError) -> (job: JobRecord, created: Bool)

    /// One job, or nil.
    func job(_ id: String) async throws(JobStoreError) -> JobRecord?

    /// Jobs not finished (queued or in a stage), oldest first: what a restart must resume.
    func unfinishedJobs() async throws(JobStoreError) -> [JobRecord]

    /// Stores a job's new state and appends `drafts` (its events) in one transaction, so the job
    /// and its webhooks never disagree. Drafts the outbox refuses (progress after the job's
    /// terminal event) are absent from the result.
    /// - Returns: the stored events.
    func record(_ update: JobStateUpdate, appending drafts: [EventDraft], at time: Timestamp)
        async throws(JobStoreError) -> [OutboxEvent]

    /// Deletes up to `limit` jobs that finished before `cutoff` (their state is final and none of
    /// their events is pending), with their events and attempts (retention, SPEC section 7), and
    /// gives the space back to the file system.
    /// - Returns: the ids deleted (their local outputs are the caller's to remove).
    func deleteFinishedJobs(before cutoff: Timestamp, limit: Int) async throws(JobStoreError) -> [String]

    /// Marks a job for cancellation; returns it, or nil for an unknown id.
    func requestCancel(_ id: String, at time: Timestamp) async throws(JobStoreError) -> JobRecord?
}

/// A job store failure.
public struct JobStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable {
        case idempotencyConflict = "idempotency_conflict"
        /// `CLIPPING_WORKER_MAX_QUEUED_JOBS` jobs are already waiting.
        case queueFull = "queue_full"
        case storage
        /// The store cannot take writes now (full disk, deleted database file, …): answer 503.
        case unavailable
        /// A shared store refused the write: another worker holds the job's lease now (fencing).
        case leaseLost = "lease_lost"
    }

    public var code: Code
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
