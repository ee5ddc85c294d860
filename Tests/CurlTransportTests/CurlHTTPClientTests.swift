import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// The sender against a real loopback server.
@Suite(.timeLimit(.minutes(1)))
struct CurlHTTPClientTests {
    /// A limit far above any answer's time, so that under load an answer (a reset, a close, a
    /// status) is never overtaken by the timeout: a loaded CI machine once took longer than 0.8 s
    /// to see a close, and the test saw `timed_out`.
    static let loopbackAllowed = CurlClientConfiguration(
        connectTimeout: .seconds(2), totalTimeout: .seconds(20),
        networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))

    /// For the tests whose receiver never finishes: the attempt's limit is what ends them.
    static let shortLimit: CurlClientConfiguration = {
        var configuration = loopbackAllowed
        configuration.totalTimeout = .milliseconds(800)
        return configuration
    }()

    func withServer<R>(
        _ reply: @escaping @Sendable (ScriptedHTTPServer.Request) -> ScriptedHTTPServer.Reply,
        configuration: CurlClientConfiguration = loopbackAllowed,
        _ body: (ScriptedHTTPServer, CurlHTTPClient) async throws -> R
    ) async throws -> R {
        let server = try await ScriptedHTTPServer.start(reply: reply)
        do {
            let result = try await CurlHTTPClient.withClient(configuration: configuration) { try await body(server, $0) }
            try await server.shutdown()
            return result
        } catch {
            try await server.shutdown()
            throw error
        }
    }

    func post(_ url: String, body: String = #"{"a":1}"#) -> WebhookRequest {
        WebhookRequest(url: url, headers: ["Content-Type: application/json", "webhook-id: evt_x"], body: Array(body.utf8))
    }

    @Test func deliversBodyAndHeadersAndReusesTheConnection() async throws {
        try await withServer({ _ in .noContent }) { server, client in
            for index in 0..<20 {
                let response = try await client.send(post(server.url(), body: "{\"n\":\(index)}"))
                #expect(response.statusCode == 204)
            }
            let requests = try await server.received.wait(count: 20)
            #expect(requests[7].method == "POST")
            #expect(requests[7].body == Array("{\"n\":7}".utf8))
            #expect(requests[7].header("webhook-id") == "evt_x")
            #expect(requests[7].header("content-type") == "application/json")
            #expect(requests[7].header("expect") == nil)
            // Keep-alive: twenty sequential requests share one connection.
            #expect(server.connectionsAccepted == 1)
        }
    }

    @Test func reportsStatusAndRetryAfter() async throws {
        try await withServer({ _ in .status(429, headers: [("Retry-After", "17")]) }) { server, client in
            let response = try await client.send(post(server.url()))
            #expect(response.statusCode == 429)
            #expect(response.retryAfter == "17")
        }
    }

    @Test func doesNotFollowRedirects() async throws {
        let target = try await ScriptedHTTPServer.start { _ in .noContent }
        try await withServer({ _ in .status(302, headers: [("Location", target.url())]) }) { server, client in
            let response = try await client.send(post(server.url()))
            #expect(response.statusCode == 302)
        }
        #expect(target.received.values.isEmpty)
        try await target.shutdown()
    }

    @Test func hangingReceiverTimesOut() async throws {
        try await withServer({ _ in .hang }, configuration: Self.shortLimit) { server, client in
            let start = ContinuousClock.now
            let error = await #expect(throws: TransportError.self) { try await client.send(post(server.url())) }
            #expect(error?.code == .timedOut)
            // The attempt's limit is 0.8 s; the bound only tells the timeout from a hang, which
            // the suite's one-minute limit would end (under the whole suite on 2 cores this took
            // 5.3 s once: the loop thread waits for a core like everything else).
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    @Test func resetConnectionIsATransportError() async throws {
        try await withServer({ _ in .reset }) { server, client in
            let error = await #expect(throws: TransportError.self) { try await client.send(post(server.url())) }
            #expect(error?.code == .connectionReset)
        }
    }

    @Test func closedWithoutAnswerIsATransportError() async throws {
        try await withServer({ _ in .close }) { server, client in
            let error = await #expect(throws: TransportError.self) { try await client.send(post(server.url())) }
            #expect(error?.code == .connectionReset)
        }
    }

    @Test(arguments: [false, true])
    func hugeBodyIsCutAndTheStatusStands(chunked: Bool) async throws {
        try await withServer({ _ in .largeBody(status: 200, bytes: 5 * 1024 * 1024, chunked: chunked) }) { server, client in
            let response = try await client.send(post(server.url()))
            #expect(response.statusCode == 200)
            #expect(response.bodyTruncated)
            #expect(response.bodyPrefix.count == WebhookResponse.keptBodyBytes)
        }
    }

    @Test func bodyUnderTheLimitIsReadWhole() async throws {
        try await withServer({ _ in .largeBody(status: 500, bytes: 60 * 1024, chunked: true) }) { server, client in
            let response = try await client.send(post(server.url()))
            #expect(response.statusCode == 500)
            #expect(!response.bodyTruncated)
        }
    }

    @Test func statusThatArrivedStandsWhenTheBodyStalls() async throws {
        try await withServer({ _ in .headersThenHang(status: 200) }, configuration: Self.shortLimit) { server, client in
            let response = try await client.send(post(server.url()))
            #expect(response.statusCode == 200)
            #expect(response.bodyTruncated)
        }
    }

    @Test func refusedConnectionIsConnectFailed() async throws {
        // A port held but not listened on: connections to it are refused.
        let closed = try ClosedPort()
        await CurlHTTPClient.withClient(configuration: Self.loopbackAllowed) { client in
            let error = await #expect(throws: TransportError.self) { try await client.send(post(closed.url())) }
            #expect(error?.code == .connectFailed)
        }
        withExtendedLifetime(closed) {}
    }

    @Test func policyRefusesLoopbackAfterResolution() async throws {
        // "localhost" is a name: only the connect-time check on the resolved address can refuse it.
        var configuration = Self.loopbackAllowed
        configuration.networkPolicy = NetworkPolicy()
        try await withServer({ _ in .noContent }, configuration: configuration) { server, client in
            for url in [server.url(), "http://localhost:\(server.port)/hook"] {
                let error = await #expect(throws: TransportError.self) { try await client.send(post(url)) }
                #expect(error?.code == .refusedByPolicy)
            }
            #expect(server.received.values.isEmpty)
        }
    }

    @Test func onlyHTTPSchemes() async throws {
        await CurlHTTPClient.withClient(configuration: Self.loopbackAllowed) { client in
            let error = await #expect(throws: TransportError.self) { try await client.send(post("ftp://127.0.0.1/x")) }
            #expect(error?.code == .invalidURL)
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        var configuration = Self.loopbackAllowed
        configuration.totalTimeout = .seconds(30)
        try await withServer({ _ in .hang }, configuration: configuration) { server, client in
            let task = Task { try await client.send(post(server.url())) }
            try await server.received.wait(count: 1)
            let start = ContinuousClock.now
            task.cancel()
            let result = await task.result
            #expect(ContinuousClock.now - start < .seconds(5))
            guard case .failure(let error as TransportError) = result else {
                Issue.record("expected a cancellation error, got \(result)")
                return
            }
            #expect(error.code == .cancelled)
        }
    }

    @Test func manyConcurrentRequests() async throws {
        try await withServer({ _ in .noContent }) { server, client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask { try await client.send(post(server.url(), body: "{\"i\":\(index)}")).statusCode }
                }
                var statuses = [Int]()
                for try await status in group { statuses.append(status) }
                #expect(statuses.count == 200)
                #expect(statuses.allSatisfy { $0 == 204 })
            }
        }
    }

    @Test func requestKeepsTheWholeBodyAndHeaders() async throws {
        let payload = Array(repeating: UInt8(ascii: "a"), count: 200_000)
        try await withServer({ request in
            request.method == "GET" ? .status(200, headers: [("Content-Type", "application/json")], body: payload) : .status(405)
        }) { server, client in
            let response = try await client.request("GET", url: server.url("/x"))
            #expect(response.status == 200)
            #expect(response.body.count == 200_000)
            #expect(response.header("Content-Type") == "application/json")
            let error = await #expect(throws: TransportError.self) {
                try await client.request("GET", url: server.url("/x"), maxBodyBytes: 1000)
            }
            #expect(error?.code == .protocolError)
        }
    }

    @Test func downloadWritesTheBodyToAFile() async throws {
        let size = 3 * 1024 * 1024 + 17
        try await withServer({ request in
            request.uri == "/video" ? .largeBody(status: 200, bytes: size, chunked: true) : .status(404)
        }) { server, client in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            defer { close(descriptor); unlink(path) }
            let (response, bytes) = try await client.download(server.url("/video"), to: descriptor, maxBytes: 10 << 20)
            #expect(response.status == 200)
            #expect(bytes == Int64(size))
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size)
            let missing = try await client.download(server.url("/nope"), to: descriptor, maxBytes: 10 << 20)
            #expect(missing.response.status == 404)
            let error = await #expect(throws: TransportError.self) {
                try await client.download(server.url("/video"), to: descriptor, maxBytes: 1 << 20)
            }
            #expect(error?.code == .protocolError)
        }
    }
}
