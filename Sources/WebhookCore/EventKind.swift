/// The four webhook event types of SPEC section 5.
public enum EventKind: String, Sendable, Hashable, CaseIterable, Codable {
    case started = "job.started"
    case progress = "job.progress"
    case completed = "job.completed"
    case failed = "job.failed"

    /// Terminal events are awaited by the job, never throttled, and retried until the max age.
    public var isTerminal: Bool { self == .completed || self == .failed }
}
