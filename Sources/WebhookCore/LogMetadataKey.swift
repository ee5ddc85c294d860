/// The process log's metadata keys, defined once (dotted, hierarchical, like postgres-nio's
/// `Logging+PSQL`): log queries and alerts are written against these names, so a key is never
/// spelled twice.
public enum LogMetadataKey {
    /// The job a line is about.
    public static let jobID = "job.id"
    /// The W3C trace id a job was submitted with (its log lines carry it).
    public static let traceID = "trace.id"
    public static let jobStatus = "job.status"
    /// `job.failed`'s `error_code`.
    public static let jobErrorCode = "job.error_code"
    /// `job.failed`'s `error` (the sentence the receiver gets).
    public static let jobError = "job.error"
    /// What only the log gets: tool output, paths.
    public static let jobErrorDetail = "job.error_detail"
    public static let jobClips = "job.clips"
    /// How the job's terminal webhook went.
    public static let webhookDelivery = "webhook.delivery"
    public static let webhookOrigin = "webhook.origin"
    public static let webhookProbeAt = "webhook.probe_at"
    public static let outboxChanges = "outbox.changes"
    public static let outboxPending = "outbox.pending"
    public static let httpRoute = "http.route"
    public static let httpHost = "http.host"
    public static let httpPort = "http.port"
    /// A failure's description (safe to show: errors keep secrets out of their descriptions).
    public static let error = "error"
}
