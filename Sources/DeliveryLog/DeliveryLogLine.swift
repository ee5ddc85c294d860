public import WebhookCore

/// One line of `deliveries.jsonl` (SPEC section 7). Every key is on every line, `null` where
/// it does not apply.
public struct DeliveryLogLine: Codable, Sendable, Hashable {
    public var ts: String
    public var eventID: String
    public var jobID: String
    public var event: String
    public var sequence: Int64
    public var attempt: Int?
    /// Query values redacted.
    public var url: String
    public var statusCode: Int?
    public var outcome: String
    public var durationMs: Int64?
    public var error: String?
    public var nextAttemptAt: String?

    enum CodingKeys: String, CodingKey {
        case ts
        case eventID = "event_id"
        case jobID = "job_id"
        case event, sequence, attempt, url
        case statusCode = "status_code"
        case outcome
        case durationMs = "duration_ms"
        case error
        case nextAttemptAt = "next_attempt_at"
    }

    /// The line for a record.
    public init(_ record: DeliveryRecord) {
        ts = record.time.iso8601
        eventID = record.eventID.description
        jobID = record.jobID
        event = record.kind.rawValue
        sequence = record.sequence
        attempt = record.attempt
        url = URLRedaction.redact(record.url)
        statusCode = record.statusCode
        outcome = record.outcome.rawValue
        durationMs = record.durationMs
        error = record.error
        nextAttemptAt = record.nextAttemptAt?.iso8601
    }

    /// Serializes to one JSON line (with the trailing newline), by hand: this runs once per
    /// attempt, and a general-purpose encoder costs several times more.
    public func jsonLine() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(320)
        appendJSONLine(to: &out)
        return out
    }

    /// Appends the line (with its newline) to `out`: the writer formats a batch into one buffer.
    public func appendJSONLine(to out: inout [UInt8]) {
        func key(_ name: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: "\":".utf8)
        }
        func string(_ value: String?) {
            guard let value else { return out.append(contentsOf: "null".utf8) }
            JSONText.appendQuoted(value, to: &out)
        }
        func number<N: BinaryInteger>(_ value: N?) {
            guard let value else { return out.append(contentsOf: "null".utf8) }
            out.append(contentsOf: String(value).utf8)
        }
        out.append(UInt8(ascii: "{"))
        key("ts", first: true); string(ts)
        key("event_id"); string(eventID)
        key("job_id"); string(jobID)
        key("event"); string(event)
        key("sequence"); number(sequence)
        key("attempt"); number(attempt)
        key("url"); string(url)
        key("status_code"); number(statusCode)
        key("outcome"); string(outcome)
        key("duration_ms"); number(durationMs)
        key("error"); string(error)
        key("next_attempt_at"); string(nextAttemptAt)
        out.append(contentsOf: "}\n".utf8)
    }

    /// Appends the line of `record` (with its newline) to `out`, as
    /// `DeliveryLogLine(record).appendJSONLine(to:)` would, without making the line's strings
    /// first: the writer formats every record this way (the id and the time go straight into
    /// the buffer).
    public static func appendJSONLine(for record: DeliveryRecord, to out: inout [UInt8]) {
        appendJSONLine(for: record, redactedURL: URLRedaction.redact(record.url), to: &out)
    }

    /// ``appendJSONLine(for:to:)`` with the record's URL already redacted (the writer keeps the
    /// last one: a platform's deliveries mostly go to one callback, and redacting is a parse).
    static func appendJSONLine(for record: DeliveryRecord, redactedURL: String, to out: inout [UInt8]) {
        func key(_ name: StaticString) {
            name.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        func number<N: BinaryInteger>(_ value: N?) {
            guard let value else { return out.append(contentsOf: "null".utf8) }
            out.append(contentsOf: String(value).utf8)
        }
        func time(_ value: Timestamp?) {
            guard let value else { return out.append(contentsOf: "null".utf8) }
            out.append(UInt8(ascii: "\""))
            // Appends (it overwrites only a buffer of exactly 24 bytes, and `out` already holds
            // at least the `{"ts":"` before it).
            value.writeISO8601(into: &out)
            out.append(UInt8(ascii: "\""))
        }
        key(#"{"ts":"#)
        time(record.time)
        key(#","event_id":""#)
        record.eventID.appendText(to: &out)
        key(#"","job_id":"#)
        JSONText.appendQuoted(record.jobID, to: &out)
        key(#","event":"#)
        JSONText.appendQuoted(record.kind.rawValue, to: &out)
        key(#","sequence":"#)
        number(record.sequence)
        key(#","attempt":"#)
        number(record.attempt)
        key(#","url":"#)
        JSONText.appendQuoted(redactedURL, to: &out)
        key(#","status_code":"#)
        number(record.statusCode)
        key(#","outcome":"#)
        JSONText.appendQuoted(record.outcome.rawValue, to: &out)
        key(#","duration_ms":"#)
        number(record.durationMs)
        key(#","error":"#)
        if let error = record.error { JSONText.appendQuoted(error, to: &out) } else { out.append(contentsOf: "null".utf8) }
        key(#","next_attempt_at":"#)
        time(record.nextAttemptAt)
        out.append(contentsOf: "}\n".utf8)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ts, forKey: .ts)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(event, forKey: .event)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(url, forKey: .url)
        try container.encode(statusCode, forKey: .statusCode)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(durationMs, forKey: .durationMs)
        try container.encode(error, forKey: .error)
        try container.encode(nextAttemptAt, forKey: .nextAttemptAt)
    }
}

/// Minimal JSON string quoting (RFC 8259): quotes, backslashes and control characters escaped.
public enum JSONText {
    /// Appends `"value"` with escapes.
    private static let hex = Array("0123456789abcdef".utf8)

    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
