#if canImport(Glibc)
import Glibc
#endif
import DeliveryLog
public import Logging
import Synchronization
import WebhookCore

/// Writes one JSON object per log line to standard error (`CLIPPING_WORKER_LOG_FORMAT=json`):
/// `{"ts", "level", "label", "message", "source"}` and every metadata key as its own field, so a
/// log shipper can index `job.id` without parsing text. Lines are written whole with one
/// `write(2)`, so concurrent lines never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let descriptor: Int32

    /// A handler writing to `descriptor` (standard error by default).
    public init(label: String, descriptor: Int32 = 2) {
        self.label = label
        self.descriptor = descriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var out = [UInt8]()
        out.reserveCapacity(256)
        out.append(contentsOf: #"{"ts":""#.utf8)
        SystemClock().now.writeISO8601(into: &out)
        out.append(contentsOf: #"","level":"#.utf8)
        JSONText.appendQuoted(event.level.rawValue, to: &out)
        out.append(contentsOf: #","label":"#.utf8)
        JSONText.appendQuoted(label, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONText.appendQuoted(event.message.description, to: &out)
        out.append(contentsOf: #","source":"#.utf8)
        JSONText.appendQuoted(event.source, to: &out)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !["ts", "level", "label", "message", "source"].contains(key) {
            out.append(UInt8(ascii: ","))
            JSONText.appendQuoted(key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendQuoted(value.description, to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        out.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
