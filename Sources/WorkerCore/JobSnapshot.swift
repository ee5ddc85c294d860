public import WebhookCore

/// The job-describing part of every webhook payload: everything except `event`, `event_id` and
/// `sequence`, which the outbox adds when it stores the event (SPEC section 5).
public struct JobSnapshot: Codable, Sendable, Hashable {
    /// When the update happened (`timestamp` in the payload).
    public var timestamp: Timestamp
    public var jobID: String
    public var externalJobID: String?
    public var ownerUserID: String?
    /// The job's status as the payload shows it (a cancelled job's `job.failed` says `failed`).
    public var status: JobStatus
    /// 0–100.
    public var progressPercent: Int
    /// Human-readable, e.g. `Rendering clip 3/5...`.
    public var currentStep: String
    public var clipsCompleted: Int?
    public var totalClips: Int?
    /// Set on `job.failed`.
    public var error: String?
    /// Set on `job.failed`: why, for code (SPEC section 5).
    public var errorCode: JobErrorCode?
    /// Set on `job.completed`.
    public var output: JobOutput?

    /// Creates a snapshot.
    public init(
        timestamp: Timestamp, jobID: String, externalJobID: String? = nil, ownerUserID: String? = nil,
        status: JobStatus, progressPercent: Int, currentStep: String, clipsCompleted: Int? = nil,
        totalClips: Int? = nil, error: String? = nil, errorCode: JobErrorCode? = nil, output: JobOutput? = nil
    ) {
        self.timestamp = timestamp
        self.jobID = jobID
        self.externalJobID = externalJobID
        self.ownerUserID = ownerUserID
        self.status = status
        self.progressPercent = min(100, max(0, progressPercent))
        self.currentStep = currentStep
        self.clipsCompleted = clipsCompleted
        self.totalClips = totalClips
        self.error = error
        self.errorCode = errorCode
        self.output = output
    }

    enum CodingKeys: String, CodingKey {
        case timestamp
        case jobID = "job_id"
        case externalJobID = "external_job_id"
        case ownerUserID = "owner_user_id"
        case status
        case progressPercent = "progress_percent"
        case currentStep = "current_step"
        case clipsCompleted = "clips_completed"
        case totalClips = "total_clips"
        case error, output
        case errorCode = "error_code"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .timestamp)
        guard let time = Timestamp(iso8601: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .timestamp, in: container, debugDescription: "not an ISO 8601 UTC timestamp")
        }
        timestamp = time
        jobID = try container.decode(String.self, forKey: .jobID)
        externalJobID = try container.decodeIfPresent(String.self, forKey: .externalJobID)
        ownerUserID = try container.decodeIfPresent(String.self, forKey: .ownerUserID)
        status = try container.decode(JobStatus.self, forKey: .status)
        progressPercent = try container.decode(Int.self, forKey: .progressPercent)
        currentStep = try container.decode(String.self, forKey: .currentStep)
        clipsCompleted = try container.decodeIfPresent(Int.self, forKey: .clipsCompleted)
        totalClips = try container.decodeIfPresent(Int.self, forKey: .totalClips)
        error = try container.decodeIfPresent(String.self, forKey: .error)
        errorCode = try container.decodeIfPresent(JobErrorCode.self, forKey: .errorCode)
        output = try container.decodeIfPresent(JobOutput.self, forKey: .output)
    }

    /// `external_job_id` is always present (null when not given); the optional fields of SPEC
    /// section 5 ("when given", "when known") are left out when absent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(timestamp.iso8601, forKey: .timestamp)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(externalJobID, forKey: .externalJobID)
        try container.encodeIfPresent(ownerUserID, forKey: .ownerUserID)
        try container.encode(status, forKey: .status)
        try container.encode(progressPercent, forKey: .progressPercent)
        try container.encode(currentStep, forKey: .currentStep)
        try container.encodeIfPresent(clipsCompleted, forKey: .clipsCompleted)
        try container.encodeIfPresent(totalClips, forKey: .totalClips)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(errorCode, forKey: .errorCode)
        try container.encodeIfPresent(output, forKey: .output)
    }
}
