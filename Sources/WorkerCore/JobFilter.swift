public import WebhookCore

/// Which jobs `GET /ai-clipping/jobs` and `clipping-worker jobs list` show (SPEC sections 2 and 4):
/// every field narrows the match; `since` compares with `created_at` (inclusive).
public struct JobFilter: Sendable, Hashable {
    public var status: JobStatus?
    public var externalJobID: String?
    public var ownerUserID: String?
    public var since: Timestamp?

    /// Creates a filter.
    public init(status: JobStatus? = nil, externalJobID: String? = nil, ownerUserID: String? = nil, since: Timestamp? = nil) {
        self.status = status
        self.externalJobID = externalJobID
        self.ownerUserID = ownerUserID
        self.since = since
    }
}

/// Where a newest-first job listing continues: the last row's `(created_at, job_id)` (keyset
/// pagination, stable while jobs arrive). Text form `<created_at ms>.<job_id>`.
public struct JobCursor: Sendable, Hashable, CustomStringConvertible {
    public var createdAt: Timestamp
    public var jobID: String

    /// Creates a cursor after the row `(createdAt, jobID)`.
    public init(createdAt: Timestamp, jobID: String) {
        self.createdAt = createdAt
        self.jobID = jobID
    }

    /// Parses the text form; nil when malformed.
    public init?(_ text: String) {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]) else { return nil }
        let id = String(text[text.index(after: dot)...])
        guard id.hasPrefix("job_"), id.count <= 64 else { return nil }
        self.init(createdAt: Timestamp(milliseconds: ms), jobID: id)
    }

    public var description: String { "\(createdAt.milliseconds).\(jobID)" }
}

/// Lists jobs across the store, newest first, backed by indices (SPEC section 4:
/// `GET /ai-clipping/jobs`). Apart from ``JobStore`` (what the pipeline needs).
public protocol JobListing: Sendable {
    /// Jobs matching `filter`, newest first (`created_at`, then `job_id`, descending), after
    /// `cursor`, at most `limit`.
    func jobs(matching filter: JobFilter, after cursor: JobCursor?, limit: Int) async throws(JobStoreError) -> [JobRecord]
}
