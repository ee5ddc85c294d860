/// One attempt, or one final decision made without an attempt: a line of the delivery log
/// (SPEC section 7) and what metrics and tests observe.
public struct DeliveryRecord: Sendable, Hashable {
    /// When it happened.
    public var time: Timestamp
    public var eventID: EventID
    public var jobID: String
    public var kind: EventKind
    public var sequence: Int64
    /// The attempt number, nil for decisions without an attempt (e.g. superseded).
    public var attempt: Int?
    /// The callback URL (the log redacts query values).
    public var url: String
    public var statusCode: Int?
    public var outcome: AttemptOutcome
    public var durationMs: Int64?
    public var error: String?
    /// Set on `retrying`.
    public var nextAttemptAt: Timestamp?

    /// Creates a record.
    public init(
        time: Timestamp, eventID: EventID, jobID: String, kind: EventKind, sequence: Int64, attempt: Int?,
        url: String, statusCode: Int?, outcome: AttemptOutcome, durationMs: Int64?, error: String?,
        nextAttemptAt: Timestamp?
    ) {
        self.time = time
        self.eventID = eventID
        self.jobID = jobID
        self.kind = kind
        self.sequence = sequence
        self.attempt = attempt
        self.url = url
        self.statusCode = statusCode
        self.outcome = outcome
        self.durationMs = durationMs
        self.error = error
        self.nextAttemptAt = nextAttemptAt
    }
}

/// Receives every ``DeliveryRecord`` as it happens. Called from the dispatcher's actor, so an
/// implementation must return quickly (buffer, don't block on I/O).
public protocol DeliveryObserver: Sendable {
    /// Takes one record.
    func record(_ record: DeliveryRecord)
}

/// Passes records to several observers in order.
public struct DeliveryObservers: DeliveryObserver {
    private let observers: [any DeliveryObserver]

    /// Creates a fan-out over `observers`.
    public init(_ observers: [any DeliveryObserver]) {
        self.observers = observers
    }

    public func record(_ record: DeliveryRecord) {
        for observer in observers { observer.record(record) }
    }
}
