/// A state change the dispatcher asks the store to make durable.
public enum OutboxChange: Sendable, Hashable {
    /// An attempt was made; the event's state follows from `record.outcome`, and a `retrying`
    /// outcome schedules the next attempt at `nextAttemptAt`.
    case attempted(EventID, AttemptRecord, nextAttemptAt: Timestamp?)
    /// The event ended without an attempt (superseded, dropped or failed), for `reason`.
    case finished(EventID, DeliveryState, reason: String, at: Timestamp)
    /// An operator's redelivery of an event whose attempt was in flight: after that attempt's
    /// record, the event is pending again with a new series that began at `at`.
    case seriesRestarted(EventID, at: Timestamp)
    /// The job's callback answered 410 Gone: no further event of the job is attempted.
    case callbackGone(jobID: String, at: Timestamp)
}

/// Where a paged read of pending events continues.
public struct PendingCursor: Sendable, Hashable {
    /// Store-specific position (SQLite: the last row id returned).
    public var position: Int64

    /// The start of the listing.
    public static let start = PendingCursor(position: 0)

    /// Creates a cursor.
    public init(position: Int64) {
        self.position = position
    }
}
