import Foundation
import WorkerCore
import WorkerPipeline

/// Finds what is said, in this order of preference under `auto` (SPEC section 3,
/// `CLIPPING_WORKER_TRANSCRIBER`):
/// 1. `CLIPPING_WORKER_TRANSCRIBE_COMMAND`: the command runs with the media path as its last
///    argument and prints SRT, WebVTT or transcript JSON on stdout (e.g. a whisper.cpp CLI).
/// 2. A subtitle stream inside the video.
/// 3. A sidecar `.srt` or `.vtt` beside a `file://` video (same name, other extension).
/// 4. The built-in speech-to-text (``WhisperTranscriber``), when its helper is installed.
/// 5. Speech segments from ffmpeg's `silencedetect` (times only, no words).
///
/// A forced source is used alone: a video without it fails the job with a sentence saying so
/// (`command` and `whisper` are checked when `serve` starts).
struct Transcriber: Sendable {
    let ffmpeg: String
    /// The command line, split on spaces; the media path is appended.
    let command: [String]?
    /// `CLIPPING_WORKER_TRANSCRIBER`.
    var source: TranscriptSource = .auto
    /// The built-in speech-to-text, when installed.
    var whisper: WhisperTranscriber?

    /// Transcribes the downloaded media at `path`.
    /// - Parameters:
    ///   - originalURL: the job's `video_url` (a sidecar is looked for only beside `file://` videos).
    ///   - progress: 0–1 through the stage, for sources that take a while (speech-to-text).
    /// - Throws: ``PipelineError`` `transcription_failed` when the chosen source fails or a forced
    ///   one is missing.
    func transcribe(
        _ path: String, info: MediaInfo, originalURL: String, progress: @escaping @Sendable (Double) async -> Void = { _ in }
    ) async throws -> Transcript {
        func wants(_ candidate: TranscriptSource) -> Bool { source == .auto || source == candidate }
        if wants(.command), let command, let executable = command.first {
            let resolved = executable.contains("/") ? executable : (Subprocess.which(executable) ?? executable)
            let output = try await Subprocess.run(
                resolved, Array(command.dropFirst()) + [path],
                timeLimit: Subprocess.Limit.transcribeCommand(durationMs: info.durationMs))
            guard output.status == 0 else {
                throw PipelineError(
                    .transcriptionFailed, "The transcribe command failed (exit \(output.status))",
                    detail: String(output.stderrText.suffix(200)))
            }
            guard let segments = TranscriptParser.parse(String(decoding: output.stdout, as: UTF8.self)) else {
                throw PipelineError(.transcriptionFailed, "The transcribe command printed no SRT, WebVTT or transcript JSON")
            }
            return Transcript(source: "command", language: nil, segments: segments)
        }
        if source == .command {
            throw PipelineError(.transcriptionFailed, "The worker is set to transcribe with a command, but none is configured")
        }
        if wants(.embedded), info.subtitleStreams > 0 {
            let output = try await Subprocess.run(
                ffmpeg, ["-v", "error", "-i", path, "-map", "0:s:0", "-f", "srt", "-"],
                timeLimit: Subprocess.Limit.pass(durationMs: info.durationMs))
            if output.status == 0, let segments = TranscriptParser.parse(String(decoding: output.stdout, as: UTF8.self)) {
                return Transcript(source: "embedded", language: nil, segments: segments)
            }
        }
        if source == .embedded {
            throw PipelineError(
                .transcriptionFailed, "The video has no readable subtitle stream (the worker is set to use embedded subtitles only)")
        }
        if wants(.sidecar), originalURL.lowercased().hasPrefix("file:") {
            let base = URL(fileURLWithPath: path).deletingPathExtension().path
            for ext in ["srt", "vtt"] {
                if let text = try? String(contentsOfFile: base + "." + ext, encoding: .utf8),
                    let segments = TranscriptParser.parse(text)
                {
                    return Transcript(source: "sidecar", language: nil, segments: segments)
                }
            }
        }
        if source == .sidecar {
            throw PipelineError(
                .transcriptionFailed, "The video has no .srt or .vtt file beside it (the worker is set to use sidecar files only)")
        }
        if wants(.whisper), let whisper {
            // Nothing to hear: an empty transcript from the chosen source, not a failure.
            guard info.hasAudio else { return Transcript(source: "whisper", language: nil, segments: []) }
            var transcript = try await whisper.transcribe(path, durationMs: info.durationMs, progress: progress)
            transcript.segments = WordTiming.refine(transcript.segments, silences: try await silences(path, info: info))
            return transcript
        }
        if source == .whisper {
            throw PipelineError(.transcriptionFailed, "The built-in speech-to-text is not installed on this worker")
        }
        return Transcript(source: "silence", language: nil, segments: try await speechSegments(path, info: info))
    }

    /// Speech = the gaps between silences.
    func speechSegments(_ path: String, info: MediaInfo) async throws -> [Transcript.Segment] {
        guard info.hasAudio else { return [] }
        var segments = [Transcript.Segment]()
        var cursor = 0
        for silence in try await silences(path, info: info) {
            if silence.startMs - cursor >= 200 { segments.append(.init(startMs: cursor, endMs: silence.startMs, text: nil)) }
            cursor = max(cursor, silence.endMs)
        }
        if info.durationMs - cursor >= 200 { segments.append(.init(startMs: cursor, endMs: info.durationMs, text: nil)) }
        return segments
    }

    /// Silences of ffmpeg's `silencedetect`: −35 dB for ≥ 0.4 s, in time order.
    func silences(_ path: String, info: MediaInfo) async throws -> [WordTiming.Silence] {
        guard info.hasAudio else { return [] }
        let output = try await Subprocess.run(
            ffmpeg, ["-hide_banner", "-nostats", "-i", path, "-vn", "-af", "silencedetect=noise=-35dB:d=0.4", "-f", "null", "-"],
            timeLimit: Subprocess.Limit.pass(durationMs: info.durationMs))
        guard output.status == 0 else { throw PipelineError(.transcriptionFailed, "Silence detection failed") }
        var silences = [WordTiming.Silence]()
        var start: Int?
        for line in output.stderrText.split(separator: "\n") {
            if let range = line.range(of: "silence_start: ") {
                start = Double(line[range.upperBound...].prefix { $0 == "." || $0.isNumber || $0 == "-" }).map { max(0, Int($0 * 1000)) }
            } else if let range = line.range(of: "silence_end: "), let begin = start {
                let end = Double(line[range.upperBound...].prefix { $0 == "." || $0.isNumber }).map { Int($0 * 1000) } ?? begin
                silences.append(.init(startMs: begin, endMs: end))
                start = nil
            }
        }
        if let begin = start { silences.append(.init(startMs: begin, endMs: info.durationMs)) }
        return silences
    }
}
