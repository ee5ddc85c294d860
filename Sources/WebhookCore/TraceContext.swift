/// A W3C Trace Context (`traceparent`, `tracestate`) submitted with a job, carried on each of its
/// webhooks (SPEC sections 4 and 5): the same trace id and flags, a new span id per attempt, and
/// `tracestate` as submitted, so that the submitter can follow one request from its API through
/// this worker into its webhook handler.
public struct TraceContext: Sendable, Hashable, Codable {
    /// 32 lower-case hex digits, not all zero.
    public let traceID: String
    /// 2 lower-case hex digits (`01`: sampled).
    public let flags: String
    /// The `tracestate` header as submitted (trimmed), or nil.
    public let state: String?

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id"
        case flags
        case state
    }

    /// Reads the headers of a submission; nil for a missing or malformed `traceparent` (which is
    /// ignored, never a 400: SPEC section 4).
    ///
    /// Version `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>`; a later version (not `ff`) is
    /// read by its first four fields, as the W3C spec asks of a parser that does not know it.
    /// All-zero trace or parent ids are invalid. A `tracestate` over 512 characters, or with
    /// control characters, is dropped (the trace itself is kept).
    public init?(traceparent: String?, tracestate: String?) {
        guard let header = traceparent?.trimmingASCIIWhitespace(), header.utf8.count >= 55 else { return nil }
        let bytes = Array(header.utf8)
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        }
        guard bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
            isHex(0..<2), isHex(3..<35), isHex(36..<52), isHex(53..<55)
        else { return nil }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        guard version != "ff" else { return nil }
        if version == "00" {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard bytes[55] == UInt8(ascii: "-") else { return nil }
        }
        let traceID = String(decoding: bytes[3..<35], as: UTF8.self)
        let parentID = String(decoding: bytes[36..<52], as: UTF8.self)
        guard traceID != String(repeating: "0", count: 32), parentID != String(repeating: "0", count: 16) else { return nil }
        self.traceID = traceID
        self.flags = String(decoding: bytes[53..<55], as: UTF8.self)
        if let state = tracestate?.trimmingASCIIWhitespace(), !state.isEmpty, state.utf8.count <= 512,
            state.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f })
        {
            self.state = state
        } else {
            self.state = nil
        }
    }

    /// `traceparent` for one attempt: version `00`, this trace and flags, the given span id.
    public func traceparent(spanID: String) -> String {
        "00-\(traceID)-\(spanID)-\(flags)"
    }

    /// How stores keep it, in one text column: `<trace id>-<flags>`, then a newline and the
    /// `tracestate` when there is one (a newline cannot occur in either).
    public var storedForm: String {
        "\(traceID)-\(flags)" + (state.map { "\n" + $0 } ?? "")
    }

    /// Reads ``storedForm``; nil for anything else.
    public init?(storedForm text: String) {
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let head = parts[0].split(separator: "-")
        guard head.count == 2, head[0].utf8.count == 32, head[1].utf8.count == 2 else { return nil }
        traceID = String(head[0])
        flags = String(head[1])
        state = parts.count > 1 ? String(parts[1]) : nil
    }

    /// A new random span id: 16 lower-case hex digits, never all zero.
    public static func newSpanID() -> String {
        var value: UInt64 = 0
        while value == 0 { value = UInt64.random(in: 1...UInt64.max) }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> String {
        var slice = Substring(self)
        while let c = slice.first, c == " " || c == "\t" { slice = slice.dropFirst() }
        while let c = slice.last, c == " " || c == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
