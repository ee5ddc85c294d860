// Fuzz target `delivery-log`: the reader behind `deliveries tail` (line splitting in chunks of
// any size, torn and overlong lines, decoding) and the writer's hand-made JSON.
//
// - The lines read in chunks are exactly the file's newline-separated lines (empty ones
//   skipped), nil where not UTF-8 or too long, whatever the chunk size (the first input byte).
// - A line that decodes re-encodes to a line that decodes to the same entry.
// - An entry made of arbitrary strings (the rest of the input) encodes with `JSONText` into a line
//   `JSONDecoder` reads back unchanged.
import Foundation  // links Foundation, which the static library of the parser uses
@testable import DeliveryLog
import WebhookCore


/// `precondition` without its message in optimized builds would hide what broke: this keeps it.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition { fatalError("property violated: \(message())") }
}
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDeliveryLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = input.first else { return 0 }
    let bytes = Array(input.dropFirst())
    let chunk = Int(first) + 1
    var reader = DeliveryLogLineReader()
    var lines = [String?]()
    var start = 0
    while start < bytes.count {
        reader.feed(bytes[start..<min(bytes.count, start + chunk)]) { lines.append($0) }
        start += chunk
    }
    var expected = [String?]()
    let pieces = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    for piece in pieces.dropLast() where !piece.isEmpty {
        expected.append(piece.count > DeliveryLogLineReader.maxLineBytes ? nil : String(validating: piece, as: UTF8.self))
    }
    check(lines == expected, "chunked lines differ from the file's lines")
    check(reader.unfinishedBytes == pieces.last?.count ?? 0)
    for case let line? in lines {
        guard let entry = DeliveryLogLine(line: line) else { continue }
        let again = DeliveryLogLine(line: String(decoding: entry.jsonLine().dropLast(), as: UTF8.self))
        check(again == entry, "re-encoding changed \(line)")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    let fields = text.split(separator: "\u{1F}", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
    func field(_ index: Int) -> String { index < fields.count ? fields[index] : "" }
    var made = DeliveryLogLine(
        DeliveryRecord(
            time: Timestamp(milliseconds: 0), eventID: EventID(high: 0, low: 0), jobID: "", kind: .progress, sequence: 0,
            attempt: nil, url: "", statusCode: nil, outcome: .retrying, durationMs: nil, error: nil, nextAttemptAt: nil))
    made.ts = field(0)
    made.eventID = field(1)
    made.jobID = field(2)
    made.event = field(3)
    made.sequence = Int64(size) - 3
    made.attempt = size % 2 == 0 ? nil : size
    made.url = field(4)
    made.statusCode = size % 3 == 0 ? nil : 200 + size
    made.durationMs = Int64(first)
    made.error = fields.count > 5 ? field(5) : nil
    made.nextAttemptAt = size % 5 == 0 ? field(0) : nil
    let line = made.jsonLine()
    check(line.last == UInt8(ascii: "\n") && !line.dropLast().contains(UInt8(ascii: "\n")), "a line break inside a line")
    check(DeliveryLogLine(line: String(decoding: line.dropLast(), as: UTF8.self)) == made, "JSONText and JSONDecoder disagree")
    return 0
}
