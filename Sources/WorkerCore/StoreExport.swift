/// Every row of an embedded (SQLite) store, as `clipping-worker import-sqlite` moves it into the
/// shared PostgreSQL store (SPEC section 8): jobs, events with their delivery state, attempts,
/// and the per-job webhook facts (terminal stored, callback gone). Plain column values, so the
/// reader (OutboxSQLite) and the writer (OutboxPostgres) need not know each other.
public struct StoreExport: Sendable {
    public var jobs: [Job] = []
    public var events: [Event] = []
    public var attempts: [Attempt] = []
    public var webhookJobs: [WebhookJob] = []

    public init() {}

    /// A `jobs` row.
    public struct Job: Sendable {
        public var jobID: String
        public var specJSON: String
        public var status: String
        public var progressPercent: Int64
        public var currentStep: String
        public var clipsCompleted: Int64?
        public var totalClips: Int64?
        public var error: String?
        public var outputJSON: String?
        public var cancelRequested: Bool
        public var idempotencyKey: String?
        public var requestDigest: String
        public var createdAt: Int64
        public var updatedAt: Int64

        public init(
            jobID: String, specJSON: String, status: String, progressPercent: Int64, currentStep: String,
            clipsCompleted: Int64?, totalClips: Int64?, error: String?, outputJSON: String?, cancelRequested: Bool,
            idempotencyKey: String?, requestDigest: String, createdAt: Int64, updatedAt: Int64
        ) {
            self.jobID = jobID
            self.specJSON = specJSON
            self.status = status
            self.progressPercent = progressPercent
            self.currentStep = currentStep
            self.clipsCompleted = clipsCompleted
            self.totalClips = totalClips
            self.error = error
            self.outputJSON = outputJSON
            self.cancelRequested = cancelRequested
            self.idempotencyKey = idempotencyKey
            self.requestDigest = requestDigest
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }

        /// Still to run (queued, or interrupted mid-run: it runs again from its start).
        public var isUnfinished: Bool { !["completed", "failed", "cancelled"].contains(status) }
    }

    /// A `webhook_events` row; the first attempt rides in it (`first*`).
    public struct Event: Sendable {
        public var eventID: String
        public var jobID: String
        public var sequence: Int64
        public var eventType: String
        public var callbackURL: String
        public var body: [UInt8]
        public var state: String
        public var attemptCount: Int64
        public var createdAt: Int64
        public var seriesStartedAt: Int64
        public var seriesAttempts: Int64
        public var nextAttemptAt: Int64
        public var lastStatusCode: Int64?
        public var finalReason: String?
        public var updatedAt: Int64
        public var redelivered: Bool
        public var firstStartedAt: Int64?
        public var firstDurationMs: Int64?
        public var firstStatusCode: Int64?
        public var firstError: String?
        public var firstOutcome: String?
        /// `TraceContext.storedForm`, or nil.
        public var trace: String? = nil

        public init(
            eventID: String, jobID: String, sequence: Int64, eventType: String, callbackURL: String, body: [UInt8],
            state: String, attemptCount: Int64, createdAt: Int64, seriesStartedAt: Int64, seriesAttempts: Int64,
            nextAttemptAt: Int64, lastStatusCode: Int64?, finalReason: String?, updatedAt: Int64, redelivered: Bool,
            firstStartedAt: Int64?, firstDurationMs: Int64?, firstStatusCode: Int64?, firstError: String?,
            firstOutcome: String?
        ) {
            self.eventID = eventID
            self.jobID = jobID
            self.sequence = sequence
            self.eventType = eventType
            self.callbackURL = callbackURL
            self.body = body
            self.state = state
            self.attemptCount = attemptCount
            self.createdAt = createdAt
            self.seriesStartedAt = seriesStartedAt
            self.seriesAttempts = seriesAttempts
            self.nextAttemptAt = nextAttemptAt
            self.lastStatusCode = lastStatusCode
            self.finalReason = finalReason
            self.updatedAt = updatedAt
            self.redelivered = redelivered
            self.firstStartedAt = firstStartedAt
            self.firstDurationMs = firstDurationMs
            self.firstStatusCode = firstStatusCode
            self.firstError = firstError
            self.firstOutcome = firstOutcome
        }
    }

    /// A `webhook_attempts` row (attempts after an event's first).
    public struct Attempt: Sendable {
        public var eventID: String
        public var attempt: Int64
        public var startedAt: Int64
        public var durationMs: Int64
        public var statusCode: Int64?
        public var error: String?
        public var outcome: String

        public init(
            eventID: String, attempt: Int64, startedAt: Int64, durationMs: Int64, statusCode: Int64?, error: String?,
            outcome: String
        ) {
            self.eventID = eventID
            self.attempt = attempt
            self.startedAt = startedAt
            self.durationMs = durationMs
            self.statusCode = statusCode
            self.error = error
            self.outcome = outcome
        }
    }

    /// What decides whether a job's events may still be stored or sent.
    public struct WebhookJob: Sendable {
        public var jobID: String
        public var terminalStored: Bool
        public var gone: Bool
        public var goneAt: Int64?

        public init(jobID: String, terminalStored: Bool, gone: Bool, goneAt: Int64?) {
            self.jobID = jobID
            self.terminalStored = terminalStored
            self.gone = gone
            self.goneAt = goneAt
        }
    }
}
