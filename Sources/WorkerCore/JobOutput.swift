public import WebhookCore

/// The `output` of a `job.completed` payload (SPEC section 5).
public struct JobOutput: Codable, Sendable, Hashable {
    /// One rendered clip.
    public struct Clip: Codable, Sendable, Hashable {
        public var clipIndex: Int
        public var s3URL: String
        public var durationMs: Int
        public var startTimeMs: Int
        public var endTimeMs: Int
        /// 0–1.
        public var viralityScore: Double
        public var layoutType: String
        public var summary: String
        public var tags: [String]

        /// Creates a clip description.
        public init(
            clipIndex: Int, s3URL: String, durationMs: Int, startTimeMs: Int, endTimeMs: Int,
            viralityScore: Double, layoutType: String, summary: String, tags: [String]
        ) {
            self.clipIndex = clipIndex
            self.s3URL = s3URL
            self.durationMs = durationMs
            self.startTimeMs = startTimeMs
            self.endTimeMs = endTimeMs
            self.viralityScore = viralityScore
            self.layoutType = layoutType
            self.summary = summary
            self.tags = tags
        }

        enum CodingKeys: String, CodingKey {
            case clipIndex = "clip_index"
            case s3URL = "s3_url"
            case durationMs = "duration_ms"
            case startTimeMs = "start_time_ms"
            case endTimeMs = "end_time_ms"
            case viralityScore = "virality_score"
            case layoutType = "layout_type"
            case summary, tags
        }
    }

    public var jobID: String
    public var sourceVideoURL: String
    public var sourceVideoTitle: String?
    public var sourceVideoDurationSeconds: Double?
    public var totalClips: Int
    public var clips: [Clip]
    public var transcriptURL: String?
    public var planURL: String?
    public var processingTimeSeconds: Double
    /// ISO 8601 UTC.
    public var createdAt: String
    /// `ffmpeg` or `simulated`.
    public var engine: String

    /// Creates a job output.
    public init(
        jobID: String, sourceVideoURL: String, sourceVideoTitle: String?, sourceVideoDurationSeconds: Double?,
        totalClips: Int, clips: [Clip], transcriptURL: String?, planURL: String?,
        processingTimeSeconds: Double, createdAt: String, engine: String
    ) {
        self.jobID = jobID
        self.sourceVideoURL = sourceVideoURL
        self.sourceVideoTitle = sourceVideoTitle
        self.sourceVideoDurationSeconds = sourceVideoDurationSeconds
        self.totalClips = totalClips
        self.clips = clips
        self.transcriptURL = transcriptURL
        self.planURL = planURL
        self.processingTimeSeconds = processingTimeSeconds
        self.createdAt = createdAt
        self.engine = engine
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case sourceVideoURL = "source_video_url"
        case sourceVideoTitle = "source_video_title"
        case sourceVideoDurationSeconds = "source_video_duration_seconds"
        case totalClips = "total_clips"
        case clips
        case transcriptURL = "transcript_url"
        case planURL = "plan_url"
        case processingTimeSeconds = "processing_time_seconds"
        case createdAt = "created_at"
        case engine
    }

    /// Always writes every key (null where unknown), so receivers see a stable shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(sourceVideoURL, forKey: .sourceVideoURL)
        try container.encode(sourceVideoTitle, forKey: .sourceVideoTitle)
        try container.encode(sourceVideoDurationSeconds, forKey: .sourceVideoDurationSeconds)
        try container.encode(totalClips, forKey: .totalClips)
        try container.encode(clips, forKey: .clips)
        try container.encode(transcriptURL, forKey: .transcriptURL)
        try container.encode(planURL, forKey: .planURL)
        try container.encode(processingTimeSeconds, forKey: .processingTimeSeconds)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(engine, forKey: .engine)
    }
}
