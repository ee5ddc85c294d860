/// Corrects Whisper's word times with the silences ffmpeg hears.
///
/// Whisper's word timestamps come from attention over 20 ms frames and, after a pause, often
/// stretch the first word of a sentence back over the pause: on the sample, "terminal" was
/// given 24.27–25.75 s while the 1.04 s silence 24.31–25.36 s lies inside it, which put the
/// sentence (and its caption) a second early. A word cannot hold a silence of 0.4 s or more, so:
/// - a silence that covers a word's start (begins at most 100 ms after it, ends inside the
///   word) moves the start to the silence's end;
/// - a silence that covers a word's end (begins inside the word, ends at most 100 ms before its
///   end or later) moves the end to the silence's start.
/// Segment times follow their first and last words. Nothing else changes.
enum WordTiming {
    struct Silence: Sendable, Hashable {
        var startMs: Int
        var endMs: Int
    }

    /// Slack for the two kinds of timestamps not lining up exactly.
    static let slackMs = 100

    static func refine(_ segments: [Transcript.Segment], silences: [Silence]) -> [Transcript.Segment] {
        guard !silences.isEmpty else { return segments }
        return segments.map { segment in
            guard let words = segment.words, !words.isEmpty else { return segment }
            var refined = segment
            refined.words = words.map { word in
                var word = word
                for silence in silences where silence.endMs > word.startMs && silence.startMs < word.endMs {
                    if silence.startMs <= word.startMs + slackMs, silence.endMs < word.endMs {
                        word.startMs = silence.endMs
                    } else if silence.startMs > word.startMs, silence.endMs >= word.endMs - slackMs {
                        word.endMs = max(word.startMs + 1, silence.startMs)
                    }
                }
                return word
            }
            if let first = refined.words?.first, let last = refined.words?.last {
                refined.startMs = first.startMs
                refined.endMs = max(first.startMs + 1, last.endMs)
            }
            return refined
        }
    }
}
