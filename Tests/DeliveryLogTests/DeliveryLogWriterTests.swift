import DeliveryLog
import Foundation
import Testing
import WebhookCore

struct DeliveryLogWriterTests {
    let directory = NSTemporaryDirectory() + "log-\(UUID().uuidString)"

    func record(_ index: Int, outcome: AttemptOutcome = .retrying) -> DeliveryRecord {
        DeliveryRecord(
            time: Timestamp(milliseconds: 1_736_937_060_000 + Int64(index)), eventID: EventID(high: 1, low: UInt64(index)),
            jobID: "job-\"\(index)\"", kind: .progress, sequence: Int64(index), attempt: 1,
            url: "https://example.com/hook?token=s3cret&x=1", statusCode: outcome == .retrying ? 503 : nil,
            outcome: outcome, durationMs: 4, error: outcome == .retrying ? "HTTP 503\nline" : nil,
            nextAttemptAt: outcome == .retrying ? Timestamp(milliseconds: 1_736_937_061_000) : nil)
    }

    @Test func writesOneJSONObjectPerLineWithEveryKey() throws {
        let writer = try DeliveryLogWriter(directory: directory)
        writer.record(record(1))
        writer.record(record(2, outcome: .superseded))
        writer.close()
        let text = try String(contentsOfFile: writer.path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        let keys: Set = ["ts", "event_id", "job_id", "event", "sequence", "attempt", "url", "status_code", "outcome",
                         "duration_ms", "error", "next_attempt_at"]
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(object.keys) == keys)
        }
        let first = try JSONDecoder().decode(DeliveryLogLine.self, from: Data(lines[0].utf8))
        #expect(first.url == "https://example.com/hook?token=REDACTED&x=REDACTED")
        #expect(first.jobID == "job-\"1\"")
        #expect(first.error == "HTTP 503\nline")
        #expect(first.nextAttemptAt == "2025-01-15T10:31:01.000Z")
        #expect(first.ts == "2025-01-15T10:31:00.001Z")
        let second = try JSONDecoder().decode(DeliveryLogLine.self, from: Data(lines[1].utf8))
        #expect(second.statusCode == nil && second.nextAttemptAt == nil && second.outcome == "superseded")
        #expect(!text.contains("s3cret"))
    }

    /// The writer formats records straight into its buffer; the line is the same as the
    /// `DeliveryLogLine` value's.
    @Test(arguments: [AttemptOutcome.retrying, .delivered, .superseded, .failed])
    func directFormattingMatchesTheLineValue(outcome: AttemptOutcome) {
        var direct = Array("previous line\n".utf8)
        var viaLine = direct
        let record = record(7, outcome: outcome)
        DeliveryLogLine.appendJSONLine(for: record, to: &direct)
        DeliveryLogLine(record).appendJSONLine(to: &viaLine)
        #expect(String(decoding: direct, as: UTF8.self) == String(decoding: viaLine, as: UTF8.self))
    }

    /// The writer redacts a URL once and reuses it while the next records share it: each line
    /// still shows its own record's URL, redacted, when the URLs alternate.
    @Test func eachLineShowsItsOwnURLWhenURLsAlternate() throws {
        let writer = try DeliveryLogWriter(directory: directory, coalescing: .seconds(60))
        let urls = [
            "https://a.example/hook?token=first", "https://a.example/hook?token=first", "https://b.example/other",
            "https://a.example/hook?token=first", "", "https://c.example/x?sig=third",
        ]
        for (index, url) in urls.enumerated() {
            var entry = record(index)
            entry.url = url
            writer.record(entry)
        }
        writer.close()
        let text = try String(contentsOfFile: writer.path, encoding: .utf8)
        let logged = try text.split(separator: "\n").map { try JSONDecoder().decode(DeliveryLogLine.self, from: Data($0.utf8)).url }
        #expect(logged == urls.map(URLRedaction.redact))
        #expect(logged[3] == "https://a.example/hook?token=REDACTED" && logged[4] == "")
        #expect(!text.contains("first") && !text.contains("third"))
    }

    @Test func flushWritesWhatTheCoalescingWouldStillHold() throws {
        let writer = try DeliveryLogWriter(directory: directory, coalescing: .seconds(60))
        writer.record(record(1))
        writer.flush()
        #expect(try String(contentsOfFile: writer.path, encoding: .utf8).split(separator: "\n").count == 1)
        writer.close()
    }

    @Test func rotatesBySizeWithoutLosingOrSplittingLines() throws {
        let writer = try DeliveryLogWriter(directory: directory, maxFileBytes: 4096, keepFiles: 50)
        let total = 300
        for index in 0..<total { writer.record(record(index)) }
        writer.close()
        var files = [writer.path]
        var index = 1
        while FileManager.default.fileExists(atPath: "\(writer.path).\(index)") {
            files.append("\(writer.path).\(index)")
            index += 1
        }
        #expect(files.count > 5)
        var sequences = [Int64]()
        for file in files.reversed() {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(data.count <= 4096)
            for line in data.split(separator: UInt8(ascii: "\n")) {
                sequences.append(try JSONDecoder().decode(DeliveryLogLine.self, from: Data(line)).sequence)
            }
        }
        #expect(sequences == (0..<total).map(Int64.init))
    }

    @Test func appendsToAnExistingLog() throws {
        let first = try DeliveryLogWriter(directory: directory)
        first.record(record(1))
        first.close()
        let second = try DeliveryLogWriter(directory: directory)
        second.record(record(2))
        second.close()
        let lines = try String(contentsOfFile: second.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
    }
}
