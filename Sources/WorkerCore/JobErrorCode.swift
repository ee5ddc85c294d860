/// Why a job failed, for code (SPEC section 5: `error_code` on `job.failed`): a platform acts
/// on the code (retry a download, report bad media) and shows the `error` sentence to people.
public enum JobErrorCode: String, Sendable, Hashable, CaseIterable, Codable {
    case downloadFailed = "download_failed"
    case invalidMedia = "invalid_media"
    case transcriptionFailed = "transcription_failed"
    case renderFailed = "render_failed"
    case uploadFailed = "upload_failed"
    case cancelled
    case timeout
    case `internal`
}
