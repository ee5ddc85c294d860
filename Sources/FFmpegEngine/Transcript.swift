import Foundation

/// The transcript JSON of SPEC section 4 (`transcript_url`).
struct Transcript: Codable, Sendable, Hashable {
    /// One spoken word with its times (SPEC section 4: `{"start_ms", "end_ms", "word"}`); the
    /// recognizer's confidence rides along as `probability` when it gave one.
    struct Word: Codable, Sendable, Hashable {
        var startMs: Int
        var endMs: Int
        var word: String
        var probability: Double?

        init(startMs: Int, endMs: Int, word: String, probability: Double? = nil) {
            self.startMs = startMs
            self.endMs = endMs
            self.word = word
            self.probability = probability
        }

        enum CodingKeys: String, CodingKey {
            case startMs = "start_ms"
            case endMs = "end_ms"
            case word, probability
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(startMs, forKey: .startMs)
            try container.encode(endMs, forKey: .endMs)
            try container.encode(word, forKey: .word)
            try container.encodeIfPresent(probability, forKey: .probability)
        }
    }

    struct Segment: Codable, Sendable, Hashable {
        var startMs: Int
        var endMs: Int
        /// Absent when only speech times are known (silence detection).
        var text: String?
        /// Absent unless the source timed each word (the built-in speech-to-text, or a command
        /// printing transcript JSON with words).
        var words: [Word]?

        init(startMs: Int, endMs: Int, text: String?, words: [Word]? = nil) {
            self.startMs = startMs
            self.endMs = endMs
            self.text = text
            self.words = words
        }

        enum CodingKeys: String, CodingKey {
            case startMs = "start_ms"
            case endMs = "end_ms"
            case text, words
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(startMs, forKey: .startMs)
            try container.encode(endMs, forKey: .endMs)
            try container.encodeIfPresent(text, forKey: .text)
            try container.encodeIfPresent(words, forKey: .words)
        }
    }

    /// `command`, `embedded`, `sidecar`, `whisper` or `silence`.
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

