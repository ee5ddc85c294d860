import Foundation
import Testing
import WorkerCore

@testable import FFmpegEngine

/// The engine with its helpers installed, end to end: speaker-aware 9:16 framing, the centre
/// crop without a face, and captions shown while their words are spoken.
@Suite(
    .serialized, .enabled(if: EngineTestSupport.enabled, "engine helpers not installed (scripts/install-engines.sh)"),
    .timeLimit(.minutes(5)))
struct SpeakerFramingTests {
    func engine(_ source: TranscriptSource = .auto) throws -> FFmpegMediaEngine {
        let helpers = EngineTestSupport.helpers
        _ = try #require(helpers.whisper, "run scripts/install-engines.sh")
        _ = try #require(helpers.faces, "run scripts/install-engines.sh")
        return try #require(FFmpegMediaEngine(transcriber: source, helpers: helpers))
    }

    func plan(_ result: FFmpegEngineTests.Finished) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: result.directory + "/media/\(result.job.id)/plan.json"))
        return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["clips"] as? [[String: Any]])
    }

    @Test func theCropFollowsASpeakerLeftOfCentre() async throws {
        let result = try await FFmpegEngineTests().runJob(
            """
            {"video_url": "file://\(EngineTestSupport.fixtures)/speaker-left.mp4", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 12, "target_platform": "tiktok",
             "include_captions": false}
            """, engine: try engine())
        #expect(result.job.status == .completed, "\(result.job.error ?? "")")
        let clip = try #require(result.output?.clips.first)
        #expect(clip.layoutType == "talking_head")
        let reasons = try #require(try plan(result).first?["reasons"] as? [String])
        #expect(reasons.contains { $0.hasPrefix("framing, scene 1") && $0.contains("crop centred on its median centre") }, "\(reasons)")
        #expect(reasons.contains { $0.hasPrefix("layout talking_head") }, "\(reasons)")
        // The face is found again in the rendered 9:16 frame, inside it and near its middle.
        let output = result.directory + "/media/\(result.job.id)/clip_1.mp4"
        let frame = try await EngineTestSupport.grayFrame(output, at: 2, width: 360, height: 640)
        let faces = try await EngineTestSupport.faces(in: frame, width: 360, height: 640)
        let face = try #require(faces.first, "no face in the output frame")
        let centre = Double(face[0]) + Double(face[2]) / 2
        #expect(face[0] >= 0 && face[0] + face[2] <= 360)
        #expect(abs(centre - 180) < 60, "face centre at \(centre) of 360")
        // The control: a blind centre crop of the same moment loses the face.
        let source = EngineTestSupport.fixtures + "/speaker-left.mp4"
        let blind = try await EngineTestSupport.grayFrame(
            source, at: Double(clip.startTimeMs) / 1000 + 2, width: 360, height: 640, filter: "crop=404:720:438:0")
        let blindFaces = try await EngineTestSupport.faces(in: blind, width: 360, height: 640)
        #expect(blindFaces.isEmpty)
    }

    @Test func aVideoWithoutFacesKeepsTheCentreCrop() async throws {
        // ffmpeg's testsrc2 (moving, asymmetric, no face) at 640×360 with a tone.
        let media = NSTemporaryDirectory() + "no-face-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
        let source = media + "/pattern.mp4"
        _ = try await EngineTestSupport.run(
            "/usr/bin/ffmpeg",
            ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=8", "-f", "lavfi", "-i",
             "sine=frequency=440:duration=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", source])
        let result = try await FFmpegEngineTests().runJob(
            """
            {"video_url": "file://\(source)", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 8, "target_platform": "tiktok",
             "include_captions": false}
            """, mediaDirectory: media, engine: try engine())
        #expect(result.job.status == .completed, "\(result.job.error ?? "")")
        let clip = try #require(result.output?.clips.first)
        let reasons = try #require(try plan(result).first?["reasons"] as? [String])
        #expect(reasons.contains { $0.contains("no face in") && $0.hasSuffix("centre crop") }, "\(reasons)")
        #expect(clip.layoutType != "talking_head")
        // The output is the source's centre, not its left part.
        let output = result.directory + "/media/\(result.job.id)/clip_1.mp4"
        let at = 2.0
        let rendered = try await EngineTestSupport.grayFrame(output, at: at, width: 54, height: 96)
        func difference(_ crop: String) async throws -> Int {
            let expected = try await EngineTestSupport.grayFrame(
                source, at: Double(clip.startTimeMs) / 1000 + at, width: 54, height: 96, filter: crop)
            return zip(rendered, expected).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / max(1, rendered.count)
        }
        let centre = try await difference("crop=202:360:218:0")
        let left = try await difference("crop=202:360:0:0")
        #expect(rendered.count == 54 * 96)
        #expect(centre < 12 && centre * 2 < left, "mean difference: centre \(centre), left \(left)")
    }

    @Test func captionsShowWhileTheirWordsAreSpoken() async throws {
        func job(_ captions: Bool) -> String {
            """
            {"video_url": "file://\(EngineTestSupport.fixtures)/sample.mp4", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 8, "max_clip_duration_seconds": 12, "target_platform": "tiktok",
             "include_captions": \(captions)}
            """
        }
        // Forced whisper: the words and their times come from the speech, not the sidecar.
        let plain = try await FFmpegEngineTests().runJob(job(false), engine: try engine(.whisper))
        let captioned = try await FFmpegEngineTests().runJob(job(true), engine: try engine(.whisper))
        let clip = try #require(captioned.output?.clips.first)
        #expect(plain.output?.clips.first?.startTimeMs == clip.startTimeMs)
        let data = try Data(contentsOf: URL(fileURLWithPath: captioned.directory + "/media/\(captioned.job.id)/transcript.json"))
        struct File: Decodable {
            struct Segment: Decodable { var words: [Transcript.Word]? }
            var source: String
            var segments: [Segment]
        }
        let transcript = try JSONDecoder().decode(File.self, from: data)
        #expect(transcript.source == "whisper")
        let words = transcript.segments.flatMap { $0.words ?? [] }.filter {
            $0.startMs >= clip.startTimeMs && $0.endMs <= clip.endTimeMs
        }
        try #require(words.count >= 10)
        /// The caption area (from 75 % to 95 % of the height), 270×96 gray pixels.
        func band(_ result: FFmpegEngineTests.Finished, at ms: Int) async throws -> Data {
            try await EngineTestSupport.grayFrame(
                result.directory + "/media/\(result.job.id)/clip_1.mp4", at: Double(ms) / 1000, width: 270, height: 96,
                filter: "crop=iw:ih/5:0:ih*3/4")
        }
        /// Per mille of the area's pixels that differ by more than 40 gray levels: caption
        /// letters (white, outlined in black), not encoding noise.
        func difference(at ms: Int) async throws -> Int {
            let a = try await band(plain, at: ms)
            let b = try await band(captioned, at: ms)
            // A grab that failed (ffmpeg gave no frame) says nothing about captions: told apart.
            #expect(a.count == 270 * 96 && b.count == 270 * 96, "frame grabs at \(ms) ms: \(a.count) and \(b.count) bytes")
            return zip(a, b).filter { abs(Int($0) - Int($1)) > 40 }.count * 1000 / max(1, a.count)
        }
        // 0.3 s into words spread over the clip: the caption is up (no more than 0.5 s late).
        for word in [words[0], words[words.count / 2], words[words.count - 2]] {
            let at = word.startMs - clip.startTimeMs + 300
            let shown = try await difference(at: at)
            #expect(shown >= 10, "no caption 0.3 s into \"\(word.word)\" (\(at) ms into the clip)")
        }
        // In the middle of a pause of a second or more there is none.
        let pauses = zip(words, words.dropFirst()).filter { $1.startMs - $0.endMs >= 1000 }
        if let (before, after) = pauses.first {
            let at = (before.endMs + after.startMs) / 2 - clip.startTimeMs
            let shown = try await difference(at: at)
            #expect(shown <= 2, "a caption during the pause at \(at) ms")
        }
    }
}
