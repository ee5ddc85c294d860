public import WebhookCore
public import WorkerCore

/// What the listing, bulk and operations routes need beyond ``APIServices`` (SPEC sections 4 and
/// 9). Built by the composition root; absent, those routes answer 404.
public struct OperationsServices: Sendable {
    /// Events across jobs, counts, head-of-line (store-wide).
    public var deliveries: any DeliveryListing
    /// Jobs across the store.
    public var jobs: any JobListing
    /// Ends pending events (through the dispatcher, so nothing it holds is sent afterwards).
    public var discard: @Sendable ([BulkMatch], String) async throws -> [EventID]
    /// This process's figures: attempts, origins, dispatcher counters.
    public var processFigures: @Sendable () async -> ProcessFigures
    /// The host of `CLIPPING_WORKER_PUBLIC_URL`, allowed as `Host` without a token (besides loopback).
    public var publicHost: String?

    /// Creates the services.
    public init(
        deliveries: any DeliveryListing, jobs: any JobListing,
        discard: @escaping @Sendable ([BulkMatch], String) async throws -> [EventID],
        processFigures: @escaping @Sendable () async -> ProcessFigures, publicHost: String?
    ) {
        self.deliveries = deliveries
        self.jobs = jobs
        self.discard = discard
        self.processFigures = processFigures
        self.publicHost = publicHost
    }
}

/// This process's delivery figures for the operations page (not the store's: SPEC section 9).
public struct ProcessFigures: Sendable {
    /// One origin: the dispatcher's view and the last five minutes of attempts.
    public struct OriginFigures: Sendable {
        public var origin: String
        public var breaker: String
        public var inFlight: Int
        public var waitingJobs: Int
        public var parkedJobs: Int
        public var nextProbeAt: Timestamp?
        public var attempts: Int
        public var failures: Int
        public var lastError: String?
        public var lastErrorAt: Timestamp?

        /// Creates the figures of one origin.
        public init(
            origin: String, breaker: String, inFlight: Int, waitingJobs: Int, parkedJobs: Int, nextProbeAt: Timestamp?,
            attempts: Int, failures: Int, lastError: String?, lastErrorAt: Timestamp?
        ) {
            self.origin = origin
            self.breaker = breaker
            self.inFlight = inFlight
            self.waitingJobs = waitingJobs
            self.parkedJobs = parkedJobs
            self.nextProbeAt = nextProbeAt
            self.attempts = attempts
            self.failures = failures
            self.lastError = lastError
            self.lastErrorAt = lastErrorAt
        }
    }

    /// Attempts and failed attempts over the last five minutes.
    public var attempts: Int
    public var failures: Int
    public var windowSeconds: Int
    public var attemptsInFlight: Int
    public var pausedOrigins: Int
    /// Events this process's dispatcher holds pending.
    public var pendingTracked: Int
    public var origins: [OriginFigures]

    /// Creates the figures.
    public init(
        attempts: Int, failures: Int, windowSeconds: Int, attemptsInFlight: Int, pausedOrigins: Int, pendingTracked: Int,
        origins: [OriginFigures]
    ) {
        self.attempts = attempts
        self.failures = failures
        self.windowSeconds = windowSeconds
        self.attemptsInFlight = attemptsInFlight
        self.pausedOrigins = pausedOrigins
        self.pendingTracked = pendingTracked
        self.origins = origins
    }
}
