public import WebhookCore

/// One origin as this process's dispatcher sees it now, for the operations page (SPEC section 9:
/// breaker state and in-flight attempts; success rate and last error come from ``DeliveryActivity``).
public struct OriginSnapshot: Sendable, Hashable {
    /// `scheme://host:port`.
    public var origin: String
    /// `closed`, `open` or `probing`.
    public var breaker: String
    public var inFlight: Int
    /// Jobs waiting for one of the origin's concurrency slots.
    public var waitingJobs: Int
    /// Jobs parked while the breaker is open.
    public var parkedJobs: Int
    /// When the next probe is due (open breaker only).
    public var nextProbeAt: Timestamp?

    /// Creates a snapshot.
    public init(origin: String, breaker: String, inFlight: Int, waitingJobs: Int, parkedJobs: Int, nextProbeAt: Timestamp?) {
        self.origin = origin
        self.breaker = breaker
        self.inFlight = inFlight
        self.waitingJobs = waitingJobs
        self.parkedJobs = parkedJobs
        self.nextProbeAt = nextProbeAt
    }
}
