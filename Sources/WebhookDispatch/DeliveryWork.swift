import WebhookCore

/// One attempt: what the actor started, and what its end carries back.
struct DeliveryWork: Sendable {
    /// Tells apart the attempts in flight (``WebhookDispatcher/startedAttempts``).
    let key: UInt64
    let jobID: String
    let eventID: EventID
    let kind: EventKind
    let sequence: Int64
    let attempt: Int
    let url: String
    let body: [UInt8]?
    /// The one attempt let through to a paused origin.
    let isProbe: Bool
    /// The job's trace: the attempt carries `traceparent` (a new span) and `tracestate`.
    let trace: TraceContext?
}

/// How an attempt ended, as the sender's completion reports it.
struct AttemptEnd: Sendable {
    let item: DeliveryWork
    let startedAt: Timestamp
    /// From handing the request to the sender to its completion.
    let duration: Duration
    let result: Result<WebhookResponse, TransportError>
}
