import Foundation

/// Reads SRT, WebVTT or transcript JSON (`{"segments": [{"start_ms", "end_ms", "text", "words"}]}`,
/// words as `{"start_ms", "end_ms", "word"}`).
enum TranscriptParser {
    static func parse(_ text: String) -> [Transcript.Segment]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            struct Body: Decodable {
                struct Segment: Decodable {
                    var start_ms: Int
                    var end_ms: Int
                    var text: String?
                    var words: [Transcript.Word]?
                }
                var segments: [Segment]
            }
            guard let body = try? JSONDecoder().decode(Body.self, from: Data(trimmed.utf8)) else { return nil }
            return body.segments.filter { $0.start_ms >= 0 && $0.end_ms > $0.start_ms }.map {
                // Words with negative or reversed times are dropped, not trusted.
                let words = $0.words?.filter { word in word.startMs >= 0 && word.endMs >= word.startMs }
                return .init(startMs: $0.start_ms, endMs: $0.end_ms, text: $0.text, words: words?.isEmpty == false ? words : nil)
            }
        }
        // SRT and WebVTT share the cue shape: a "start --> end" line, then text lines.
        var segments = [Transcript.Segment]()
        let lines = trimmed.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard line.contains("-->") else {
                index += 1
                continue
            }
            let parts = line.components(separatedBy: "-->")
            guard parts.count == 2, let start = timestamp(parts[0]), let end = timestamp(parts[1].split(separator: " ").first.map(String.init) ?? "")
            else {
                index += 1
                continue
            }
            index += 1
            var words = [String]()
            while index < lines.count, !lines[index].trimmingCharacters(in: .whitespaces).isEmpty {
                words.append(stripTags(String(lines[index])))
                index += 1
            }
            if end > start { segments.append(.init(startMs: start, endMs: end, text: words.joined(separator: " "))) }
        }
        return segments.isEmpty ? nil : segments
    }

    /// `00:01:02,500`, `01:02.500`, `00:01:02.500`, `00:01:02` → milliseconds; nil for anything
    /// else. The fields are read as digits, never as floating point: a transcribe command that
    /// prints `nan:00`, `-1:00`, `1e9:00` or a thousand-digit hour gets no segment, instead of a
    /// trap converting an infinite `Double` to `Int` (found by the `transcript` fuzz target).
    ///
    /// | part | accepted |
    /// |---|---|
    /// | hours (optional) | 1–5 digits |
    /// | minutes | 1–2 digits, at most 59, when hours are given; else 1–5 digits |
    /// | seconds | 1–2 digits, at most 59 |
    /// | fraction (`.` or `,`) | 1–9 digits, read to the millisecond |
    static func timestamp(_ text: String) -> Int? {
        let clean = text.trimmingCharacters(in: .whitespaces)
        let parts = clean.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let last = parts.last else { return nil }
        func number(_ digits: Substring, maxDigits: Int, max: Int) -> Int? {
            guard (1...maxDigits).contains(digits.utf8.count), digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(digits), value <= max
            else { return nil }
            return value
        }
        let secondParts = last.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "." || $0 == "," })
        guard secondParts.count <= 2, let seconds = number(secondParts[0], maxDigits: 2, max: 59) else { return nil }
        var millis = 0
        if secondParts.count == 2 {
            let fraction = secondParts[1]
            guard number(fraction, maxDigits: 9, max: 999_999_999) != nil else { return nil }
            let padded = String(fraction.prefix(3)) + String(repeating: "0", count: max(0, 3 - fraction.count))
            millis = Int(padded) ?? 0
        }
        let hasHours = parts.count == 3
        guard let minutes = number(parts[parts.count - 2], maxDigits: hasHours ? 2 : 5, max: hasHours ? 59 : 99_999),
            let hours = hasHours ? number(parts[0], maxDigits: 5, max: 99_999) : 0
        else { return nil }
        return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis
    }

    static func stripTags(_ text: String) -> String {
        text.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }
}
