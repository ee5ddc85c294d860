/// The job-describing part of every webhook payload: everything except `event`, `event_id` and
/// `sequence`, which the outbox adds when it stores the event (SPEC section 5).
public struct JobSnapshot: Codable, Sendable, Hashable {
    /// When the update happened (`timestamp` in the payload).
    public var timestamp: Timestamp
    public var jobID: String
    public var externalJobID: String?
    public var ownerUserID: String?
    /// A job status such as `rendering` or `completed`.
    public var status: String
    /// 0–100.
    public var progressPercent: Int
    /// Human-readable, e.g. `Rendering clip 3/5...`.
    public var currentStep: String
    public var clipsCompleted: Int?
    public var totalClips: Int?
    /// Set on `job.failed`.
    public var error: String?
    /// Set on `job.completed`.
    public var output: JobOutput?

    /// Creates a snapshot.
    public init(
        timestamp: Timestamp, jobID: String, externalJobID: String? = nil, ownerUserID: String? = nil,
        status: String, progressPercent: Int, currentStep: String, clipsCompleted: Int? = nil,
        totalClips: Int? = nil, error: String? = nil, output: JobOutput? = nil
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
        status = try container.decode(String.self, forKey: .status)
        progressPercent = try container.decode(Int.self, forKey: .progressPercent)
        currentStep = try container.decode(String.self, forKey: .currentStep)
        clipsCompleted = try container.decodeIfPresent(Int.self, forKey: .clipsCompleted)
        totalClips = try container.decodeIfPresent(Int.self, forKey: .totalClips)
        error = try container.decodeIfPresent(String.self, forKey: .error)
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
        try container.encodeIfPresent(output, forKey: .output)
    }
}

extension Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for i in from..<(from + count) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
            let minute = num(14, 2), let second = num(17, 2), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var millis = 0
        if b[19] == UInt8(ascii: ".") {
            var scale = 100
            var i = 20
            while i < b.count - 1 {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                millis += Int(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        } else if b.count != 20 {
            return nil
        }
        // Days from civil (Howard Hinnant's algorithm), avoiding timegm's locale/TZ dependence.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(milliseconds: seconds * 1000 + Int64(millis))
    }
}
