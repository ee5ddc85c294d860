/// Where a stored event stands (`state` in the deliveries API).
public enum DeliveryState: String, Sendable, Hashable, CaseIterable, Codable {
    /// Stored, not yet delivered; attempts may follow.
    case pending
    /// A receiver answered 2xx.
    case delivered
    /// No further automatic attempts: a final receiver answer, the max age, or a gone callback.
    case failed
    /// A fire-and-forget event that still failed after its attempts.
    case dropped
    /// A fire-and-forget event that a terminal event made pointless before it was delivered.
    case superseded

    /// True for every state but `pending`.
    public var isFinal: Bool { self != .pending }
}

/// What one attempt, or a final decision without an attempt, came to (`outcome` in the log).
public enum AttemptOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    case delivered
    case retrying
    case failed
    case dropped
    case superseded

    /// The event state this outcome leaves behind.
    public var state: DeliveryState {
        switch self {
        case .delivered: .delivered
        case .retrying: .pending
        case .failed: .failed
        case .dropped: .dropped
        case .superseded: .superseded
        }
    }
}
