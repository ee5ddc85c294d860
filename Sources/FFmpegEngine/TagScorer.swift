import Foundation

/// A clip's tags: its most distinctive content words, weighted against the whole transcript
/// (TF-IDF with sentences as documents).
///
/// score = tf × idf, tf = times the word is said in the clip, idf = ln((N + 1) / (df + 1)) + 1,
/// N = sentences in the video, df = sentences that hold the word. A word said often in the clip
/// but rarely elsewhere wins; stop words, numbers and words under 3 letters never count. Ties go
/// to the longer word (more specific), then to the earlier one.
struct TagScorer: Sendable {
    struct Tag: Sendable, Hashable {
        var word: String
        var inClip: Int
        var sentencesWithIt: Int
        var score: Double
    }

    private let documentFrequency: [String: Int]
    private let sentenceCount: Int

    /// Learns the document frequencies from every sentence of the video.
    init(sentences: [SpokenWords.Sentence]) {
        var frequency = [String: Int]()
        for sentence in sentences {
            for term in Set(sentence.words.compactMap { Self.term($0.word) }) { frequency[term, default: 0] += 1 }
        }
        documentFrequency = frequency
        sentenceCount = sentences.count
    }

    /// Up to `count` tags for a clip's words, best first.
    func tags(for words: [Transcript.Word], count: Int = 3) -> [Tag] {
        var counts = [String: Int]()
        var firstSeen = [String: Int]()
        for (index, word) in words.enumerated() {
            guard let term = Self.term(word.word) else { continue }
            counts[term, default: 0] += 1
            if firstSeen[term] == nil { firstSeen[term] = index }
        }
        let scored = counts.map { term, tf in
            let df = documentFrequency[term] ?? 1
            let idf = log(Double(sentenceCount + 1) / Double(df + 1)) + 1
            return Tag(word: term, inClip: tf, sentencesWithIt: df, score: Double(tf) * idf)
        }
        return Array(
            scored.sorted {
                if abs($0.score - $1.score) > 1e-9 { return $0.score > $1.score }
                if $0.word.count != $1.word.count { return $0.word.count > $1.word.count }
                return (firstSeen[$0.word] ?? 0) < (firstSeen[$1.word] ?? 0)
            }.prefix(count))
    }

    /// The word as a tag: lower-case letters and digits (a possessive `'s` dropped), or nil for a
    /// stop word, a number or anything under 3 letters.
    static func term(_ word: String) -> String? {
        var text = word.lowercased().replacingOccurrences(of: "’", with: "'")
        text = String(text.drop { !$0.isLetter && !$0.isNumber }.reversed().drop { !$0.isLetter && !$0.isNumber }.reversed())
        if text.hasSuffix("'s") { text.removeLast(2) }
        guard text.count >= 3, text.contains(where: \.isLetter), !stopWords.contains(text),
            text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "'" })
        else { return nil }
        return text
    }

    /// Common English function words and fillers: never a tag.
    static let stopWords: Set<String> = [
        "the", "and", "that", "this", "with", "from", "have", "has", "had", "they", "their", "there", "what", "when",
        "your", "you", "yours", "about", "would", "could", "should", "which", "while", "into", "than", "then", "them",
        "were", "was", "been", "being", "will", "just", "here", "every", "does", "did", "doing", "done", "thank",
        "thanks", "are", "for", "not", "but", "all", "any", "can", "our", "ours", "out", "one", "two", "his", "her",
        "hers", "him", "she", "its", "it's", "who", "whom", "whose", "why", "how", "where", "also", "some", "such",
        "only", "own", "same", "too", "very", "more", "most", "other", "others", "each", "few", "both", "these",
        "those", "over", "under", "again", "further", "once", "because", "until", "before", "after", "above",
        "below", "between", "through", "during", "off", "on", "yes", "yeah", "okay", "well", "like", "really",
        "actually", "basically", "something", "anything", "everything", "nothing", "thing", "things", "way", "get",
        "got", "make", "made", "going", "gonna", "want", "know", "think", "say", "said", "see", "let", "let's",
        "i'm", "you're", "we're", "they're", "that's", "there's", "don't", "doesn't", "didn't", "can't", "won't",
        "isn't", "aren't", "wasn't", "weren't", "i've", "you've", "we've", "i'll", "you'll", "we'll", "much",
        "many", "may", "might", "must", "shall", "now", "ever", "never", "always", "still", "even", "back",
        "watching", "welcome", "hello", "today", "use", "used", "using", "need", "needs", "lot", "lots", "kind",
        "sort", "put", "take", "come", "came", "goes", "went", "look", "right", "sure", "mean", "first", "last",
        "next", "new", "good", "great", "best", "better", "having", "whether", "ago", "per", "via",
    ]
}
