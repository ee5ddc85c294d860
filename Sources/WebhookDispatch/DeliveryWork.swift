import WebhookCore

/// One attempt handed from the actor to a worker task.
struct DeliveryWork: Sendable {
    let jobID: String
    let eventID: EventID
    let kind: EventKind
    let sequence: Int64
    let attempt: Int
    let url: String
    let body: [UInt8]?
    /// The one attempt let through to a paused origin.
    let isProbe: Bool
}
