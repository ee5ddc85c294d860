// Fuzz target `retry-after`: the `Retry-After` parser (RFC 9110: delay-seconds or an HTTP date),
// fed whatever a receiver sends.
//
// Beyond "never crashes": a delay is never negative; digits alone always give a delay; a date
// the parser reads, written back as an IMF-fixdate, reads as the same instant.
import Foundation  // links Foundation, which the static library of the parser uses
@testable import WebhookCore


/// `precondition` without its message in optimized builds would hide what broke: this keeps it.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition { fatalError("property violated: \(message())") }
}
private let now = Timestamp(milliseconds: 1_736_937_060_000)
private let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRetryAfter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let delay = RetryAfter.delay(text, now: now)
    if let delay { check(delay >= .zero, "negative delay for \(text)") }
    let trimmed = text.trimmingSpaces
    if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) { check(delay != nil, "digits without a delay") }
    if let date = RetryAfter.parseHTTPDate(trimmed) {
        let iso = Array(date.iso8601.utf8)  // YYYY-MM-DDTHH:MM:SS.mmmZ
        func number(_ range: Range<Int>) -> Int { Int(String(decoding: iso[range], as: UTF8.self)) ?? -1 }
        let year = number(0..<4)
        if iso.count == 24, (1...9999).contains(year), date.milliseconds % 1000 == 0 {
            let month = months[number(5..<7) - 1]
            let written = "Sun, \(String(decoding: iso[8..<10], as: UTF8.self)) \(month) \(String(decoding: iso[0..<4], as: UTF8.self)) \(String(decoding: iso[11..<19], as: UTF8.self)) GMT"
            check(RetryAfter.parseHTTPDate(written) == date, "\(text) → \(date.iso8601) → \(written)")
        }
    }
    return 0
}
