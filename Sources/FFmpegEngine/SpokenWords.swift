/// The transcript as a flat list of timed words, and the sentences they make.
///
/// Sources that time each word (the built-in speech-to-text) give their words as they are.
/// Sources that only time cues (SRT, WebVTT, embedded subtitles) get word times spread over each
/// cue in proportion to the words' lengths: captions and sentence cuts then work the same way,
/// and a word is never placed outside the cue that holds it.
enum SpokenWords {
    /// A run of words ending in `.`, `?` or `!`, or before a pause of ``pauseMs`` or more.
    struct Sentence: Sendable, Hashable {
        var words: [Transcript.Word]
        var startMs: Int { words.first?.startMs ?? 0 }
        var endMs: Int { words.last?.endMs ?? 0 }
        var text: String { SpokenWords.join(words.map(\.word)) }
        var isQuestion: Bool { words.last?.word.hasSuffix("?") ?? false }
    }

    /// Words joined with spaces, except before a piece Whisper splits off a word ("back" "-off",
    /// "it" "'s"), which joins the word before it.
    static func join(_ words: [String]) -> String {
        var text = ""
        for word in words {
            if !text.isEmpty, !(word.first.map { "-'’".contains($0) } ?? false) { text += " " }
            text += word
        }
        return text
    }

    /// A pause this long ends a sentence even without punctuation (Whisper leaves some out).
    static let pauseMs = 700

    /// Every word of the transcript in time order; empty when it has no text.
    static func words(_ segments: [Transcript.Segment]) -> [Transcript.Word] {
        var all = [Transcript.Word]()
        for segment in segments {
            if let words = segment.words, !words.isEmpty {
                all += words
                continue
            }
            guard let text = segment.text else { continue }
            let tokens = text.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !tokens.isEmpty else { continue }
            let weights = tokens.map { $0.count + 1 }
            let total = weights.reduce(0, +)
            let span = max(1, segment.endMs - segment.startMs)
            var cursor = 0
            for (token, weight) in zip(tokens, weights) {
                let start = segment.startMs + span * cursor / total
                cursor += weight
                all.append(Transcript.Word(startMs: start, endMs: segment.startMs + span * cursor / total, word: token))
            }
        }
        return all.sorted { $0.startMs < $1.startMs }
    }

    /// The words grouped into sentences.
    static func sentences(_ words: [Transcript.Word]) -> [Sentence] {
        var sentences = [Sentence]()
        var current = [Transcript.Word]()
        for (index, word) in words.enumerated() {
            current.append(word)
            let next = index + 1 < words.count ? words[index + 1] : nil
            let ends = word.word.last.map { ".?!".contains($0) } ?? false
            if next == nil || ends || (next.map { $0.startMs - word.endMs >= pauseMs } ?? false) {
                sentences.append(Sentence(words: current))
                current = []
            }
        }
        return sentences
    }
}
