import Foundation
import WorkerCore

/// One planned clip (the plan JSON of SPEC section 4).
struct PlannedClip: Codable, Sendable, Hashable {
    var clipIndex: Int
    var startTimeMs: Int
    var endTimeMs: Int
    var viralityScore: Double
    var layoutType: String
    var summary: String
    var tags: [String]
    var reasons: [String]

    enum CodingKeys: String, CodingKey {
        case clipIndex = "clip_index"
        case startTimeMs = "start_time_ms"
        case endTimeMs = "end_time_ms"
        case viralityScore = "virality_score"
        case layoutType = "layout_type"
        case summary, tags, reasons
    }
}

/// Chooses up to `max_clips` non-overlapping windows.
///
/// Lengths: each `duration_ranges` entry (its bounds and midpoint), else min, middle and max of
/// `min/max_clip_duration_seconds`, never longer than the video.
///
/// With transcript text the clips start and end on sentence boundaries (``SpokenWords``): each
/// sentence start (less a 150 ms lead-in) is a start, and the end goes to the sentence end (plus
/// a 150 ms tail) nearest the wanted length among those the allowed lengths admit; when none
/// fits, the clip ends at the wanted length and its reasons say it ends mid-sentence. Without
/// text: starts at 0, every speech segment start and every scene cut, ends moved to the nearest
/// speech end or scene cut within ±20 % of the length when the length stays allowed.
///
/// Score (0–1), with text: 0.45 × speech density + 0.2 × scene energy + 0.2 × hook words +
/// 0.15 × an opening hook; without text: 0.7 × speech density + 0.3 × scene energy. Speech
/// density is the share of the window covered by speech; scene energy is cuts per 10 s, capped
/// at 1; hook words (how, why, secret, best, never, important, …) said in the clip, 3 or more
/// = 1; the opening hook is 1 when the clip's first sentence is a question or holds a hook word.
/// The best windows win, greedily, without overlap; clips are numbered in time order.
///
/// Summary: the clip's own sentences, whole, up to 140 characters (a first sentence longer than
/// that is cut between words with "…"). Tags: ``TagScorer``. Nothing is invented: without text,
/// summaries say so and tags stay empty.
///
/// A video shorter than the shortest allowed clip yields one clip of the whole video (its
/// reasons say so) rather than none.
enum ClipPlanner {
    static let keywords: Set<String> = [
        "how", "why", "secret", "best", "never", "always", "important", "mistake", "lesson", "first", "amazing",
        "truth", "simple", "free", "fast", "worst", "because", "learn",
    ]
    /// Clips start this long before their first sentence and end this long after their last, so
    /// the first and last syllables are not clipped.
    static let leadMs = 150

    /// What the scoring of every candidate window shares.
    struct Context {
        var speech: [Transcript.Segment]
        var cuts: [Int]
        var durationMs: Int
        var words: [Transcript.Word]
        var sentences: [SpokenWords.Sentence]
        var tags: TagScorer

        init(speech: [Transcript.Segment], cuts: [Int], durationMs: Int) {
            self.speech = speech
            self.cuts = cuts
            self.durationMs = durationMs
            words = SpokenWords.words(speech)
            sentences = SpokenWords.sentences(words)
            tags = TagScorer(sentences: sentences)
        }
    }

    static func plan(spec: JobSpec, durationMs: Int, speech: [Transcript.Segment], cuts: [Int]) -> [PlannedClip] {
        let context = Context(speech: speech, cuts: cuts, durationMs: durationMs)
        var lengths = [Int]()
        if spec.durationRanges.isEmpty {
            let low = spec.minClipDurationSeconds * 1000
            let high = spec.maxClipDurationSeconds * 1000
            lengths = [low, (low + high) / 2, high]
        } else {
            for range in spec.durationRanges {
                lengths += [range.lower * 1000, (range.lower + range.upper) * 500, range.upper * 1000]
            }
        }
        func allowed(_ length: Int) -> Bool {
            if spec.durationRanges.isEmpty {
                return length >= spec.minClipDurationSeconds * 1000 && length <= spec.maxClipDurationSeconds * 1000
            }
            return spec.durationRanges.contains { length >= $0.lower * 1000 && length <= $0.upper * 1000 }
        }
        let shortest = lengths.min() ?? 0
        guard durationMs >= shortest else {
            var whole = score(start: 0, end: durationMs, context: context, index: 1)
            whole.reasons.append("the video (\(durationMs / 1000) s) is shorter than the shortest allowed clip; the whole video is one clip")
            return [whole]
        }
        let bySentence = !context.sentences.isEmpty
        let boundaries: [Int]
        var starts: Set<Int>
        if bySentence {
            boundaries = Set(context.sentences.map { min(durationMs, $0.endMs + leadMs) }).sorted()
            starts = Set(context.sentences.map { max(0, $0.startMs - leadMs) })
        } else {
            boundaries = Set(speech.map(\.endMs) + cuts + [durationMs]).sorted()
            starts = Set([0] + speech.map(\.startMs) + cuts)
        }
        starts = starts.filter { $0 >= 0 && $0 + shortest <= durationMs }
        var candidates = [PlannedClip]()
        for start in starts.sorted() {
            for length in Set(lengths) where start + length <= durationMs {
                var end = start + length
                let fits = boundaries.filter {
                    $0 > start && allowed($0 - start) && (bySentence || abs($0 - end) <= length / 5)
                }
                var midSentence = false
                if let snap = fits.min(by: { abs($0 - end) < abs($1 - end) }) {
                    end = snap
                } else if bySentence {
                    midSentence = true
                }
                var clip = score(start: start, end: end, context: context, index: 0)
                if midSentence {
                    clip.reasons.append("ends mid-sentence: no sentence end fits the allowed lengths from this start")
                } else if bySentence {
                    clip.reasons.append("starts and ends on sentence boundaries")
                }
                candidates.append(clip)
            }
        }
        var chosen = [PlannedClip]()
        for candidate in candidates.sorted(by: { ($0.viralityScore, -$0.startTimeMs) > ($1.viralityScore, -$1.startTimeMs) }) {
            guard chosen.count < spec.maxClips else { break }
            let overlaps = chosen.contains { candidate.startTimeMs < $0.endTimeMs && $0.startTimeMs < candidate.endTimeMs }
            if !overlaps { chosen.append(candidate) }
        }
        return chosen.sorted { $0.startTimeMs < $1.startTimeMs }.enumerated().map { offset, clip in
            var numbered = clip
            numbered.clipIndex = offset + 1
            return numbered
        }
    }

    static func score(start: Int, end: Int, context: Context, index: Int) -> PlannedClip {
        let length = max(1, end - start)
        let covered = context.speech.reduce(0) { total, segment in
            total + max(0, min(end, segment.endMs) - max(start, segment.startMs))
        }
        let density = min(1, Double(covered) / Double(length))
        let cutCount = context.cuts.filter { $0 > start && $0 < end }.count
        let energy = min(1, Double(cutCount) / max(1, Double(length) / 10_000))
        // A word belongs to the clip when it is said inside it (50 ms of slack for rounding).
        let words = context.words.filter { $0.startMs >= start - 50 && $0.endMs <= end + 50 }
        let sentences = context.sentences.filter { $0.startMs >= start - 50 && $0.endMs <= end + 50 }
        let terms = words.map { $0.word.lowercased().filter { $0.isLetter || $0 == "'" } }
        let hits = terms.filter(keywords.contains)
        var reasons = ["speech covers \(Int(density * 100))% of the clip"]
        if cutCount > 0 { reasons.append("\(cutCount) scene change\(cutCount == 1 ? "" : "s")") }
        let scoreValue: Double
        var tags = [String]()
        let summary: String
        if words.isEmpty {
            scoreValue = 0.7 * density + 0.3 * energy
            reasons.append("no transcript text: scored on speech times and scenes only")
            summary = "No transcript text; \(Int(density * 100))% speech"
        } else {
            var opening = 0.0
            if let first = sentences.first {
                let firstTerms = Set(first.words.map { $0.word.lowercased().filter { $0.isLetter || $0 == "'" } })
                if first.isQuestion {
                    opening = 1
                    reasons.append("opens with a question: \"\(first.text)\"")
                } else if let hook = firstTerms.intersection(keywords).sorted().first {
                    opening = 1
                    reasons.append("opens with the hook word \"\(hook)\"")
                }
            }
            scoreValue = 0.45 * density + 0.2 * energy + 0.2 * min(1, Double(hits.count) / 3) + 0.15 * opening
            if !hits.isEmpty { reasons.append("hook words: " + Array(Set(hits)).sorted().joined(separator: ", ")) }
            let questions = sentences.filter(\.isQuestion).count
            if questions > 0 { reasons.append("\(questions) question\(questions == 1 ? "" : "s") asked") }
            for tag in context.tags.tags(for: words) {
                tags.append(tag.word)
                reasons.append(
                    "tag \"\(tag.word)\": said \(tag.inClip)× in the clip, in \(tag.sentencesWithIt) of "
                        + "\(context.sentences.count) sentences of the video (tf-idf \(String(format: "%.2f", tag.score)))")
            }
            summary = Self.summary(sentences.isEmpty ? [SpokenWords.Sentence(words: words)] : sentences)
        }
        let layout = density >= 0.5 && cutCount <= max(1, length / 20_000) ? "talking_head" : (cutCount >= 3 ? "dynamic" : "unknown")
        return PlannedClip(
            clipIndex: index, startTimeMs: start, endTimeMs: end, viralityScore: (scoreValue * 1000).rounded() / 1000,
            layoutType: layout, summary: summary, tags: tags, reasons: reasons)
    }

    /// Whole sentences up to 140 characters; a longer first sentence is cut between words.
    static func summary(_ sentences: [SpokenWords.Sentence]) -> String {
        var text = ""
        for sentence in sentences {
            let next = text.isEmpty ? sentence.text : text + " " + sentence.text
            if next.count <= 140 {
                text = next
                continue
            }
            if text.isEmpty {
                var taken = [String]()
                for word in sentence.words {
                    guard SpokenWords.join(taken + [word.word]).count <= 139 else { break }
                    taken.append(word.word)
                }
                text = SpokenWords.join(taken)
                text += "…"
            }
            break
        }
        return text
    }
}
