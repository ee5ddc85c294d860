#if canImport(Glibc)
import Glibc
#endif
import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport
import WorkerService

/// The API under hostile input (issue "Hostile input at every boundary"), against a whole worker
/// over real loopback HTTP. Each row got a 202, a 409, a 401, a 404 or no answer at all before.
@Suite(.timeLimit(.minutes(1)))
struct HostileInputAPITests {
    typealias H = WorkerHarness

    /// Loopback is not allowed here (only a documentation address is), so literal loopback
    /// callbacks are refused as they would be in production.
    static let strict = ["CLIPPING_WORKER_ALLOWED_NETWORKS": "192.0.2.1/32"]
    static let resolver = StaticHostResolver.publicInternet([
        "internal.example": .addresses([IPAddress("10.20.30.40")!]),
        "rebind.example": .addresses([IPAddress("93.184.215.14")!, IPAddress("169.254.169.254")!]),
        "gone.example": .notFound,
        "slow.example": nil,
    ])

    @Test(arguments: [
        ("http://127.1/h", "callback_url must not point to 127.0.0.1, a loopback address"),
        ("http://0x7f000001/h", "callback_url must not point to 127.0.0.1, a loopback address"),
        ("http://2130706433/h", "callback_url must not point to 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/h", "callback_url must not point to 127.0.0.1, a loopback address"),
        ("http://0/h", "callback_url must not point to 0.0.0.0, an unspecified address"),
        ("http://0xa9fea9fe/latest", "callback_url must not point to 169.254.169.254, a link-local address"),
        ("http://127.0.0.1./h", "callback_url must not point to 127.0.0.1, a loopback address"),
        ("http://localhost./h", "callback_url must not point to localhost"),
        ("http://169.254.169.254./latest", "callback_url must not point to 169.254.169.254, a link-local address"),
        ("http://[2002:a9fe:a9fe::]/h", "callback_url must not point to 2002:a9fe:a9fe::, a 6to4 address for 169.254.169.254, a link-local address"),
        ("https://internal.example/h", "callback_url must not point to internal.example, which resolves to 10.20.30.40, a private address"),
        ("https://rebind.example/h", "callback_url must not point to rebind.example, which resolves to 169.254.169.254, a link-local address"),
        ("https://gone.example/h", "callback_url names a host that does not exist (gone.example)"),
        (#"https://e.com/h\r\nX-Injected: 1"#, "callback_url must not contain spaces or control characters"),
        ("https://e.com/h x", "callback_url must not contain spaces or control characters"),
        ("https://e.com:65536/h", "callback_url must have a port from 1 to 65535"),
    ])
    func refusedCallbacksAreA400AtSubmission(callback: String, message: String) async throws {
        try await H.run(Self.strict, resolver: Self.resolver) { h in
            let response = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/v.mp4", "callback_url": "\#(callback)"}"#)
            #expect(response.status == 400)
            let error = try h.error(response)
            #expect(error.code == "invalid_request")
            #expect(error.field == "callback_url")
            #expect(error.message == message)
        }
    }

    /// A resolver that does not answer within 2 s does not refuse the job (SPEC section 4): the
    /// connect-time check still stands.
    @Test func aResolverThatDoesNotAnswerDoesNotRefuse() async throws {
        try await H.run(Self.strict, resolver: Self.resolver) { h in
            let started = ContinuousClock.now
            let response = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/v.mp4", "callback_url": "https://slow.example/h"}"#)
            #expect(response.status == 202)
            // It waited for the limit, then accepted.
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(1900), "waited \(waited)")
        }
    }

    /// `Idempotency-Key` compares the parsed request: whitespace, key order, escapes and explicit
    /// nulls do not make a retry a conflict; another request still is one.
    @Test func idempotencyComparesTheParsedRequest() async throws {
        try await H.run { h in
            let first = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a.mp4", "max_clips": 3}"#, headers: ["Idempotency-Key: k"])
            #expect(first.status == 202)
            let id = try #require(try h.object(first)["job_id"] as? String)
            for retry in [
                #"{"max_clips":3,"video_url":"https://e.com/a.mp4"}"#,
                "{\n  \"video_url\" : \"https:\\/\\/e.com\\/a.mp4\",\n  \"max_clips\" : 3\n}",
                #"{"video_url": "https://e.com/a.mp4", "max_clips": 3, "callback_url": null, "owner_user_id": null}"#,
            ] {
                let again = try await h.call("POST", "/ai-clipping/jobs", json: retry, headers: ["Idempotency-Key: k"])
                #expect(again.status == 202, "\(retry)")
                #expect(try h.object(again)["job_id"] as? String == id)
            }
            let other = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a.mp4", "max_clips": 4}"#, headers: ["Idempotency-Key: k"])
            #expect(other.status == 409)
        }
    }

    static let token = "a-long-api-token-for-the-tests-0123"

    @Test(arguments: [
        ("Bearer \(token)", 200), ("bearer \(token)", 200), ("BEARER \(token)", 200), ("bEaReR   \(token)", 200),
        ("Bearer \(token)x", 401), ("Basic \(token)", 401), ("Bearer", 401), ("Bearer\(token)", 401), ("\(token)", 401),
    ])
    func bearerSchemeInAnyCase(authorization: String, status: Int) async throws {
        try await H.run(["CLIPPING_WORKER_API_TOKEN": Self.token]) { h in
            let response = try await h.call("GET", "/ai-clipping/jobs/job_nope", headers: ["Authorization: \(authorization)"])
            // 404: the token was accepted and the job is unknown.
            #expect(response.status == (status == 200 ? 404 : 401), "\(authorization)")
        }
    }

    // MARK: Raw HTTP: HEAD, early 413, 100-continue

    /// Connects to the worker, sends `request` and reads until `enough` holds, the server closes,
    /// or `seconds` pass. The blocking socket calls run on a thread of their own: on the
    /// cooperative pool they would starve the server's handlers of its two threads.
    static func exchange(
        port: Int, _ request: String, seconds: Double = 5, until enough: @escaping @Sendable (String) -> Bool = { _ in false }
    ) async throws -> (text: String, closed: Bool) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try blockingExchange(port: port, request, seconds: seconds, until: enough) })
            }.start()
        }
    }

    private static func blockingExchange(
        port: Int, _ request: String, seconds: Double, until enough: (String) -> Bool
    ) throws -> (text: String, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EPIPE) }
        var received = [UInt8]()
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if enough(String(decoding: received, as: UTF8.self)) { break }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer.prefix(count)
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    static func port(_ h: H) -> Int { Int(h.base.split(separator: ":").last!)! }

    @Test(arguments: ["/healthz", "/readyz"])
    func headOnHealthChecks(path: String) async throws {
        try await H.run(["CLIPPING_WORKER_API_TOKEN": Self.token]) { h in
            // HEAD, then GET on the same connection: the HEAD answer must carry no body, or the
            // GET's status line would not come next.
            let request = "HEAD \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            let (text, _) = try await Self.exchange(port: Self.port(h), request) { $0.components(separatedBy: "HTTP/1.1 200").count == 3 }
            let answers = text.components(separatedBy: "HTTP/1.1 ")
            #expect(answers.count == 3, "\(text)")
            #expect(answers.dropFirst().allSatisfy { $0.hasPrefix("200") }, "\(text)")
            // The HEAD answer ends with its headers: the GET's status line follows at once.
            #expect(answers.count > 1 && answers[1].hasSuffix("\r\n\r\n"), "\(text)")
        }
    }

    @Test(arguments: [false, true])
    func declaredBodyOverTheLimitIsRefusedBeforeItIsSent(expectContinue: Bool) async throws {
        try await H.run { h in
            let request = "POST /ai-clipping/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: 10000000\r\n" + (expectContinue ? "Expect: 100-continue\r\n" : "") + "\r\n"
            // No body is sent: an answer at all shows it did not wait for one.
            let (text, closed) = try await Self.exchange(port: Self.port(h), request, seconds: 5)
            #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
            #expect(!text.contains("100 Continue"))
            #expect(text.contains(#""code":"payload_too_large""#))
            #expect(closed, "the connection stays open for a body that must not come")
        }
    }

    @Test func expectContinueGetsItsHundredAtOnce() async throws {
        try await H.run { h in
            let body = #"{"video_url": "https://e.com/a.mp4"}"#
            let head = "POST /ai-clipping/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
            // Only the head: the 100 must come before any body byte is sent.
            let (interim, _) = try await Self.exchange(port: Self.port(h), head, seconds: 3) { $0.contains("\r\n\r\n") }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
            // With the body the request completes as usual.
            let (whole, _) = try await Self.exchange(port: Self.port(h), head + body, seconds: 5) { $0.contains("job_id") }
            #expect(whole.hasPrefix("HTTP/1.1 100 Continue"))
            #expect(whole.contains("HTTP/1.1 202"), "\(whole)")
        }
    }

    // MARK: Files

    @Test func symbolicLinksUnderMediaAreNotFollowed() async throws {
        try await H.run { h in
            let media = h.dataDirectory + "/media"
            let outside = NSTemporaryDirectory() + "outside-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/plan.json"))
            let real = media + "/job_01REAL"
            try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: URL(fileURLWithPath: real + "/plan.json"))
            try FileManager.default.createSymbolicLink(atPath: real + "/db.json", withDestinationPath: h.dataDirectory + "/clipping-worker.sqlite")
            try FileManager.default.createSymbolicLink(atPath: real + "/out.json", withDestinationPath: outside + "/plan.json")
            try FileManager.default.createSymbolicLink(atPath: media + "/job_01LINK", withDestinationPath: outside)
            #expect(try await h.call("GET", "/media/job_01REAL/plan.json").status == 200)
            for path in ["/media/job_01REAL/db.json", "/media/job_01REAL/out.json", "/media/job_01LINK/plan.json"] {
                let response = try await h.call("GET", path)
                #expect(response.status == 404, "\(path)")
                #expect(!String(decoding: response.body, as: UTF8.self).contains("secret"))
            }
        }
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    @Test func filesAndFoldersAreCreatedWithTheirModes() async throws {
        try await H.run { h in
            // A write, so the WAL and its index exist.
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a.mp4"}"#)
            #expect(submitted.status == 202)
            let data = h.dataDirectory
            let expected: [(String, Int)] = [
                (data, 0o750), (data + "/logs", 0o750), (data + "/media", 0o750), (data + "/work", 0o750),
                (data + "/clipping-worker.sqlite", 0o600), (data + "/clipping-worker.sqlite-wal", 0o600),
                (data + "/clipping-worker.sqlite-shm", 0o600), (data + "/logs/deliveries.jsonl", 0o640),
            ]
            for (path, mode) in expected {
                #expect(Self.mode(path) == mode, "\(path): \(String(Self.mode(path) ?? -1, radix: 8))")
            }
        }
    }

    @Test func widerModesLeftByEarlierVersionsAreNarrowed() async throws {
        let data = NSTemporaryDirectory() + "wide-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: data + "/logs", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: data + "/clipping-worker.sqlite", contents: nil)
        FileManager.default.createFile(atPath: data + "/logs/deliveries.jsonl", contents: nil)
        for (path, mode) in [(data, 0o777), (data + "/logs", 0o775), (data + "/clipping-worker.sqlite", 0o666),
                             (data + "/logs/deliveries.jsonl", 0o666)] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        }
        try await H.run(["CLIPPING_WORKER_DATA_DIR": data]) { h in
            #expect(Self.mode(data) == 0o750)
            #expect(Self.mode(data + "/logs") == 0o750)
            #expect(Self.mode(data + "/clipping-worker.sqlite") == 0o600)
            #expect(Self.mode(data + "/logs/deliveries.jsonl") == 0o640)
        }
    }

    // MARK: Video downloads follow redirects

    @Test func aVideoBehindRedirectsIsDownloaded() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            switch request.uri {
            case "/presigned": .status(302, headers: [("Location", "/cdn")])
            case "/cdn": .status(307, headers: [("Location", "/v.mp4")])
            case "/v.mp4": .status(200, body: Array(repeating: 1, count: 5000))
            case "/to-metadata": .status(302, headers: [("Location", "http://169.254.169.254/latest/meta-data")])
            default: request.method == "POST" ? .noContent : .status(404)
            }
        }
        try await H.run { h in
            let good = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/presigned"))"}"#)
            let bad = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/to-metadata"))"}"#)
            let goodID = try #require(try h.object(good)["job_id"] as? String)
            let badID = try #require(try h.object(bad)["job_id"] as? String)
            #expect(try await h.waitForStatus(goodID, ["completed", "failed"])["status"] as? String == "completed")
            let failed = try await h.waitForStatus(badID, ["completed", "failed"])
            #expect(failed["status"] as? String == "failed")
            #expect((failed["error"] as? String)?.hasPrefix("Failed to download video: address refused: 169.254.169.254") == true)
        }
        #expect(!server.received.values.contains { $0.uri.contains("meta-data") })
        try await server.shutdown()
    }
}
