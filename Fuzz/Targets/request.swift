// Fuzz target `request`: the JSON parser and the job request validator (issue #10).
//
// Beyond "never crashes, never hangs":
// - JSON the parser accepts survives a round trip through `compactText` unchanged, and when
//   `JSONDecoder` (what parsed submissions before) accepts the same bytes it reads the same value.
// - A request the validator accepts keeps every bound of SPEC section 4: clips 1–20, durations
//   1–600 with min ≤ max, identifiers at most 256 characters and 1,024 bytes, URLs the URL policy
//   accepts; its canonical form (what Idempotency-Key compares) is JSON and validates to itself.
// - A refusal is a 400 with a message.
import Foundation
import WebhookCore
@testable import WorkerCore


/// `precondition` without its message in optimized builds would hide what broke: this keeps it.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition { fatalError("property violated: \(message())") }
}
private let validator = JobRequestValidator(networkPolicy: NetworkPolicy(), localMediaDirectory: nil)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let value = try? JSONParser.parse(bytes) {
        let text = value.compactText
        guard let again = try? JSONParser.parse(Array(text.utf8)) else { fatalError("re-encoded JSON does not parse: \(text)") }
        check(again == value, "the round trip changed \(text)")
        if let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) {
            check(decoded == value, "JSONDecoder reads \(decoded.compactText), the parser \(text)")
        }
    }
    switch validator.validate(body: bytes) {
    case .failure(let error):
        check(error.status == 400 && !error.message.isEmpty, "\(error)")
    case .success(let spec):
        check((1...20).contains(spec.maxClips))
        check((1...600).contains(spec.minClipDurationSeconds) && (1...600).contains(spec.maxClipDurationSeconds))
        check(spec.minClipDurationSeconds <= spec.maxClipDurationSeconds)
        check(spec.durationRanges.count <= 10 && spec.durationRanges.allSatisfy { 1 <= $0.lower && $0.lower <= $0.upper && $0.upper <= 600 })
        for identifier in [spec.externalJobID, spec.ownerUserID].compactMap({ $0 }) {
            check(identifier.count <= 256 && identifier.utf8.count <= 1024)
        }
        check(validator.networkPolicy.refusal(forURL: spec.videoURL) == nil, spec.videoURL)
        if let callback = spec.callbackURL { check(validator.networkPolicy.refusal(forURL: callback) == nil, callback) }
        check((spec.captionStyleJSON?.utf8.count ?? 0) <= 4096)
        // The canonical form is itself a request that validates to the same spec.
        let canonical = spec.canonicalJSON
        guard case .object(var fields) = try? JSONParser.parse(canonical) else { fatalError("canonical form is not an object") }
        fields["caption_style"] = spec.captionStyleJSON.flatMap { try? JSONParser.parse(Array($0.utf8)) }
        fields["caption_style_json"] = nil
        let rebuilt = Array(JSONValue.object(fields).compactText.utf8)
        guard case .success(let again) = validator.validate(body: rebuilt) else { fatalError("canonical form refused") }
        check(again.canonicalJSON == canonical, "canonical form is not stable")
    }
    return 0
}
