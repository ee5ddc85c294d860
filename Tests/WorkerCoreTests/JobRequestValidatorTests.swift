import Foundation
import Testing
import WebhookCore
import WorkerCore

struct JobRequestValidatorTests {
    static let mediaDirectory: String = {
        let path = NSTemporaryDirectory() + "media-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path + "/inner", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/inner/clip.mp4", contents: Data([0, 0, 0]))
        _ = FileManager.default.createFile(atPath: NSTemporaryDirectory() + "outside-\(UUID().uuidString).mp4", contents: Data([1]))
        return path
    }()

    let validator = JobRequestValidator(networkPolicy: NetworkPolicy(), localMediaDirectory: mediaDirectory)

    func validate(_ json: String) -> Result<JobSpec, APIError> {
        validator.validate(body: Array(json.utf8))
    }

    @Test func minimalRequestGetsTheDefaults() throws {
        let spec = try validate(#"{"video_url": "https://videos.example.com/a.mp4", "unknown": [1, 2]}"#).get()
        #expect(spec.videoURL == "https://videos.example.com/a.mp4")
        #expect(spec.callbackURL == nil)
        #expect(spec.maxClips == 5)
        #expect(spec.minClipDurationSeconds == 15)
        #expect(spec.maxClipDurationSeconds == 90)
        #expect(spec.durationRanges.isEmpty)
        #expect(spec.targetPlatform == .tiktok)
        #expect(spec.includeCaptions)
        #expect(spec.captionStyleJSON == nil)
    }

    @Test func fullRequest() throws {
        let spec = try validate("""
            {"video_url": "file://\(Self.mediaDirectory)/inner/clip.mp4", "callback_url": "https://hooks.example.com/x?t=1",
             "external_job_id": "ext-1", "owner_user_id": "user-9", "max_clips": 20, "min_clip_duration_seconds": 1,
             "max_clip_duration_seconds": 600, "duration_ranges": ["15-30", " 30 - 60 "], "target_platform": "youtube",
             "include_captions": false, "caption_style": {"font": "Inter", "size": 48}}
            """).get()
        #expect(spec.maxClips == 20)
        #expect(spec.durationRanges.map(\.description) == ["15-30", "30-60"])
        #expect(spec.targetPlatform == .youtube)
        #expect(!spec.includeCaptions)
        #expect(spec.captionStyleJSON == #"{"font":"Inter","size":48}"#)
        #expect(spec.externalJobID == "ext-1")
    }

    @Test func nullCountsAsAbsent() throws {
        let spec = try validate(#"{"video_url": "https://e.com/a.mp4", "callback_url": null, "max_clips": null}"#).get()
        #expect(spec.callbackURL == nil && spec.maxClips == 5)
    }

    static let badInputs: [(String, String, String, String)] = [
        // (body, status code name, field, message)
        ("not json", "invalid_json", "", "the request body is not valid JSON"),
        ("[1,2]", "invalid_request", "", "the request body must be a JSON object"),
        ("{}", "invalid_request", "video_url", "video_url is required"),
        (#"{"video_url": 42}"#, "invalid_request", "video_url", "video_url must be a string, not a number"),
        (#"{"video_url": "ftp://e.com/a"}"#, "invalid_request", "video_url", "video_url must be an http(s) URL"),
        (#"{"video_url": "http://10.0.0.5/a.mp4"}"#, "invalid_request", "video_url", "video_url must not point to 10.0.0.5, a private address"),
        (#"{"video_url": "file:///etc/passwd"}"#, "invalid_request", "video_url", "video_url must name a file under the local media directory"),
        (#"{"video_url": "https://e.com/a", "callback_url": "http://169.254.169.254/latest"}"#, "invalid_request", "callback_url", "callback_url must not point to 169.254.169.254, a link-local address"),
        (#"{"video_url": "https://e.com/a", "callback_url": "https://u:p@e.com/h"}"#, "invalid_request", "callback_url", "callback_url must not carry user info"),
        (#"{"video_url": "https://e.com/a", "callback_url": "http://localhost:9000/h"}"#, "invalid_request", "callback_url", "callback_url must not point to localhost"),
        (#"{"video_url": "https://e.com/a", "callback_url": "javascript:alert(1)"}"#, "invalid_request", "callback_url", "callback_url must be an http(s) URL"),
        (#"{"video_url": "https://e.com/a", "external_job_id": 7}"#, "invalid_request", "external_job_id", "external_job_id must be a string, not a number"),
        (#"{"video_url": "https://e.com/a", "owner_user_id": "\#(String(repeating: "x", count: 257))"}"#, "invalid_request", "owner_user_id", "owner_user_id must be at most 256 characters"),
        (#"{"video_url": "https://e.com/a", "max_clips": 0}"#, "invalid_request", "max_clips", "max_clips must be between 1 and 20"),
        (#"{"video_url": "https://e.com/a", "max_clips": 21}"#, "invalid_request", "max_clips", "max_clips must be between 1 and 20"),
        (#"{"video_url": "https://e.com/a", "max_clips": 2.5}"#, "invalid_request", "max_clips", "max_clips must be an integer"),
        (#"{"video_url": "https://e.com/a", "max_clips": "5"}"#, "invalid_request", "max_clips", "max_clips must be an integer"),
        (#"{"video_url": "https://e.com/a", "min_clip_duration_seconds": 0}"#, "invalid_request", "min_clip_duration_seconds", "min_clip_duration_seconds must be between 1 and 600"),
        (#"{"video_url": "https://e.com/a", "max_clip_duration_seconds": 601}"#, "invalid_request", "max_clip_duration_seconds", "max_clip_duration_seconds must be between 1 and 600"),
        (#"{"video_url": "https://e.com/a", "min_clip_duration_seconds": 60, "max_clip_duration_seconds": 30}"#, "invalid_request", "min_clip_duration_seconds", "min_clip_duration_seconds must not exceed max_clip_duration_seconds (30)"),
        (#"{"video_url": "https://e.com/a", "duration_ranges": "15-30"}"#, "invalid_request", "duration_ranges", #"duration_ranges must be an array of strings like "15-30""#),
        (#"{"video_url": "https://e.com/a", "duration_ranges": ["30-15"]}"#, "invalid_request", "duration_ranges", #"duration_ranges entries must be strings like "15-30" (seconds 1–600, lower ≤ upper)"#),
        (#"{"video_url": "https://e.com/a", "duration_ranges": ["0-700"]}"#, "invalid_request", "duration_ranges", #"duration_ranges entries must be strings like "15-30" (seconds 1–600, lower ≤ upper)"#),
        (#"{"video_url": "https://e.com/a", "target_platform": "vine"}"#, "invalid_request", "target_platform", "target_platform must be one of tiktok, youtube_shorts, instagram_reels, youtube"),
        (#"{"video_url": "https://e.com/a", "include_captions": "yes"}"#, "invalid_request", "include_captions", "include_captions must be a boolean"),
        (#"{"video_url": "https://e.com/a", "caption_style": "bold"}"#, "invalid_request", "caption_style", "caption_style must be an object"),
    ]

    @Test(arguments: badInputs)
    func rejects(body: String, code: String, field: String, message: String) {
        guard case .failure(let error) = validate(body) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(error.status == 400)
        #expect(error.code == code)
        #expect(error.field == (field.isEmpty ? nil : field))
        #expect(error.message == message)
    }

    @Test func fileURLsNeedTheMediaDirectoryAndStayInsideIt() throws {
        let open = JobRequestValidator(networkPolicy: NetworkPolicy(), localMediaDirectory: nil)
        guard case .failure(let error) = open.validate(body: Array(#"{"video_url": "file:///tmp/a.mp4"}"#.utf8)) else {
            Issue.record("accepted a file URL without a media directory")
            return
        }
        #expect(error.message.contains("CLIPPING_WORKER_LOCAL_MEDIA_DIR"))
        let escape = "file://\(Self.mediaDirectory)/inner/../../\(URL(fileURLWithPath: Self.mediaDirectory).lastPathComponent)-x/clip.mp4"
        #expect((try? validate(#"{"video_url": "\#(escape)"}"#).get()) == nil)
        #expect((try? validate(#"{"video_url": "file://\#(Self.mediaDirectory)/inner/missing.mp4"}"#).get()) == nil)
        #expect((try? validate(#"{"video_url": "file://\#(Self.mediaDirectory)/inner"}"#).get()) == nil)
        // A symbolic link inside the directory that points outside it is refused too.
        let link = Self.mediaDirectory + "/link.mp4"
        try? FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/etc/hostname")
        #expect((try? validate(#"{"video_url": "file://\#(link)"}"#).get()) == nil)
    }

    @Test func allowedNetworksOpenPrivateCallbacks() throws {
        let policy = NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!])
        let validator = JobRequestValidator(networkPolicy: policy, localMediaDirectory: nil)
        let spec = try validator.validate(body: Array(#"{"video_url": "http://127.0.0.1:9/v.mp4", "callback_url": "http://127.0.0.1:9000/h"}"#.utf8)).get()
        #expect(spec.callbackURL == "http://127.0.0.1:9000/h")
    }
}
