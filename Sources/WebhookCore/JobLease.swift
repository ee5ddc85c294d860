/// One worker's claim on one job: its run (the pipeline) and its events (the dispatcher) go
/// together, so a job's terminal event is delivered by the worker that ran it (SPEC section 8,
/// "job lease = event lease").
///
/// `epoch` is a fencing token: every claim of the job increments it, and a change made under a
/// lease whose epoch has moved on (the lease expired and another worker claimed the job) is
/// refused, so a worker that was paused past its lease cannot overwrite its successor's work.
public struct JobLease: Sendable, Hashable {
    public var jobID: String
    /// The claiming worker (one id per `serve` process).
    public var owner: String
    public var epoch: Int64
    /// When the lease lapses unless renewed; nil for a store with a single owner, whose leases never lapse.
    public var expiresAt: Timestamp?

    /// Creates a lease.
    public init(jobID: String, owner: String, epoch: Int64, expiresAt: Timestamp?) {
        self.jobID = jobID
        self.owner = owner
        self.epoch = epoch
        self.expiresAt = expiresAt
    }
}

/// A job claimed by ``OutboxStore/claimJobs(limit:at:)``: its lease and its pending events, in
/// sequence order, without bodies.
public struct ClaimedJob: Sendable {
    public var lease: JobLease
    public var events: [OutboxEvent]

    /// Creates a claimed job.
    public init(lease: JobLease, events: [OutboxEvent]) {
        self.lease = lease
        self.events = events
    }
}
