import PostgresNIO
import WebhookCore

/// Reading event and attempt rows: the one list of event columns every listing selects, and
/// their decoding by name.
enum PostgresEventRow {
    /// The event columns (no body), each prefixed (e.g. `e.`) when the query joins.
    static func columns(prefix: String = "") -> String {
        [
            "event_id", "job_id", "sequence", "event_type", "callback_url", "created_at", "state", "attempt_count",
            "series_started_at", "series_attempts", "next_attempt_at", "last_status_code", "final_reason", "redelivered",
            "first_started_at", "first_duration_ms", "first_status_code", "first_error", "first_outcome", "trace",
        ].map { prefix + $0 }.joined(separator: ", ")
    }

    static func event(from cells: PostgresRandomAccessRow, body: [UInt8]?) throws -> OutboxEvent {
        let idText = try cells["event_id"].decode(String.self)
        guard let id = EventID(idText), let kind = EventKind(rawValue: try cells["event_type"].decode(String.self)),
            let state = DeliveryState(rawValue: try cells["state"].decode(String.self))
        else { throw OutboxError(.corrupt, "unreadable event row \(idText)") }
        var event = OutboxEvent(
            id: id, jobID: try cells["job_id"].decode(String.self), sequence: try cells["sequence"].decode(Int64.self),
            kind: kind, callbackURL: try cells["callback_url"].decode(String.self), body: body,
            createdAt: Timestamp(milliseconds: try cells["created_at"].decode(Int64.self)), state: state,
            attempts: Int(try cells["attempt_count"].decode(Int32.self)),
            seriesStartedAt: Timestamp(milliseconds: try cells["series_started_at"].decode(Int64.self)),
            seriesAttempts: Int(try cells["series_attempts"].decode(Int32.self)),
            nextAttemptAt: Timestamp(milliseconds: try cells["next_attempt_at"].decode(Int64.self)),
            redelivered: try cells["redelivered"].decode(Bool.self))
        event.trace = try cells["trace"].decode(String?.self).flatMap(TraceContext.init(storedForm:))
        return event
    }

    /// The event with its first attempt (kept in the event's row) and the row's final reason.
    static func history(from cells: PostgresRandomAccessRow, body: [UInt8]?, later: [AttemptRecord]) throws
        -> EventHistory
    {
        EventHistory(
            event: try event(from: cells, body: body), attempts: try firstAttempt(in: cells) + later,
            lastStatusCode: try cells["last_status_code"].decode(Int32?.self).map(Int.init),
            finalReason: try cells["final_reason"].decode(String?.self))
    }

    /// The first attempt, kept in the event's row (empty before it).
    static func firstAttempt(in cells: PostgresRandomAccessRow) throws -> [AttemptRecord] {
        guard let text = try cells["first_outcome"].decode(String?.self) else { return [] }
        guard let outcome = AttemptOutcome(rawValue: text) else { throw OutboxError(.corrupt, "unreadable attempt outcome") }
        return [
            AttemptRecord(
                attempt: 1, startedAt: Timestamp(milliseconds: try cells["first_started_at"].decode(Int64?.self) ?? 0),
                durationMs: try cells["first_duration_ms"].decode(Int64?.self) ?? 0,
                statusCode: try cells["first_status_code"].decode(Int32?.self).map(Int.init),
                error: try cells["first_error"].decode(String?.self), outcome: outcome)
        ]
    }

    /// An attempt after the first, from `webhook_attempts` (columns selected by name).
    static func attempt(from cells: PostgresRandomAccessRow) throws -> AttemptRecord {
        guard let outcome = AttemptOutcome(rawValue: try cells["outcome"].decode(String.self)) else {
            throw OutboxError(.corrupt, "unreadable attempt outcome")
        }
        return AttemptRecord(
            attempt: Int(try cells["attempt"].decode(Int32.self)),
            startedAt: Timestamp(milliseconds: try cells["started_at"].decode(Int64.self)),
            durationMs: try cells["duration_ms"].decode(Int64.self),
            statusCode: try cells["status_code"].decode(Int32?.self).map(Int.init), error: try cells["error"].decode(String?.self),
            outcome: outcome)
    }
}
