/// Where a newest-first listing of events continues (keyset pagination: `next_cursor`).
///
/// The position is the last row's `(created_at, event_id)`; the next page holds rows strictly
/// before it in that order. Unlike an offset it stays right while new events arrive, and the
/// store answers it with one index range scan however deep the page.
public struct DeliveryCursor: Sendable, Hashable, CustomStringConvertible {
    public var createdAt: Timestamp
    public var eventID: EventID

    /// Creates a cursor after the row `(createdAt, eventID)`.
    public init(createdAt: Timestamp, eventID: EventID) {
        self.createdAt = createdAt
        self.eventID = eventID
    }

    /// Parses the text form `<created_at ms>.<event_id>`; nil when malformed.
    public init?(_ text: String) {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]),
            let id = EventID(String(text[text.index(after: dot)...]))
        else { return nil }
        self.init(createdAt: Timestamp(milliseconds: ms), eventID: id)
    }

    /// The text form given to clients as `next_cursor`.
    public var description: String { "\(createdAt.milliseconds).\(eventID)" }
}
