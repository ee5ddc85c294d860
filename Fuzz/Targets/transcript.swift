// Fuzz target `transcript`: the SRT / WebVTT / transcript-JSON parser, fed what a transcribe
// command, an embedded subtitle stream or a sidecar file prints.
//
// Beyond "never crashes": every segment starts at or after 0 and ends after it starts.
import Foundation  // links Foundation, which the static library of the parser uses
@testable import FFmpegEngine


/// `precondition` without its message in optimized builds would hide what broke: this keeps it.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition { fatalError("property violated: \(message())") }
}
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranscript(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let segments = TranscriptParser.parse(text) {
        for segment in segments {
            check(segment.startMs >= 0, "negative start \(segment.startMs)")
            check(segment.endMs > segment.startMs, "segment ends before it starts")
        }
    }
    _ = TranscriptParser.timestamp(text)
    return 0
}
