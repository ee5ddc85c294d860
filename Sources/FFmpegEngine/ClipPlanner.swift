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
/// `min/max_clip_duration_seconds`, never longer than the video. Starts: 0, every speech segment
/// start and every scene cut. An end is moved to the nearest speech end or scene cut within
/// ±20 % of the length when the length stays allowed, so clips do not cut words or shots.
///
/// Score (0–1), with text: 0.5 × speech density + 0.25 × scene energy + 0.25 × keyword hits;
/// without text: 0.7 × speech density + 0.3 × scene energy. Speech density is the share of the
/// window covered by speech; scene energy is cuts per 10 s, capped at 1; keyword hits count
/// hook words (how, why, secret, best, never, important, …), 3 or more = 1. The best windows win,
/// greedily, without overlap; clips are numbered in time order.
///
/// A video shorter than the shortest allowed clip yields one clip of the whole video (its
/// reasons say so) rather than none.
enum ClipPlanner {
    static let keywords: Set<String> = [
        "how", "why", "secret", "best", "never", "always", "important", "mistake", "lesson", "first", "amazing",
        "truth", "simple", "free", "fast", "worst", "because", "learn",
    ]
    static let stopwords: Set<String> = [
        "the", "and", "that", "this", "with", "from", "have", "they", "their", "there", "what", "when", "your", "about",
        "would", "could", "should", "which", "while", "into", "than", "then", "them", "were", "been", "will", "just",
        "here", "every", "does", "thank", "watching",
    ]

    static func plan(spec: JobSpec, durationMs: Int, speech: [Transcript.Segment], cuts: [Int]) -> [PlannedClip] {
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
            var whole = score(start: 0, end: durationMs, speech: speech, cuts: cuts, index: 1)
            whole.reasons.append("the video (\(durationMs / 1000) s) is shorter than the shortest allowed clip; the whole video is one clip")
            return [whole]
        }
        let boundaries = Set(speech.map(\.endMs) + cuts + [durationMs]).sorted()
        var starts = Set([0] + speech.map(\.startMs) + cuts)
        starts = starts.filter { $0 >= 0 && $0 + shortest <= durationMs }
        var candidates = [PlannedClip]()
        for start in starts.sorted() {
            for length in Set(lengths) where start + length <= durationMs {
                var end = start + length
                let slack = length / 5
                if let snap = boundaries.filter({ abs($0 - end) <= slack && allowed($0 - start) && $0 <= durationMs })
                    .min(by: { abs($0 - end) < abs($1 - end) })
                {
                    end = snap
                }
                candidates.append(score(start: start, end: end, speech: speech, cuts: cuts, index: 0))
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

    static func score(start: Int, end: Int, speech: [Transcript.Segment], cuts: [Int], index: Int) -> PlannedClip {
        let length = max(1, end - start)
        let covered = speech.reduce(0) { total, segment in total + max(0, min(end, segment.endMs) - max(start, segment.startMs)) }
        let density = min(1, Double(covered) / Double(length))
        let cutCount = cuts.filter { $0 > start && $0 < end }.count
        let energy = min(1, Double(cutCount) / max(1, Double(length) / 10_000))
        let texts = speech.filter { $0.startMs < end && $0.endMs > start }.compactMap(\.text).filter { !$0.isEmpty }
        let words = texts.joined(separator: " ").lowercased().split { !$0.isLetter && $0 != "'" }.map(String.init)
        let hits = words.filter(keywords.contains)
        var reasons = ["speech covers \(Int(density * 100))% of the clip"]
        if cutCount > 0 { reasons.append("\(cutCount) scene change\(cutCount == 1 ? "" : "s")") }
        let scoreValue: Double
        if texts.isEmpty {
            scoreValue = 0.7 * density + 0.3 * energy
            reasons.append("no transcript text: scored on speech times and scenes only")
        } else {
            scoreValue = 0.5 * density + 0.25 * energy + 0.25 * min(1, Double(hits.count) / 3)
            if !hits.isEmpty { reasons.append("hook words: " + Array(Set(hits)).sorted().joined(separator: ", ")) }
        }
        var counts = [String: Int]()
        for word in words where word.count > 3 && !stopwords.contains(word) { counts[word, default: 0] += 1 }
        let tags = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(3).map(\.key)
        let summaryText = texts.joined(separator: " ")
        let summary = summaryText.isEmpty
            ? "No transcript text; \(Int(density * 100))% speech" : String(summaryText.prefix(140)) + (summaryText.count > 140 ? "…" : "")
        let layout = density >= 0.5 && cutCount <= max(1, length / 20_000) ? "talking_head" : (cutCount >= 3 ? "dynamic" : "unknown")
        return PlannedClip(
            clipIndex: index, startTimeMs: start, endTimeMs: end, viralityScore: (scoreValue * 1000).rounded() / 1000,
            layoutType: layout, summary: summary, tags: tags, reasons: reasons)
    }
}
