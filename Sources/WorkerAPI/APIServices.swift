public import WebhookCore
public import WorkerCore

/// What the HTTP API needs from the rest of the worker. Built once by the composition root.
public struct APIServices: Sendable {
    public var jobs: any JobStore
    public var outbox: any OutboxReadModel
    public var validator: JobRequestValidator
    /// Hands a stored job to the pipeline.
    public var enqueue: @Sendable (String) async -> Void
    /// Asks the pipeline to cancel a job; nil for an unknown job.
    public var cancel: @Sendable (String) async throws -> JobRecord?
    /// Starts a new series of attempts for an event.
    public var redeliver: @Sendable (EventID) async throws -> OutboxEvent
    /// The Prometheus text exposition.
    public var metrics: @Sendable () async -> [UInt8]
    /// Required as `Authorization: Bearer …` on every route but `/healthz` and `/readyz`, when set.
    public var apiToken: String?
    /// `<data dir>/media`, served under `/media/<job_id>/<file>`.
    public var mediaDirectory: String
    public var clock: any WorkerClock
    /// The readiness signal for `/readyz`: the store's health, combined with whatever else the
    /// composition root knows (attempt records failing to be written, shutdown).
    public var readiness: @Sendable () async -> StoreHealth
    /// `CLIPPING_WORKER_MAX_QUEUED_JOBS`: beyond it a submission gets 429 with `Retry-After`.
    public var maxQueuedJobs: Int?
    /// True once graceful shutdown began: submissions get 503 (SPEC section 6).
    public var shuttingDown: @Sendable () -> Bool
    /// The listing, bulk and operations routes (SPEC sections 4 and 9); nil leaves them out.
    public var operations: OperationsServices?

    /// Creates the services.
    public init(
        jobs: any JobStore, outbox: any OutboxReadModel, validator: JobRequestValidator,
        enqueue: @escaping @Sendable (String) async -> Void,
        cancel: @escaping @Sendable (String) async throws -> JobRecord?,
        redeliver: @escaping @Sendable (EventID) async throws -> OutboxEvent,
        metrics: @escaping @Sendable () async -> [UInt8], apiToken: String?, mediaDirectory: String, clock: any WorkerClock,
        maxQueuedJobs: Int? = nil, shuttingDown: @escaping @Sendable () -> Bool = { false },
        readiness: @escaping @Sendable () async -> StoreHealth, operations: OperationsServices? = nil
    ) {
        self.operations = operations
        self.maxQueuedJobs = maxQueuedJobs
        self.shuttingDown = shuttingDown
        self.readiness = readiness
        self.jobs = jobs
        self.outbox = outbox
        self.validator = validator
        self.enqueue = enqueue
        self.cancel = cancel
        self.redeliver = redeliver
        self.metrics = metrics
        self.apiToken = apiToken
        self.mediaDirectory = mediaDirectory
        self.clock = clock
    }
}
