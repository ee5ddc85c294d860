/// The process log's format (`CLIPPING_WORKER_LOG_FORMAT`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler` lines, for people.
    case text
    /// One JSON object per line (``JSONLogHandler``), for log shippers.
    case json
}
