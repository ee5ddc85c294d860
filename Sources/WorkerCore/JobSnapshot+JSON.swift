#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WebhookCore

extension JobSnapshot {
    /// The snapshot as a JSON object, written by hand: the same members as ``encode(to:)``, in
    /// its order (`JSONEncoder`'s key order follows a dictionary's and is not fixed anyway).
    ///
    /// The pipeline makes one of these per event stored; `JSONEncoder` cost ~4.5 µs a snapshot
    /// (a sixth of the CPU the dispatcher spends on a whole delivery, measured with `perf`). Only
    /// ``output`` (on `job.completed`, once per job) still goes through the encoder.
    /// - Throws: `EncodingError` when ``output`` holds what JSON cannot (e.g. NaN).
    func jsonBytes() throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(192 + currentStep.utf8.count + (error?.utf8.count ?? 0))
        out.append(contentsOf: #"{"timestamp":""#.utf8)
        // Appended (the method overwrites only a buffer of exactly 24 bytes; this one holds 14).
        timestamp.writeISO8601(into: &out)
        out.append(contentsOf: #"","job_id":"#.utf8)
        Self.appendString(jobID, to: &out)
        out.append(contentsOf: #","external_job_id":"#.utf8)
        if let externalJobID { Self.appendString(externalJobID, to: &out) } else { out.append(contentsOf: "null".utf8) }
        if let ownerUserID {
            out.append(contentsOf: #","owner_user_id":"#.utf8)
            Self.appendString(ownerUserID, to: &out)
        }
        out.append(contentsOf: #","status":"#.utf8)
        Self.appendString(status.rawValue, to: &out)
        out.append(contentsOf: #","progress_percent":"#.utf8)
        out.append(contentsOf: String(progressPercent).utf8)
        out.append(contentsOf: #","current_step":"#.utf8)
        Self.appendString(currentStep, to: &out)
        if let clipsCompleted {
            out.append(contentsOf: #","clips_completed":"#.utf8)
            out.append(contentsOf: String(clipsCompleted).utf8)
        }
        if let totalClips {
            out.append(contentsOf: #","total_clips":"#.utf8)
            out.append(contentsOf: String(totalClips).utf8)
        }
        if let error {
            out.append(contentsOf: #","error":"#.utf8)
            Self.appendString(error, to: &out)
        }
        if let errorCode {
            out.append(contentsOf: #","error_code":"#.utf8)
            Self.appendString(errorCode.rawValue, to: &out)
        }
        if let output {
            out.append(contentsOf: #","output":"#.utf8)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            out.append(contentsOf: try encoder.encode(output))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string as `JSONEncoder` writes it with `.withoutEscapingSlashes`: quote, backslash
    /// and control characters escaped, everything else (non-ASCII included) as is.
    private static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
