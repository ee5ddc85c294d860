import FFmpegEngine
import Foundation
import Testing
import WorkerService

/// `CLIPPING_WORKER_TRANSCRIBER` and `CLIPPING_WORKER_WHISPER_MODEL` (SPEC section 3).
struct TranscriberSettingTests {
    @Test func forcedWhisperWithoutTheHelperStopsServeWithOneLineSayingHowToInstall() {
        do {
            _ = try WorkerConfiguration(values: ["CLIPPING_WORKER_TRANSCRIBER": "whisper"], engineHelpers: EngineHelpers())
            Issue.record("a forced whisper source without its helper was accepted")
        } catch {
            #expect(error.variable == "CLIPPING_WORKER_TRANSCRIBER")
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains("scripts/install-engines.sh"), "\(error.description)")
        }
        // With the helper, the same setting is accepted and the log names the one source.
        let installed = EngineHelpers(whisper: "/bin/true")
        let configuration = try? WorkerConfiguration(
            values: ["CLIPPING_WORKER_TRANSCRIBER": "whisper", "CLIPPING_WORKER_ENGINE": "ffmpeg"], engineHelpers: installed)
        #expect(configuration?.transcriber == .whisper)
        #expect(configuration?.transcriptSourcesSummary == "whisper")
    }

    @Test func commandNeedsACommand() throws {
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration(values: ["CLIPPING_WORKER_TRANSCRIBER": "command"], engineHelpers: EngineHelpers())
        }
        let configuration = try WorkerConfiguration(
            values: ["CLIPPING_WORKER_TRANSCRIBER": "command", "CLIPPING_WORKER_TRANSCRIBE_COMMAND": "/bin/cat"],
            engineHelpers: EngineHelpers())
        #expect(configuration.transcriber == .command)
    }

    @Test func autoListsTheSourcesThisHostHas() throws {
        let without = try WorkerConfiguration(values: ["CLIPPING_WORKER_ENGINE": "ffmpeg"], engineHelpers: EngineHelpers())
        #expect(without.transcriptSourcesSummary == "embedded,sidecar,silence")
        #expect(without.framingSummary == "centre")
        let with = try WorkerConfiguration(
            values: ["CLIPPING_WORKER_ENGINE": "ffmpeg", "CLIPPING_WORKER_TRANSCRIBE_COMMAND": "/bin/cat"],
            engineHelpers: EngineHelpers(whisper: "/bin/true", faces: "/bin/true"))
        #expect(with.transcriptSourcesSummary == "command,embedded,sidecar,whisper,silence")
        #expect(with.framingSummary == "faces")
    }

    @Test func whisperModelMustBeAModelDirectory() throws {
        let directory = NSTemporaryDirectory() + "model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration(values: ["CLIPPING_WORKER_WHISPER_MODEL": directory], engineHelpers: EngineHelpers())
        }
        _ = FileManager.default.createFile(atPath: directory + "/model.bin", contents: Data([0]))
        let configuration = try WorkerConfiguration(
            values: ["CLIPPING_WORKER_WHISPER_MODEL": directory], engineHelpers: EngineHelpers())
        #expect(configuration.whisperModel == URL(fileURLWithPath: directory).standardizedFileURL.path)
    }
}
