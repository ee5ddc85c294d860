public import WebhookCore
public import WorkerCore

/// A downloaded source video.
public struct SourceMedia: Sendable, Hashable {
    /// Where the file is.
    public var path: String
    public var bytes: Int64
    /// The original URL.
    public var url: String

    /// Creates a description of downloaded media.
    public init(path: String, bytes: Int64, url: String) {
        self.path = path
        self.bytes = bytes
        self.url = url
    }
}

/// What an engine works with for one job.
public struct EngineContext: Sendable {
    public var job: JobRecord
    public var source: SourceMedia
    /// A private directory for this job's intermediate files, removed afterwards.
    public var workDirectory: String
    /// Where finished outputs go.
    public var storage: any OutputStorage

    /// Creates a context.
    public init(job: JobRecord, source: SourceMedia, workDirectory: String, storage: any OutputStorage) {
        self.job = job
        self.source = source
        self.workDirectory = workDirectory
        self.storage = storage
    }
}

/// Reports progress inside a stage, e.g. "Rendering clip 3/5...".
public protocol StageReporter: Sendable {
    /// - Parameters:
    ///   - fraction: 0–1 through the current stage.
    ///   - step: the human-readable `current_step`.
    ///   - clipsCompleted: clips rendered so far, when known.
    ///   - totalClips: clips planned, when known.
    func report(fraction: Double, step: String, clipsCompleted: Int?, totalClips: Int?) async
}

/// Does the media work after the download. Each stage may be cancelled (task cancellation)
/// and must stop promptly, cleaning up what it started.
public protocol ClippingEngine: Sendable {
    /// `ffmpeg` or `simulated`, as reported in the output.
    var name: String { get }

    /// Runs transcribe → plan → detect → render → upload, calling `enter` at the start of each
    /// stage so the runner can report it.
    /// - Returns: the job's output.
    /// - Throws: ``PipelineError`` with a message fit for the job's `error`.
    func process(
        _ context: EngineContext, enter: @Sendable (JobStatus) async -> Void, reporter: any StageReporter
    ) async throws -> JobOutput
}

/// A job failure a person can read: `message` goes into `job.failed`'s `error` (so it never
/// holds internal paths or tool output), `code` into its `error_code`, and `detail` (tool
/// output, file paths) only into the process log.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public var code: JobErrorCode
    public var message: String
    /// For the log only.
    public var detail: String?

    /// Creates an error.
    public init(_ code: JobErrorCode, _ message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String { message }
}
