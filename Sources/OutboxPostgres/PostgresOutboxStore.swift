import Logging
public import Metrics
public import PostgresNIO
public import WebhookCore

/// The shared outbox: many workers, one PostgreSQL database (SPEC section 8).
///
/// The same protocols as the embedded SQLite store, so the dispatcher and the pipeline do not
/// know which one they run on. What differs is that several workers share it:
/// - **Sequences** come from the job's `webhook_jobs` row, taken under its row lock in the append
///   transaction: appends of one job are serialized across workers, sequences gapless and unique.
/// - **Leases** with a fencing epoch per job: ``claimJobs(limit:at:)`` takes due jobs that no
///   live lease holds (`FOR UPDATE SKIP LOCKED`, the database's `now()` for expiry), and every
///   write is checked against the epoch this worker holds (see ``LeaseBook``): the changes and
///   appends of a worker whose lease moved on are refused.
/// - **Batches**: ``apply(_:)`` writes a whole batch of attempt records in one transaction of a
///   few statements (`unnest` of arrays), not one per attempt; ``append(_:at:)`` is two
///   statements whatever the number of drafts. Concurrent transactions on the pool's connections
///   share the server's WAL flushes (PostgreSQL commits them as a group), so there is no commit
///   queue in front of the pool as there is for SQLite's single writer.
///
/// Durability is the server's: with its defaults (`synchronous_commit = on`, `fsync = on`) a
/// returned append survives a crash of the server, of the worker, and of the machine.
///
/// The caller runs the client (as a `Service`) and migrates the schema first:
///
/// ```swift
/// let client = PostgresClient(configuration: url.clientConfiguration())
/// // in the ServiceGroup, before the workers: client
/// try await PostgresMigrator(client: client, logger: logger).migrate()
/// let store = PostgresOutboxStore(client: client, configuration: .init(leaseDuration: .seconds(30)), logger: logger)
/// ```
public final class PostgresOutboxStore: OutboxStore, OutboxReadModel {
    let database: StoreDatabase
    let configuration: PostgresStoreConfiguration
    let book = LeaseBook()
    let appender: EventAppender
    /// Shares one transaction among the appends that arrive while one runs.
    private let batcher: AppendBatcher
    let logger: Logger
    /// `clipping_worker_store_fenced_changes_total`: changes refused because their job's lease
    /// moved to another worker.
    private let fenced: Counter

    /// This worker's lease owner id.
    public var owner: String { configuration.owner }

    /// Creates the store on a client the caller runs.
    /// - Parameters:
    ///   - client: a running ``PostgresClient`` on a migrated database (``PostgresMigrator``).
    ///   - configuration: owner id, lease duration, claim look-ahead, health timeout.
    ///   - logger: for refused (fenced) writes, at debug level.
    ///   - metricsFactory: where the store's counters go.
    public init(
        client: PostgresClient, configuration: PostgresStoreConfiguration = PostgresStoreConfiguration(),
        logger: Logger, metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.database = StoreDatabase(client: client, logger: logger, callTimeout: configuration.callTimeout)
        self.configuration = configuration
        self.logger = logger
        self.appender = EventAppender(
            owner: configuration.owner, leaseMilliseconds: configuration.leaseDuration.wholeMilliseconds, book: book,
            logger: logger)
        self.fenced = Counter(label: "clipping_worker_store_fenced_changes_total", factory: metricsFactory)
        let (database, appender) = (self.database, self.appender)
        self.batcher = AppendBatcher { drafts, times throws(OutboxError) in
            try await database.transaction { connection in
                try await appender.append(drafts, times: times, on: connection)
            }
        }
    }

    /// The leases this worker holds now, by job: what a renewal loop renews (a job whose events
    /// this worker appended is held as well as a claimed one).
    public var heldLeases: [JobLease] {
        book.held.map { JobLease(jobID: $0.key, owner: owner, epoch: $0.value, expiresAt: nil) }
    }

    /// The lease this worker holds on a job, or nil.
    public func heldLease(of jobID: String) -> JobLease? {
        guard case .held(let epoch) = book.standing(of: jobID) else { return nil }
        return JobLease(jobID: jobID, owner: owner, epoch: epoch, expiresAt: nil)
    }

    public func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent] {
        let outcome = try await batcher.append(drafts, at: time)
        for (jobID, epoch) in outcome.leases { book.hold(jobID, epoch: epoch) }
        return outcome.events
    }

    public nonisolated var leaseDuration: Duration? { configuration.leaseDuration }

    public func body(of id: EventID) async throws(OutboxError) -> [UInt8] {
        let logger = self.logger
        let found = try await database.withConnection { connection in
            try await connection.query("SELECT body FROM webhook_events WHERE event_id = \(id.description)", logger: logger)
                .collect().first.map { try $0.decode(ByteBuffer.self) }
        }
        guard let found else { throw OutboxError(.notFound, "no event \(id)") }
        return Array(found.readableBytesView)
    }

    public func redeliver(_ id: EventID, at time: Timestamp) async throws(OutboxError) -> OutboxEvent {
        let (owner, logger) = (self.owner, self.logger)
        let lease = configuration.leaseDuration.wholeMilliseconds
        let book = self.book
        let outcome = try await database.transaction(timeout: configuration.requestTimeout) { connection -> (EventHistory, Int64?)? in
            guard
                let jobID = try await connection.query(
                    "SELECT job_id FROM webhook_events WHERE event_id = \(id.description)", logger: logger
                ).collect().first?.decode(String.self)
            else { return nil }
            // The job row first, as every writer locks it: the job's lock orders this against
            // appends, claims and attempt records of the job.
            let rows = try await connection.query(
                "SELECT lease_owner, lease_epoch, COALESCE(lease_until > now(), false) FROM webhook_jobs WHERE job_id = \(jobID) FOR NO KEY UPDATE",
                logger: logger
            ).collect()
            var epoch: Int64?
            if let row = rows.first {
                let (rowOwner, rowEpoch, live) = try row.decode((String?, Int64, Bool).self)
                // Redelivered here, so delivered here, when the job is free or already ours
                // (and not lost to a newer holder); while another worker holds it, its holder
                // (or whoever claims it next) delivers it.
                let lost: Bool
                if case .lost = book.standing(of: jobID) { lost = true } else { lost = false }
                if rowOwner == owner && !lost {
                    epoch = rowEpoch
                } else if !live && !lost {
                    epoch = rowEpoch + 1
                }
            }
            try await connection.query(
                """
                UPDATE webhook_events SET state = 'pending', series_started_at = \(time.milliseconds), series_attempts = 0,
                    next_attempt_at = \(time.milliseconds), final_reason = NULL, updated_at = \(time.milliseconds),
                    redelivered = true
                WHERE event_id = \(id.description)
                """, logger: logger)
            if let epoch {
                try await connection.query(
                    """
                    UPDATE webhook_jobs SET next_due_at = LEAST(next_due_at, \(time.milliseconds)),
                        lease_owner = \(owner), lease_epoch = \(epoch),
                        lease_until = now() + \(lease) * interval '1 millisecond'
                    WHERE job_id = \(jobID)
                    """, logger: logger)
            } else {
                try await connection.query(
                    "UPDATE webhook_jobs SET next_due_at = LEAST(next_due_at, \(time.milliseconds)) WHERE job_id = \(jobID)",
                    logger: logger)
            }
            guard let history = try await Self.history(of: id, on: connection, logger: logger) else { return nil }
            if epoch == nil {
                // Another worker holds the job: it sends the event (told with the job and event
                // ids, see `PostgresWorkListener`), or whoever claims the job after it.
                try await connection.query(
                    "SELECT pg_notify(\(PostgresWorkListener.channel), \(PostgresWorkListener.redeliveryPayload(jobID: jobID, eventID: id.description)))",
                    logger: logger)
            }
            return (history, epoch)
        }
        guard let (history, epoch) = outcome else { throw OutboxError(.notFound, "no event \(id)") }
        if let epoch { book.hold(history.event.jobID, epoch: epoch) }
        return history.event
    }

    /// Counts and logs changes refused by the fence.
    func noteFenced(_ count: Int, jobs: [String]) {
        guard count > 0 else { return }
        fenced.increment(by: count)
        logger.debug(
            "refused webhook changes of jobs whose lease moved to another worker",
            metadata: [LogMetadataKey.outboxChanges: "\(count)"])
    }

    /// Commits a real write (for `/readyz`) within ``PostgresStoreConfiguration/healthTimeout``.
    ///
    /// The probe runs in a task of its own that the caller does not wait for past the deadline: a
    /// connection that stopped answering (a server paused, a network gone quiet) may not notice
    /// cancellation, and readiness must answer anyway. The stray probe ends with its connection.
    public func health() async -> StoreHealth {
        let (database, logger) = (self.database, self.logger)
        let timeout = configuration.healthTimeout
        return await DeadlineRace.first(
            probe: {
                do throws(OutboxError) {
                    try await database.withConnection(failure: .writeFailed) { connection in
                        _ = try await connection.query(
                            """
                            INSERT INTO store_probe (id, checked_at) VALUES (1, now())
                            ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at
                            """, logger: logger)
                    }
                    return StoreHealth.ready
                } catch {
                    return .unavailable("the database cannot be written: \(error.details)")
                }
            },
            deadline: timeout,
            onTimeout: .unavailable("the database did not answer within \(timeout)"))
    }
}
