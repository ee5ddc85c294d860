import Foundation

/// The transcript JSON of SPEC section 4 (`transcript_url`).
struct Transcript: Codable, Sendable, Hashable {
    struct Segment: Codable, Sendable, Hashable {
        var startMs: Int
        var endMs: Int
        /// Absent when only speech times are known (silence detection).
        var text: String?

        enum CodingKeys: String, CodingKey {
            case startMs = "start_ms"
            case endMs = "end_ms"
            case text
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(startMs, forKey: .startMs)
            try container.encode(endMs, forKey: .endMs)
            try container.encodeIfPresent(text, forKey: .text)
        }
    }

    /// `command`, `embedded`, `sidecar` or `silence`.
    var source: String
    var language: String?
    var segments: [Segment]

    var hasText: Bool { segments.contains { !($0.text ?? "").isEmpty } }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(source, forKey: .source)
        try container.encode(language, forKey: .language)
        try container.encode(segments, forKey: .segments)
    }

    enum CodingKeys: String, CodingKey { case source, language, segments }
}

/// Reads SRT, WebVTT or transcript JSON (`{"segments": [{"start_ms", "end_ms", "text"}]}`).
enum TranscriptParser {
    static func parse(_ text: String) -> [Transcript.Segment]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            struct Body: Decodable {
                struct Segment: Decodable {
                    var start_ms: Int
                    var end_ms: Int
                    var text: String?
                }
                var segments: [Segment]
            }
            guard let body = try? JSONDecoder().decode(Body.self, from: Data(trimmed.utf8)) else { return nil }
            return body.segments.filter { $0.end_ms > $0.start_ms }.map { .init(startMs: $0.start_ms, endMs: $0.end_ms, text: $0.text) }
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

    /// `00:01:02,500`, `01:02.500`, `00:01:02.500` → milliseconds.
    static func timestamp(_ text: String) -> Int? {
        let clean = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".")
        let parts = clean.split(separator: ":")
        guard (2...3).contains(parts.count), let seconds = Double(parts.last!) else { return nil }
        var total = seconds
        if parts.count == 3 {
            guard let hours = Double(parts[0]), let minutes = Double(parts[1]) else { return nil }
            total += hours * 3600 + minutes * 60
        } else {
            guard let minutes = Double(parts[0]) else { return nil }
            total += minutes * 60
        }
        return Int((total * 1000).rounded())
    }

    static func stripTags(_ text: String) -> String {
        text.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }
}
