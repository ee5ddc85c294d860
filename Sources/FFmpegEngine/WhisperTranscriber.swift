import Foundation
import Synchronization
import WorkerCore
import WorkerPipeline

/// The built-in speech-to-text: runs the `clipping-worker-whisper` helper (faster-whisper with
/// Whisper tiny.en, or the model of `CLIPPING_WORKER_WHISPER_MODEL`) on the media file and reads
/// the JSON lines it prints as it goes (see `engines/whisper_transcribe.py`):
/// an `info` line (language, duration), one `segment` line per segment with its words, a `done`
/// line. Progress is the end of the last segment over the source's duration.
struct WhisperTranscriber: Sendable {
    /// The launcher's path.
    let helper: String
    /// A CTranslate2 model directory; nil for the packaged English model.
    let model: String?

    /// Whisper tiny.en on one thread needs about 2.2 CPU-seconds per minute of audio here; the
    /// limit is a full minute plus the source's own length, so only a stuck helper reaches it.
    static func timeLimit(durationMs: Int) -> Duration { .seconds(60) + .milliseconds(durationMs) }

    /// One line of the helper's output.
    private struct Line: Decodable {
        struct Word: Decodable {
            var start: Double
            var end: Double
            var word: String
            var probability: Double?
        }
        var type: String
        var language: String?
        var start: Double?
        var end: Double?
        var text: String?
        var words: [Word]?
    }

    /// Transcribes `path`.
    /// - Parameters:
    ///   - durationMs: the source's length, for progress and the time limit.
    ///   - progress: 0–1, called as segments arrive.
    /// - Throws: ``PipelineError`` `transcription_failed` when the helper fails or prints nothing
    ///   usable, `timeout` past ``timeLimit(durationMs:)``.
    func transcribe(_ path: String, durationMs: Int, progress: @escaping @Sendable (Double) async -> Void) async throws
        -> Transcript
    {
        let collected = Mutex<(language: String?, segments: [Transcript.Segment], done: Bool)>((nil, [], false))
        let (updates, feed) = AsyncStream.makeStream(of: Double.self, bufferingPolicy: .bufferingNewest(1))
        let onLine: @Sendable (Substring) -> Void = { text in
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(text.utf8)) else { return }
            let ms = { (seconds: Double) in max(0, Int((seconds * 1000).rounded())) }
            switch line.type {
            case "info": collected.withLock { $0.language = line.language }
            case "segment":
                guard let start = line.start, let end = line.end, end > start else { return }
                let words = (line.words ?? []).filter { $0.end >= $0.start && !$0.word.isEmpty }.map {
                    Transcript.Word(startMs: ms($0.start), endMs: ms($0.end), word: $0.word, probability: $0.probability)
                }
                let segment = Transcript.Segment(
                    startMs: ms(start), endMs: ms(end), text: line.text, words: words.isEmpty ? nil : words)
                collected.withLock { $0.segments.append(segment) }
                if durationMs > 0 { feed.yield(min(1, Double(ms(end)) / Double(durationMs))) }
            case "done": collected.withLock { $0.done = true }
            default: break
            }
        }
        let arguments = (model.map { ["--model", $0] } ?? []) + [path]
        let output = try await withThrowingTaskGroup(of: Subprocess.Output?.self) { group in
            group.addTask {
                for await fraction in updates { await progress(fraction) }
                return nil
            }
            group.addTask {
                defer { feed.finish() }
                return try await Subprocess.run(
                    helper, arguments, timeLimit: Self.timeLimit(durationMs: durationMs), onLine: onLine)
            }
            var result: Subprocess.Output?
            for try await value in group where value != nil { result = value }
            return result
        }
        let result = collected.withLock { $0 }
        guard let output, output.status == 0, result.done else {
            throw PipelineError(
                .transcriptionFailed, "The built-in speech-to-text failed",
                detail: "exit \(output?.status ?? -1): \(String(output?.stderrText.suffix(300) ?? ""))")
        }
        return Transcript(source: TranscriptSource.whisper.rawValue, language: result.language, segments: result.segments)
    }
}
