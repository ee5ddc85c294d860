import CurlTransport
import FFmpegEngine
import Foundation
import Logging
import OutboxSQLite
import ServiceLifecycle
import Testing
import WebhookCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport
import WorkerCore
import WorkerPipeline

/// The ffmpeg engine on the committed sample video, checked with ffprobe.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FFmpegEngineTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    struct Finished {
        var job: JobRecord
        var output: JobOutput?
        var directory: String
        var webhooks: [ScriptedHTTPServer.Request]
    }

    /// Runs one job through the real runner with the ffmpeg engine.
    func runJob(
        _ body: String, mediaDirectory: String = fixtures, storage: ((CurlHTTPClient) -> any OutputStorage)? = nil,
        engine chosen: FFmpegMediaEngine? = nil
    ) async throws -> Finished {
        let engine = try #require(chosen ?? FFmpegMediaEngine())
        let directory = NSTemporaryDirectory() + "ffmpeg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let receiver = try await ScriptedHTTPServer.start { _ in .noContent }
        let outbox = try SQLiteOutboxStore(path: directory + "/outbox.sqlite")
        let jobs = SQLiteJobStore(outbox: outbox)
        var finished: Finished?
        let configuration = CurlClientConfiguration(networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            var dispatcherConfiguration = DispatcherConfiguration()
            dispatcherConfiguration.progressMinInterval = .zero
            let dispatcher = WebhookDispatcher(
                store: outbox, sender: client, clock: SystemClock(), signer: WebhookSigner(secrets: [WebhookSecret.generate()]),
                configuration: dispatcherConfiguration, logger: Self.logger)
            let runner = PipelineRunner(
                jobs: jobs, publisher: DispatchingJobEvents(jobs: jobs, dispatcher: dispatcher, clock: SystemClock()),
                clock: SystemClock(), engine: engine,
                downloader: MediaDownloader(client: client, localMediaDirectory: mediaDirectory),
                configuration: .init(
                    mediaDirectory: directory + "/media", workDirectory: directory + "/work",
                    storage: storage?(client) ?? LocalOutputStorage(mediaDirectory: directory + "/media", mediaBaseURL: "http://127.0.0.1:1/media/")),
                logger: Self.logger)
            let group = ServiceGroup(configuration: .init(services: [dispatcher, runner], logger: Self.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let validator = JobRequestValidator(
                    networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]), localMediaDirectory: mediaDirectory)
                let text = body.replacingOccurrences(of: "CALLBACK", with: receiver.url("/hook"))
                let spec = try validator.validate(body: Array(text.utf8)).get()
                let job = try await jobs.create(spec, idempotencyKey: nil, requestDigest: text, maxQueued: nil, at: SystemClock().now).job
                await runner.enqueue(job.id)
                let began = ContinuousClock.now
                while ContinuousClock.now - began < .seconds(150) {
                    if receiver.received.values.contains(where: { ["job.completed", "job.failed"].contains($0.header("x-webhook-event") ?? "") }) {
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                // The work directory goes once the terminal event was awaited.
                while FileManager.default.fileExists(atPath: directory + "/work/\(job.id)"), ContinuousClock.now - began < .seconds(160) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                let record = try #require(try await jobs.job(job.id))
                let output = record.outputJSON.flatMap { try? JSONDecoder().decode(JobOutput.self, from: Data($0.utf8)) }
                finished = Finished(job: record, output: output, directory: directory, webhooks: receiver.received.values)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        outbox.close()
        try await receiver.shutdown()
        return try #require(finished)
    }

    struct Probe: Decodable {
        struct Stream: Decodable {
            var codec_type: String
            var codec_name: String
            var width: Int?
            var height: Int?
        }
        struct Format: Decodable { var duration: String }
        var streams: [Stream]
        var format: Format
    }

    func probe(_ path: String) async throws -> Probe {
        let data = try await EngineTestSupport.run(
            "/usr/bin/ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path])
        return try JSONDecoder().decode(Probe.self, from: data)
    }

    /// The bottom quarter of a frame, 64×16 grey pixels.
    func bottomBand(_ path: String, at seconds: Double) async throws -> (bytes: [UInt8], diagnostics: String) {
        let data = try await EngineTestSupport.run(
            "/usr/bin/ffmpeg",
            ["-v", "error", "-ss", String(seconds), "-i", path, "-frames:v", "1",
             "-vf", "crop=iw:ih/4:0:ih*3/4,scale=64:16,format=gray", "-f", "rawvideo", "-"])
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        return (Array(data), "file \(size) bytes")
    }

    @Test func rendersClipsForTheTargetFrameWithCaptions() async throws {
        let result = try await runJob("""
            {"video_url": "file://\(Self.fixtures)/sample.mp4", "callback_url": "CALLBACK", "max_clips": 3,
             "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 12, "target_platform": "tiktok"}
            """)
        #expect(result.job.status == .completed, "\(result.job.error ?? "")")
        let output = try #require(result.output)
        #expect(output.engine == "ffmpeg")
        #expect(output.sourceVideoTitle == "Clipping Worker Sample")
        #expect(abs((output.sourceVideoDurationSeconds ?? 0) - 40.4) < 0.5)
        #expect(output.clips.count == 3)
        var previousEnd = 0
        for clip in output.clips {
            #expect(clip.startTimeMs >= previousEnd)
            previousEnd = clip.endTimeMs
            #expect((0...1).contains(clip.viralityScore))
            let file = result.directory + "/media/\(result.job.id)/clip_\(clip.clipIndex).mp4"
            let probe = try await probe(file)
            let video = try #require(probe.streams.first { $0.codec_type == "video" })
            #expect(video.codec_name == "h264" && video.width == 1080 && video.height == 1920)
            #expect(probe.streams.contains { $0.codec_type == "audio" && $0.codec_name == "aac" })
            let seconds = Double(probe.format.duration) ?? 0
            #expect(seconds >= 4.8 && seconds <= 12.5, "clip \(clip.clipIndex) lasts \(seconds) s")
            #expect(abs(seconds * 1000 - Double(clip.durationMs)) < 600)
        }
        // The transcript came from the sidecar .srt, with words; the plan matches the output.
        let transcriptData = try Data(contentsOf: URL(fileURLWithPath: result.directory + "/media/\(result.job.id)/transcript.json"))
        let transcript = try #require(try JSONSerialization.jsonObject(with: transcriptData) as? [String: Any])
        #expect(transcript["source"] as? String == "sidecar")
        #expect((transcript["segments"] as? [[String: Any]])?.count == 8)
        let planData = try Data(contentsOf: URL(fileURLWithPath: result.directory + "/media/\(result.job.id)/plan.json"))
        let plan = try #require((try JSONSerialization.jsonObject(with: planData) as? [String: Any])?["clips"] as? [[String: Any]])
        #expect(plan.map { $0["start_time_ms"] as? Int } == output.clips.map(\.startTimeMs))
        #expect(plan.allSatisfy { ($0["reasons"] as? [String])?.isEmpty == false })
        #expect(output.clips.contains { !$0.tags.isEmpty && !$0.summary.hasPrefix("No transcript") })
        // The job.completed payload carries the same output; progress named each clip.
        let completed = try #require(result.webhooks.last { $0.header("x-webhook-event") == "job.completed" })
        struct Payload: Decodable { var output: JobOutput }
        #expect(try JSONDecoder().decode(Payload.self, from: Data(completed.body)).output == output)
        for index in 1...3 {
            #expect(result.webhooks.contains { String(decoding: $0.body, as: UTF8.self).contains("Rendering clip \(index)/3...") })
        }
    }

    @Test func captionsAreBurnedOnlyWhenAsked() async throws {
        func job(_ captions: Bool) -> String {
            """
            {"video_url": "file://\(Self.fixtures)/sample.mp4", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 6, "max_clip_duration_seconds": 8, "target_platform": "youtube",
             "include_captions": \(captions)}
            """
        }
        let plain = try await runJob(job(false))
        let captioned = try await runJob(job(true))
        let plainClip = plain.directory + "/media/\(plain.job.id)/clip_1.mp4"
        let captionedClip = captioned.directory + "/media/\(captioned.job.id)/clip_1.mp4"
        let video = try #require(try await probe(plainClip).streams.first { $0.codec_type == "video" })
        #expect(video.width == 1920 && video.height == 1080)
        #expect(plain.output?.clips.first?.startTimeMs == captioned.output?.clips.first?.startTimeMs)
        let (a, aInfo) = try await bottomBand(plainClip, at: 1.5)
        let (b, bInfo) = try await bottomBand(captionedClip, at: 1.5)
        #expect(a.count == 1024 && b.count == 1024, "plain: \(aInfo); captioned: \(bInfo)")
        let difference = zip(a, b).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / max(1, a.count)
        #expect(difference > 3, "mean difference \(difference) in the caption band")
    }

    @Test func aFailingFaceHelperLeavesTheCentreCropAndSaysSo() async throws {
        // A "helper" that reads nothing and fails: ffmpeg's pipe breaks, the clip is still made.
        let engine = try #require(FFmpegMediaEngine(helpers: EngineHelpers(faces: "/bin/false")))
        let result = try await runJob(
            """
            {"video_url": "file://\(Self.fixtures)/speaker-left.mp4", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 8, "target_platform": "tiktok"}
            """, engine: engine)
        #expect(result.job.status == .completed, "\(result.job.error ?? "")")
        let planData = try Data(contentsOf: URL(fileURLWithPath: result.directory + "/media/\(result.job.id)/plan.json"))
        let plan = try #require((try JSONSerialization.jsonObject(with: planData) as? [String: Any])?["clips"] as? [[String: Any]])
        let reasons = try #require(plan.first?["reasons"] as? [String])
        #expect(reasons.contains("framing: centre crop (face detection failed: Face detection failed)"), "\(reasons)")
    }

    @Test(arguments: ["text", "empty", "audio", "corrupt"])
    func badMediaFailsTheJobCleanly(kind: String) async throws {
        let media = NSTemporaryDirectory() + "bad-media-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
        let path = media + "/input.mp4"
        switch kind {
        case "text": try Data("this is not a video\n".utf8).write(to: URL(fileURLWithPath: path))
        case "empty": _ = FileManager.default.createFile(atPath: path, contents: Data())
        case "audio":
            _ = try await EngineTestSupport.run(
                "/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac", "-f", "mp4", path])
        default:
            let sample = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/sample.mp4"))
            try sample.prefix(3000).write(to: URL(fileURLWithPath: path))
        }
        let result = try await runJob(#"{"video_url": "file://\#(path)", "callback_url": "CALLBACK"}"#, mediaDirectory: media)
        #expect(result.job.status == .failed)
        let expected = ["text": "not a readable video", "empty": "empty", "audio": "no video stream", "corrupt": "not a readable video"][kind]!
        #expect(result.job.error?.contains(expected) == true, "\(result.job.error ?? "")")
        let failed = try #require(result.webhooks.last { $0.header("x-webhook-event") == "job.failed" })
        #expect(String(decoding: failed.body, as: UTF8.self).contains(expected))
        // No leftovers: neither work files nor partial outputs.
        #expect(!FileManager.default.fileExists(atPath: result.directory + "/work/\(result.job.id)"))
        #expect(!FileManager.default.fileExists(atPath: result.directory + "/media/\(result.job.id)"))
    }

    @Test func uploadsToS3WhenConfigured() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let signing = AWSSigV4(region: "us-east-1", accessKeyID: "AKIATEST", secretAccessKey: "secret")
        let bucket = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request("PUT", url: moto.endpoint + "/clips", body: [], signing: signing)
        }
        #expect(bucket.status == 200)
        let result = try await runJob(
            """
            {"video_url": "file://\(Self.fixtures)/sample.mp4", "callback_url": "CALLBACK", "max_clips": 1,
             "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 8}
            """,
            storage: { client in
                S3OutputStorage(client: client, endpoint: moto.endpoint, region: "us-east-1", bucket: "clips",
                                accessKeyID: "AKIATEST", secretAccessKey: "secret")
            })
        #expect(result.job.status == .completed, "\(result.job.error ?? "")")
        let output = try #require(result.output)
        let clipURL = try #require(output.clips.first?.s3URL)
        #expect(clipURL == moto.endpoint + "/clips/\(result.job.id)/clip_1.mp4")
        #expect(output.planURL == moto.endpoint + "/clips/\(result.job.id)/plan.json")
        // Nothing stays in the local media directory.
        #expect(!FileManager.default.fileExists(atPath: result.directory + "/media/\(result.job.id)/clip_1.mp4"))
        let downloaded = NSTemporaryDirectory() + "from-s3-\(UUID().uuidString).mp4"
        try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            let response = try await client.request("GET", url: clipURL, maxBodyBytes: 50 << 20, signing: signing)
            #expect(response.status == 200)
            try Data(response.body).write(to: URL(fileURLWithPath: downloaded))
        }
        let video = try #require(try await probe(downloaded).streams.first { $0.codec_type == "video" })
        #expect(video.codec_name == "h264" && video.width == 1080 && video.height == 1920)
    }
}
