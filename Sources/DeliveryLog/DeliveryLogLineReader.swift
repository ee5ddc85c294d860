#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Splits the bytes of `deliveries.jsonl` into lines as they arrive, in chunks of any size
/// (`deliveries tail` reads 64 KiB at a time, `tail -f` whatever was appended).
///
/// The file is written by this worker, but it is read after crashes and by hand: a line torn by
/// `kill -9` is not UTF-8, a file someone else appended to may have no newline for megabytes.
/// Such lines come out as nil (counted and skipped by the reader), and a line longer than
/// ``maxLineBytes`` is dropped whole instead of being held in memory.
public struct DeliveryLogLineReader: Sendable {
    /// The longest line kept (a real line is a few hundred bytes).
    public static let maxLineBytes = 1 << 20

    private var pending: [UInt8] = []
    /// The line being read is over the limit: its bytes are dropped up to its newline.
    private var skipping = false

    /// Creates a reader at the start of a line.
    public init() {}

    /// Bytes of an unfinished line (held, or dropped while skipping): where a follower resumes
    /// is the offset read minus this.
    public private(set) var unfinishedBytes = 0

    /// Takes the next bytes of the file and calls `body` with each line they complete (without
    /// its newline): its text, or nil when it is not UTF-8 or too long. Empty lines are skipped.
    public mutating func feed(_ chunk: some Collection<UInt8>, _ body: (String?) -> Void) {
        var start = chunk.startIndex
        while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let piece = chunk[start..<newline]
            if skipping {
                skipping = false
                body(nil)
            } else if pending.isEmpty {
                if !piece.isEmpty { body(Self.text(piece)) }
            } else {
                pending.append(contentsOf: piece)
                if pending.count > Self.maxLineBytes { body(nil) } else { body(Self.text(pending)) }
                pending.removeAll(keepingCapacity: true)
            }
            unfinishedBytes = 0
            start = chunk.index(after: newline)
        }
        let rest = chunk[start...]
        unfinishedBytes += rest.count
        guard !skipping else { return }
        pending.append(contentsOf: rest)
        if pending.count > Self.maxLineBytes {
            skipping = true
            pending = []
        }
    }

    private static func text(_ bytes: some Collection<UInt8>) -> String? {
        guard bytes.count <= maxLineBytes else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension DeliveryLogLine {
    /// Reads one line of the log; nil when it is not a delivery-log line (a line of another
    /// format, or JSON with missing or mistyped keys).
    public init?(line: String) {
        guard let entry = try? JSONDecoder().decode(DeliveryLogLine.self, from: Data(line.utf8)) else { return nil }
        self = entry
    }
}
