public import WebhookCore

/// A job's new public state, stored by the ``JobStore`` in the same transaction as the events
/// that report it (or alone when the throttle holds the event back), so the job and its
/// webhooks never disagree.
///
/// Kept apart from the payload because they can differ: a cancelled job has status
/// `cancelled` while its `job.failed` webhook says `failed`.
public struct JobStateUpdate: Sendable, Hashable {
    public var jobID: String
    public var status: JobStatus
    public var progressPercent: Int
    public var currentStep: String
    public var clipsCompleted: Int?
    public var totalClips: Int?
    public var error: String?
    /// The encoded ``JobOutput`` of a completed job.
    public var outputJSON: String?

    /// Creates an update.
    public init(
        jobID: String, status: JobStatus, progressPercent: Int, currentStep: String, clipsCompleted: Int? = nil,
        totalClips: Int? = nil, error: String? = nil, outputJSON: String? = nil
    ) {
        self.jobID = jobID
        self.status = status
        self.progressPercent = progressPercent
        self.currentStep = currentStep
        self.clipsCompleted = clipsCompleted
        self.totalClips = totalClips
        self.error = error
        self.outputJSON = outputJSON
    }
}
