/// A job's status (SPEC section 4): queued, the six stages, then one of three ends.
public enum JobStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case queued
    case downloading, transcribing, planning, detecting, rendering, uploading
    case completed, failed, cancelled

    /// The pipeline stages in order.
    public static let stages: [JobStatus] = [.downloading, .transcribing, .planning, .detecting, .rendering, .uploading]

    /// True for `completed`, `failed` and `cancelled`.
    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// Where the clips will be posted; decides the output frame.
public enum TargetPlatform: String, Sendable, Hashable, CaseIterable, Codable {
    case tiktok
    case youtubeShorts = "youtube_shorts"
    case instagramReels = "instagram_reels"
    case youtube
}
