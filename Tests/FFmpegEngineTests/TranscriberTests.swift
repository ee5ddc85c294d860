import Foundation
import Testing

@testable import FFmpegEngine

/// Each transcript source, in order of preference, on real media.
@Suite(.timeLimit(.minutes(1)))
struct TranscriberTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path
    let ffmpeg = "/usr/bin/ffmpeg"

    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "transcribe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func info(_ path: String) async throws -> MediaInfo {
        try await MediaProbe(ffprobe: "/usr/bin/ffprobe").probe(path)
    }

    @Test func commandOutputWins() async throws {
        let directory = try scratch()
        let script = directory + "/transcribe.sh"
        // The contract: the media path comes last; SRT, WebVTT or transcript JSON on stdout.
        try """
            #!/bin/sh
            test -f "$1" || exit 3
            printf 'WEBVTT\\n\\n00:01.000 --> 00:02.500\\n<b>Hello</b> there\\n\\n00:03.000 --> 00:04.000\\nagain\\n'
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let source = Self.fixtures + "/sample.mp4"
        let transcript = try await Transcriber(ffmpeg: ffmpeg, command: [script]).transcribe(
            source, info: try await info(source), originalURL: "file://" + source)
        #expect(transcript.source == "command")
        #expect(transcript.segments == [.init(startMs: 1000, endMs: 2500, text: "Hello there"), .init(startMs: 3000, endMs: 4000, text: "again")])
        let failing = Transcriber(ffmpeg: ffmpeg, command: ["/bin/false"])
        await #expect(throws: (any Error).self) {
            try await failing.transcribe(source, info: try await info(source), originalURL: "file://" + source)
        }
    }

    @Test func embeddedSubtitlesThenSidecarThenSilence() async throws {
        let directory = try scratch()
        // Embedded: the sample with its subtitles muxed in as a mov_text stream.
        let embedded = directory + "/embedded.mp4"
        _ = try await EngineTestSupport.run(
            ffmpeg, ["-v", "error", "-y", "-i", Self.fixtures + "/sample.mp4", "-i", Self.fixtures + "/sample.srt",
                     "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text", embedded])
        let transcriber = Transcriber(ffmpeg: ffmpeg, command: nil)
        let fromStream = try await transcriber.transcribe(
            embedded, info: try await info(embedded), originalURL: "https://e.com/embedded.mp4")
        #expect(fromStream.source == "embedded" && fromStream.segments.count == 8)
        // Sidecar: sample.srt beside a file:// sample.mp4.
        let sample = Self.fixtures + "/sample.mp4"
        let fromSidecar = try await transcriber.transcribe(
            sample, info: try await info(sample), originalURL: "file://" + sample)
        #expect(fromSidecar.source == "sidecar")
        #expect(fromSidecar.segments.first?.text == "Welcome to the clipping worker sample video.")
        // Silence detection: the same video downloaded over http has no sidecar.
        let fromSilence = try await transcriber.transcribe(
            sample, info: try await info(sample), originalURL: "https://e.com/sample.mp4")
        #expect(fromSilence.source == "silence")
        #expect(fromSilence.segments.allSatisfy { $0.text == nil })
        // The eight spoken sentences are found as speech, roughly where the subtitles put them.
        #expect((6...12).contains(fromSilence.segments.count), "\(fromSilence.segments.count) segments")
        let first = try #require(fromSilence.segments.first)
        #expect(abs(first.startMs - 500) < 400)
    }

    @Test func parsesSRTAndJSON() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nOne\r\nline\r\n\r\n2\r\n00:01:00,500 --> 00:01:01,000\r\nTwo\r\n"
        #expect(TranscriptParser.parse(srt) == [.init(startMs: 1000, endMs: 2000, text: "One line"), .init(startMs: 60500, endMs: 61000, text: "Two")])
        #expect(TranscriptParser.parse(#"{"segments": [{"start_ms": 5, "end_ms": 9, "text": "x"}, {"start_ms": 9, "end_ms": 3}]}"#)
            == [.init(startMs: 5, endMs: 9, text: "x")])
        #expect(TranscriptParser.parse("nothing useful here") == nil)
    }
}
