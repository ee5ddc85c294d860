/// An event about to be stored: its type, where it goes, and the job part of its payload.
///
/// The snapshot arrives encoded, from the caller's task, so the store's single writer only
/// splices `event`, `event_id` and `sequence` in front of ready bytes.
public struct EventDraft: Sendable {
    /// The event type.
    public var kind: EventKind
    /// The job the event belongs to.
    public var jobID: String
    /// Where the event is delivered.
    public var callbackURL: String
    /// The job part of the payload, encoded (a JSON object): the webhook layer knows events and
    /// callbacks, not jobs, so the job side encodes it.
    public var encodedSnapshot: [UInt8]
    /// The trace the job was submitted with: its webhooks carry it (`traceparent`, `tracestate`).
    public var trace: TraceContext?

    /// Creates a draft from already encoded snapshot bytes (must be a JSON object).
    public init(kind: EventKind, jobID: String, callbackURL: String, encodedSnapshot: [UInt8], trace: TraceContext? = nil) {
        self.trace = trace
        self.kind = kind
        self.jobID = jobID
        self.callbackURL = callbackURL
        self.encodedSnapshot = encodedSnapshot
    }

    /// The exact body bytes for this draft once stored as `id` with `sequence`:
    /// `{"event":…,"event_id":…,"sequence":…,` followed by the snapshot's fields.
    public func body(id: EventID, sequence: Int64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(encodedSnapshot.count + 96)
        out.append(contentsOf: #"{"event":""#.utf8)
        out.append(contentsOf: kind.rawValue.utf8)
        out.append(contentsOf: #"","event_id":""#.utf8)
        id.appendText(to: &out)
        out.append(contentsOf: #"","sequence":"#.utf8)
        out.append(contentsOf: String(sequence).utf8)
        // Skip the snapshot's opening brace and any whitespace; an empty object closes ours.
        var index = encodedSnapshot.startIndex
        while index < encodedSnapshot.endIndex, encodedSnapshot[index] != UInt8(ascii: "{") { index += 1 }
        index += 1
        var probe = index
        while probe < encodedSnapshot.endIndex, encodedSnapshot[probe] == UInt8(ascii: " ") { probe += 1 }
        if probe < encodedSnapshot.endIndex, encodedSnapshot[probe] != UInt8(ascii: "}") {
            out.append(UInt8(ascii: ","))
        }
        if index <= encodedSnapshot.endIndex {
            out.append(contentsOf: encodedSnapshot[index...])
        } else {
            out.append(UInt8(ascii: "}"))
        }
        return out
    }
}
