public import WebhookCore

/// Settings of a ``WebhookDispatcher``.
///
/// - `retryPolicy` (`WEBHOOK_RETRY_SCHEDULE`, `WEBHOOK_MAX_AGE_HOURS`): see ``RetryPolicy``.
/// - `progressMinInterval` (`WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS`, default 5 s): per-job throttle.
/// - `perOriginConcurrency` (default 32): attempts in flight to one origin, so a slow receiver
///   holds at most this many and cannot starve the others.
/// - `breakerFailureThreshold` (default 5), `firstProbeDelay` (5 s), `maxProbeInterval` (30 s):
///   see ``OriginBreaker``.
/// - `bodyCacheBytes` (default 8 MiB): event bodies kept in memory for quick sending; beyond it,
///   and for events of a paused origin,
///   bodies are read back from the store when due, so a large backlog costs little memory.
/// - `recoveryPageSize` (default 1000): jobs claimed per page at start, and jobs whose evicted
///   queues are read back per store call.
public struct DispatcherConfiguration: Sendable {
    public var retryPolicy: RetryPolicy
    public var progressMinInterval: Duration
    public var perOriginConcurrency: Int
    /// `WEBHOOK_MAX_IN_FLIGHT` (default 256): attempts in flight in all, so a burst cannot open
    /// descriptors without bound.
    public var maxInFlight = 256
    /// An origin with no attempt for this long is forgotten (its breaker starts closed again).
    public var originIdleTimeout = Duration.seconds(600)
    public var breakerFailureThreshold: Int
    public var firstProbeDelay: Duration
    public var maxProbeInterval: Duration
    public var bodyCacheBytes: Int
    public var recoveryPageSize: Int
    /// The process's shutdown deadline (`CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS`): attempts in
    /// flight at graceful shutdown get until then, and are cancelled after. Nil waits for them.
    public var shutdown: ShutdownDeadline?
    /// Jobs parked behind a paused origin give their queues up: their events stay pending in the
    /// store and are read back (``OutboxStore/pendingEvents(ofJobs:)``) when the origin is probed or
    /// resumes, so a dead receiver with a large backlog costs memory per job, not per event.
    /// On by default; off keeps every pending event's entry in memory.
    public var evictParkedJobs = true

    /// Creates a configuration.
    public init(
        retryPolicy: RetryPolicy = .standard, progressMinInterval: Duration = .seconds(5),
        perOriginConcurrency: Int = 32, breakerFailureThreshold: Int = 5, firstProbeDelay: Duration = .seconds(5),
        maxProbeInterval: Duration = .seconds(30), bodyCacheBytes: Int = 8 << 20, recoveryPageSize: Int = 1000
    ) {
        self.retryPolicy = retryPolicy
        self.progressMinInterval = progressMinInterval
        self.perOriginConcurrency = max(1, perOriginConcurrency)
        self.breakerFailureThreshold = breakerFailureThreshold
        self.firstProbeDelay = firstProbeDelay
        self.maxProbeInterval = maxProbeInterval
        self.bodyCacheBytes = bodyCacheBytes
        self.recoveryPageSize = max(1, recoveryPageSize)
    }
}

/// What a job learns when it awaits its terminal event.
public enum TerminalDelivery: Sendable, Equatable {
    /// A receiver answered 2xx.
    case delivered(attempts: Int)
    /// The quick attempts failed (or the origin is paused); the event stays queued and is retried
    /// in the background from `nextAttemptAt`.
    case queued(nextAttemptAt: Timestamp?)
    /// No further automatic attempts (a final answer such as 400 or 410, or a gone callback).
    case failed(reason: String)
}
