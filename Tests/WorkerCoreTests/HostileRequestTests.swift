import Testing
import WebhookCore
import WorkerCore

/// Bodies a hostile or careless client sends (issue "Hostile input at every boundary"): each row
/// was accepted before, or answered with a status that let a bypass through.
struct HostileRequestTests {
    let validator = JobRequestValidator(networkPolicy: NetworkPolicy(), localMediaDirectory: nil)

    static let manyMarks = "e" + String(repeating: "\u{301}", count: 300)  // one character, 601 bytes

    @Test(arguments: [
        // Duplicate keys: the first no longer wins silently (a validator in front of us that keeps
        // the last one would read another URL than we do).
        (#"{"video_url": "https://e.com/a", "video_url": "http://10.0.0.1/"}"#, "invalid_request", "video_url",
         "video_url appears more than once"),
        (#"{"video_url": "https://e.com/a", "callback_url": "https://ok.example/h", "callback_url": "http://169.254.169.254/"}"#,
         "invalid_request", "callback_url", "callback_url appears more than once"),
        (#"{"video_url": "https://e.com/a", "\u0076ideo_url": "https://e.com/b"}"#, "invalid_request", "video_url",
         "video_url appears more than once"),
        (#"{"video_url": "https://e.com/a", "caption_style": {"font": "A", "font": "B"}}"#, "invalid_request", "caption_style",
         "caption_style.font appears more than once"),
        (#"{"video_url": "https://e.com/a", "extra": 1, "extra": 2}"#, "invalid_request", "extra", "extra appears more than once"),
        // 256 characters, but also at most 1,024 bytes.
        (#"{"video_url": "https://e.com/a", "owner_user_id": "\#(manyMarks)\#(manyMarks)"}"#, "invalid_request", "owner_user_id",
         "owner_user_id must be at most 1024 bytes of UTF-8"),
        (#"{"video_url": "https://e.com/a", "external_job_id": "\#(String(repeating: "👩‍👩‍👧‍👦", count: 200))"}"#, "invalid_request",
         "external_job_id", "external_job_id must be at most 1024 bytes of UTF-8"),
        // Nesting that would only cost stack.
        (#"{"video_url": "https://e.com/a", "caption_style": {"x": \#(String(repeating: "[", count: 100))\#(String(repeating: "]", count: 100))}}"#,
         "invalid_json", "", "the request body is nested too deeply"),
        // URLs libcurl refuses are a 400 now, not a job that fails with invalid_url.
        (#"{"video_url": "https://e.com/a\r\nX-Injected: 1"}"#, "invalid_request", "video_url",
         "video_url must not contain spaces or control characters"),
        (#"{"video_url": "https://e.com/a", "callback_url": "https://e.com/h b"}"#, "invalid_request", "callback_url",
         "callback_url must not contain spaces or control characters"),
        (#"{"video_url": "https://e.com/\#(String(repeating: "v", count: 2040))"}"#, "invalid_request", "video_url",
         "video_url must be at most 2048 bytes"),
        (#"{"video_url": "file:///media/a b.mp4"}"#, "invalid_request", "video_url",
         "video_url must not contain spaces or control characters"),
        (#"{"video_url": "https://e.com/a", "callback_url": "http://0x7f000001:9000/h"}"#, "invalid_request", "callback_url",
         "callback_url must not point to 127.0.0.1, a loopback address"),
        (#"{"video_url": "http://0/v.mp4"}"#, "invalid_request", "video_url", "video_url must not point to 0.0.0.0, an unspecified address"),
    ])
    func refuses(body: String, code: String, field: String, message: String) {
        guard case .failure(let error) = validator.validate(body: Array(body.utf8)) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(error.status == 400)
        #expect(error.code == code)
        #expect(error.field == (field.isEmpty ? nil : field))
        #expect(error.message == message)
    }

    @Test(arguments: [
        String(repeating: "é", count: 256), String(repeating: "😀", count: 256), "plain-id-42",
    ])
    func acceptsLongIdentifiersWithinTheBytes(identifier: String) throws {
        let body = #"{"video_url": "https://e.com/a", "external_job_id": "\#(identifier)"}"#
        #expect(try validator.validate(body: Array(body.utf8)).get().externalJobID == identifier)
    }

    /// `Idempotency-Key` compares the request as parsed: these bodies are one request.
    @Test(arguments: [
        #"{ "max_clips" : 3 , "video_url" : "https:\/\/e.com\/a" }"#,
        #"{"max_clips":3,"video_url":"https://e.com/a","callback_url":null,"external_job_id":null,"caption_style":null}"#,
        "{\n\t\"video_url\": \"https://e.com/\\u0061\",\n\t\"max_clips\": 3.0,\n\t\"include_captions\": true\n}",
    ])
    func sameRequestSameCanonicalForm(body: String) throws {
        let reference = try validator.validate(body: Array(#"{"video_url":"https://e.com/a","max_clips":3}"#.utf8)).get()
        let spec = try validator.validate(body: Array(body.utf8)).get()
        #expect(spec.canonicalJSON == reference.canonicalJSON)
    }

    @Test(arguments: [
        #"{"video_url":"https://e.com/a","max_clips":4}"#, #"{"video_url":"https://e.com/b","max_clips":3}"#,
        #"{"video_url":"https://e.com/a","max_clips":3,"caption_style":{"font":"A"}}"#,
    ])
    func otherRequestOtherCanonicalForm(body: String) throws {
        let reference = try validator.validate(body: Array(#"{"video_url":"https://e.com/a","max_clips":3}"#.utf8)).get()
        #expect(try validator.validate(body: Array(body.utf8)).get().canonicalJSON != reference.canonicalJSON)
    }

    /// The lookup step: names resolved at submission, the callback's left alone behind a proxy.
    @Test(arguments: [
        (false, #"{"video_url": "https://inside.example/v.mp4"}"#, "video_url must not point to inside.example, which resolves to 10.1.2.3, a private address"),
        (false, #"{"video_url": "https://e.com/v.mp4", "callback_url": "https://inside.example/h"}"#, "callback_url must not point to inside.example, which resolves to 10.1.2.3, a private address"),
        (false, #"{"video_url": "https://e.com/v.mp4", "callback_url": "https://nowhere.example/h"}"#, "callback_url names a host that does not exist (nowhere.example)"),
        (true, #"{"video_url": "https://e.com/v.mp4", "callback_url": "https://inside.example/h"}"#, nil),
        (true, #"{"video_url": "https://inside.example/v.mp4", "callback_url": "https://e.com/h"}"#, "video_url must not point to inside.example, which resolves to 10.1.2.3, a private address"),
        (false, #"{"video_url": "https://e.com/v.mp4", "callback_url": "https://e.com/h"}"#, nil),
    ] as [(Bool, String, String?)])
    func checksResolvedHosts(proxy: Bool, body: String, message: String?) async throws {
        let validator = JobRequestValidator(
            networkPolicy: NetworkPolicy(), localMediaDirectory: nil, resolver: TableResolver(), callbacksUseProxy: proxy)
        let spec = try validator.validate(body: Array(body.utf8)).get()
        let error = await validator.checkHosts(of: spec)
        #expect(error?.message == message)
        #expect(error.map { $0.status } ?? 400 == 400)
    }

    /// A fixed table: `inside.example` is private, `nowhere.example` does not exist, the rest is public.
    struct TableResolver: HostResolver {
        func resolve(_ name: String) async -> HostResolution {
            switch name {
            case "inside.example": .addresses([IPAddress("10.1.2.3")!])
            case "nowhere.example": .notFound
            default: .addresses([IPAddress("93.184.215.14")!])
            }
        }
    }
}
