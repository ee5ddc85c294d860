import Foundation

/// Word-timed captions, burned in as an ASS subtitle track at the output's own resolution.
///
/// A cue starts at the start of its first word, so no word is shown later than it is spoken;
/// it holds at most two lines of at most 32 characters, broken between words only (a single
/// word longer than a line gets a line of its own), and ends at a sentence end or a pause.
/// It stays up until the next cue, or 0.4 s after its last word when a pause follows.
/// Rendering at `PlayResX`×`PlayResY` = the output frame with `WrapStyle: 2` (no automatic
/// wrapping) keeps libass from breaking lines anywhere else.
struct CaptionTrack: Sendable, Hashable {
    struct Cue: Sendable, Hashable {
        /// Relative to the clip's start.
        var startMs: Int
        var endMs: Int
        var lines: [String]
    }

    static let maxLineCharacters = 32
    static let maxLines = 2
    /// After the last word of a cue followed by a pause.
    static let holdMs = 400

    var cues: [Cue]

    /// The cues of the words spoken in `[startMs, endMs)` of the source.
    init(words: [Transcript.Word], startMs: Int, endMs: Int) {
        let inside = words.filter { $0.endMs > startMs && $0.startMs < endMs }
        var cues = [Cue]()
        var lines = [String]()
        var first: Transcript.Word?
        var last: Transcript.Word?
        func close() {
            guard let begin = first, let end = last, !lines.isEmpty else { return }
            cues.append(Cue(startMs: max(0, begin.startMs - startMs), endMs: min(endMs, end.endMs) - startMs, lines: lines))
            lines = []
            first = nil
        }
        for word in inside {
            let text = word.word.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            if let previous = last, first != nil, word.startMs - previous.endMs >= SpokenWords.pauseMs { close() }
            // A piece Whisper split off a word ("-off", "'s") joins it without a space.
            let glue = (text.first.map { "-'’".contains($0) } ?? false) ? "" : " "
            if lines.isEmpty {
                lines = [text]
            } else if lines[lines.count - 1].count + glue.count + text.count <= Self.maxLineCharacters {
                lines[lines.count - 1] += glue + text
            } else if lines.count < Self.maxLines {
                lines.append(text)
            } else {
                close()
                lines = [text]
            }
            if first == nil { first = word }
            last = word
            if text.last.map({ ".?!".contains($0) }) ?? false { close() }
        }
        close()
        // Each cue stays until the next one starts, unless a pause comes first.
        for index in cues.indices {
            let hold = cues[index].endMs + Self.holdMs
            let next = index + 1 < cues.count ? cues[index + 1].startMs : endMs - startMs
            cues[index].endMs = max(cues[index].startMs + 1, min(next, hold))
        }
        self.cues = cues
    }

    /// The track as an ASS file for a `width`×`height` output.
    func ass(width: Int, height: Int) -> String {
        // 32 characters of bold DejaVu Sans (about 0.63 em each) fit in 90 % of the width at a
        // font size of 1/22 of it: 49 px on 1080 wide; 72 px, capped, on 1920 wide (1/15 of its height).
        let fontSize = min(72, width / 22)
        let margin = height / 10
        var out = """
            [Script Info]
            ScriptType: v4.00+
            PlayResX: \(width)
            PlayResY: \(height)
            WrapStyle: 2
            ScaledBorderAndShadow: yes

            [V4+ Styles]
            Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
            Style: Caption,Sans,\(fontSize),&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,1,0,0,0,100,100,0,0,1,\(max(2, fontSize / 12)),0,2,\(width / 20),\(width / 20),\(margin),1

            [Events]
            Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text

            """
        for cue in cues {
            let text = cue.lines.map(Self.escape).joined(separator: "\\N")
            out += "Dialogue: 0,\(Self.stamp(cue.startMs, up: false)),\(Self.stamp(cue.endMs, up: true)),Caption,,0,0,0,,\(text)\n"
        }
        return out
    }

    /// `H:MM:SS.cc`; starts round down and ends up, so a cue never shows later or shorter.
    static func stamp(_ ms: Int, up: Bool) -> String {
        let centis = up ? (ms + 9) / 10 : ms / 10
        return String(format: "%d:%02d:%02d.%02d", centis / 360_000, centis / 6000 % 60, centis / 100 % 60, centis % 100)
    }

    /// Braces start ASS override blocks and backslashes escapes: spoken text gets neither.
    static func escape(_ text: String) -> String {
        String(text.map { "{}\\".contains($0) ? " " : $0 })
    }
}
