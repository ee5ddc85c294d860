/// How a worker uses the shared store: who it is and how its leases behave.
public struct PostgresStoreConfiguration: Sendable {
    /// This worker's lease owner id: unique per `serve` process (a restarted process is a new
    /// owner, so nothing a dead process held is mistaken for its successor's).
    public var owner: String
    /// `CLIPPING_WORKER_LEASE_SECONDS` (default 30 s): how long a claim lasts without renewal.
    public var leaseDuration: Duration
    /// How far ahead of its due time a job is claimed (default: a third of the lease, the
    /// dispatcher's renewal and polling period), so an attempt due before the next poll starts on
    /// time; a lease is released only when nothing is due within it either, so a released job is
    /// never claimed straight back, and a job waiting out a long back-off holds no lease.
    public var claimAhead: Duration
    /// How long ``PostgresOutboxStore/health()`` waits for its probe write before it reports the
    /// store unavailable (an unreachable server must not hold `/readyz`).
    public var healthTimeout: Duration
    /// The longest one store call may take, waiting for a connection included (default 30 s):
    /// past it the call fails `.unavailable` and its connection is closed. A server that stops
    /// answering (seen: a connection cut while the server restarted) must not hold a job, a
    /// delivery or a shutdown for ever; the caller retries as for any outage.
    public var callTimeout: Duration
    /// The limit of a store call an API request waits for (default 5 s): while the database is
    /// away, a submission gets its 503 in seconds, not after the pool has given up reconnecting.
    public var requestTimeout: Duration

    /// Creates a configuration.
    /// - Parameters:
    ///   - owner: this process's owner id; a new random one by default.
    ///   - leaseDuration: the lease (SPEC default 30 s).
    ///   - claimAhead: nil for a third of the lease.
    ///   - healthTimeout: the readiness probe's limit (default 2 s).
    ///   - callTimeout: the limit of any other store call (default 30 s).
    public init(
        owner: String = PostgresStoreConfiguration.newOwner(), leaseDuration: Duration = .seconds(30),
        claimAhead: Duration? = nil, healthTimeout: Duration = .seconds(2), callTimeout: Duration = .seconds(30),
        requestTimeout: Duration = .seconds(5)
    ) {
        self.requestTimeout = requestTimeout
        self.callTimeout = callTimeout
        self.owner = owner
        self.leaseDuration = leaseDuration
        self.claimAhead = claimAhead ?? leaseDuration / 3
        self.healthTimeout = healthTimeout
    }

    /// A fresh owner id: `pg-` and 64 random bits in base 36.
    public static func newOwner() -> String {
        "pg-" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
    }
}
