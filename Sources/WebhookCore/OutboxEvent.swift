/// A stored event with its delivery bookkeeping.
public struct OutboxEvent: Sendable, Hashable {
    /// `webhook-id`, identical on every attempt.
    public var id: EventID
    public var jobID: String
    /// 1, 2, 3 … per job, assigned when stored.
    public var sequence: Int64
    public var kind: EventKind
    public var callbackURL: String
    /// The exact bytes sent; nil when a listing did not load it (see ``OutboxStore/body(of:)``).
    public var body: [UInt8]?
    /// When the event was stored.
    public var createdAt: Timestamp
    public var state: DeliveryState
    /// Attempts made so far, over all series (the next attempt's `X-Webhook-Attempt` is this + 1).
    public var attempts: Int
    /// When the current series of attempts began: storage, or the last redelivery.
    /// The max age and the three quick attempts count from here.
    public var seriesStartedAt: Timestamp
    /// Attempts made in the current series.
    public var seriesAttempts: Int
    /// When the next attempt is due (meaningful while pending).
    public var nextAttemptAt: Timestamp
    /// An operator redelivered it: exempt from superseding and from a gone callback (durable,
    /// so the exemption survives a restart).
    public var redelivered: Bool
    /// The job's terminal event is stored (filled by listings of pending events, so a restarted
    /// dispatcher supersedes a progress event that committed before the terminal event but was
    /// never sent).
    public var jobTerminalStored: Bool
    /// The highest sequence of the job that was ever attempted outside a redelivery (filled by
    /// listings of pending events): a progress event below it is stale and is superseded rather
    /// than sent out of order after a restart.
    public var jobHighestAttemptedSequence: Int64
    /// The job's trace, carried on every attempt (nil: the job was submitted without one).
    public var trace: TraceContext?

    /// Creates a stored event.
    public init(
        id: EventID, jobID: String, sequence: Int64, kind: EventKind, callbackURL: String, body: [UInt8]?,
        createdAt: Timestamp, state: DeliveryState = .pending, attempts: Int = 0,
        seriesStartedAt: Timestamp? = nil, seriesAttempts: Int = 0, nextAttemptAt: Timestamp? = nil,
        redelivered: Bool = false, jobTerminalStored: Bool = false, jobHighestAttemptedSequence: Int64 = 0
    ) {
        self.jobHighestAttemptedSequence = jobHighestAttemptedSequence
        self.redelivered = redelivered
        self.jobTerminalStored = jobTerminalStored
        self.id = id
        self.jobID = jobID
        self.sequence = sequence
        self.kind = kind
        self.callbackURL = callbackURL
        self.body = body
        self.createdAt = createdAt
        self.state = state
        self.attempts = attempts
        self.seriesStartedAt = seriesStartedAt ?? createdAt
        self.seriesAttempts = seriesAttempts
        self.nextAttemptAt = nextAttemptAt ?? createdAt
    }
}

/// One attempt as stored and shown by the deliveries API.
public struct AttemptRecord: Sendable, Hashable, Codable {
    /// 1-based, counted over all series of the event.
    public var attempt: Int
    public var startedAt: Timestamp
    public var durationMs: Int64
    /// The HTTP status, when a response arrived.
    public var statusCode: Int?
    /// Why the attempt did not succeed, safe to show (no secrets, no payload).
    public var error: String?
    public var outcome: AttemptOutcome

    /// Creates an attempt record.
    public init(
        attempt: Int, startedAt: Timestamp, durationMs: Int64, statusCode: Int?, error: String?,
        outcome: AttemptOutcome
    ) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.statusCode = statusCode
        self.error = error
        self.outcome = outcome
    }
}

extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(milliseconds: try decoder.singleValueContainer().decode(Int64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(milliseconds)
    }
}

/// A stored event with its attempts, for the deliveries API and CLI.
public struct EventHistory: Sendable, Hashable {
    public var event: OutboxEvent
    public var attempts: [AttemptRecord]
    public var lastStatusCode: Int?
    /// Why the event ended the way it did, when it ended without a successful attempt.
    public var finalReason: String?

    /// Creates an event history.
    public init(event: OutboxEvent, attempts: [AttemptRecord], lastStatusCode: Int?, finalReason: String?) {
        self.event = event
        self.attempts = attempts
        self.lastStatusCode = lastStatusCode
        self.finalReason = finalReason
    }
}
