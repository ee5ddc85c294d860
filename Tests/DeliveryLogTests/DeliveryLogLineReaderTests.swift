import DeliveryLog
import Testing
import WebhookCore

/// The reader behind `deliveries tail`: lines arrive in chunks of any size, some torn by a crash
/// (not UTF-8), some absurdly long; none of it may crash it, shift where it resumes, or hold
/// megabytes in memory.
struct DeliveryLogLineReaderTests {
    static let valid = Array(DeliveryLogLine(
        DeliveryRecord(
            time: Timestamp(milliseconds: 1_736_937_060_000), eventID: EventID(high: 1, low: 2), jobID: "job_1",
            kind: .completed, sequence: 3, attempt: 1, url: "https://h/p", statusCode: 204, outcome: .delivered,
            durationMs: 5, error: nil, nextAttemptAt: nil)
    ).jsonLine())

    /// (bytes, chunk size, lines read (nil: unreadable), bytes left unfinished)
    @Test(arguments: [
        (Array("a\nb\n".utf8), 1, ["a", "b"], 0),
        (Array("a\n\n\nb".utf8), 2, ["a"], 1),
        (Array("héllo\nwörld\n".utf8), 3, ["héllo", "wörld"], 0),
        ([0x61, 0xFF, 0x62, 0x0A, 0x63, 0x0A], 1, [nil, "c"], 0),
        ([0xE2, 0x82, 0x0A, 0x63, 0x0A], 4, [nil, "c"], 0),
        (Array("no newline yet".utf8), 5, [], 14),
    ] as [([UInt8], Int, [String?], Int)])
    func splitsChunksIntoLines(bytes: [UInt8], chunk: Int, lines: [String?], unfinished: Int) {
        var reader = DeliveryLogLineReader()
        var read = [String?]()
        var start = 0
        while start < bytes.count {
            reader.feed(bytes[start..<min(bytes.count, start + chunk)]) { read.append($0) }
            start += chunk
        }
        #expect(read == lines)
        #expect(reader.unfinishedBytes == unfinished)
    }

    @Test func aLineOverTheLimitIsDroppedWholeAndReadingGoesOn() {
        var reader = DeliveryLogLineReader()
        var read = [String?]()
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 256 << 10)
        for _ in 0..<5 { reader.feed(piece) { read.append($0) } }  // 1.25 MiB without a newline
        reader.feed(Array("\nnext\n".utf8)) { read.append($0) }
        #expect(read == [nil, "next"])
    }

    @Test func readsItsOwnLinesBack() throws {
        var reader = DeliveryLogLineReader()
        var entries = [DeliveryLogLine?]()
        reader.feed(Self.valid + Array("{\"not\": \"a log line\"}\n".utf8) + Self.valid) { line in
            entries.append(line.flatMap(DeliveryLogLine.init(line:)))
        }
        #expect(entries.count == 3)
        #expect(entries[0]?.eventID == EventID(high: 1, low: 2).description)
        #expect(entries[1] == nil)
        #expect(entries[2]?.statusCode == 204)
    }
}
