import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// Video downloads follow up to 5 redirects, each hop held to the address policy at connect time
/// (SPEC section 4); webhooks still follow none. Through a proxy, a literal internal address in
/// the URL is refused before libcurl sends anything (the proxy, not we, would connect to it).
@Suite(.timeLimit(.minutes(1)))
struct RedirectAndProxyPolicyTests {
    /// Only 127.0.0.1 itself is allowed: the rest of 127/8 stays refused, so a hop there is a
    /// policy refusal, not a connection failure.
    static let policy = NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.1/32")!])
    static let downloads = CurlClientConfiguration(
        connectTimeout: .seconds(2), totalTimeout: .seconds(5), networkPolicy: policy, maxRedirects: 5)

    enum Outcome: Sendable, CustomStringConvertible {
        case body(String)
        case status(Int)
        case failure(TransportError.Code)
        var description: String {
            switch self {
            case .body(let text): "body \(text)"
            case .status(let status): "status \(status)"
            case .failure(let code): "failure \(code)"
            }
        }
    }

    static func redirectingServer() async throws -> ScriptedHTTPServer {
        try await ScriptedHTTPServer.start { request in
            let path = request.uri
            if path == "/video" { return .status(200, body: Array("the video".utf8)) }
            if path.hasPrefix("/hops/"), let left = Int(path.dropFirst(6)) {
                return .status(302, headers: [("Location", left <= 1 ? "/video" : "/hops/\(left - 1)")])
            }
            switch path {
            case "/to-metadata": return .status(301, headers: [("Location", "http://169.254.169.254/latest/meta-data")])
            case "/to-hex-metadata": return .status(307, headers: [("Location", "http://0xa9fea9fe/latest")])
            case "/to-other-loopback": return .status(302, headers: [("Location", "http://127.0.0.2:\(request.headers["host"]?.split(separator: ":").last ?? "80")/video")])
            case "/via-hop-to-metadata": return .status(302, headers: [("Location", "/to-metadata")])
            case "/to-ftp": return .status(302, headers: [("Location", "ftp://127.0.0.1/video")])
            default: return .status(404)
            }
        }
    }

    @Test(arguments: [
        ("/hops/1", Outcome.body("the video")),
        ("/hops/5", .body("the video")),
        ("/hops/6", .failure(.protocolError)),
        ("/to-metadata", .failure(.refusedByPolicy)),
        ("/to-hex-metadata", .failure(.refusedByPolicy)),
        ("/to-other-loopback", .failure(.refusedByPolicy)),
        ("/via-hop-to-metadata", .failure(.refusedByPolicy)),
        ("/to-ftp", .failure(.invalidURL)),
        ("/missing", .status(404)),
    ])
    func downloadsFollowRedirectsEachHopChecked(path: String, expected: Outcome) async throws {
        let server = try await Self.redirectingServer()
        let file = NSTemporaryDirectory() + "download-\(UUID().uuidString)"
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer {
            close(descriptor)
            unlink(file)
        }
        let outcome: Outcome = await CurlHTTPClient.withClient(configuration: Self.downloads) { client in
            do {
                let (response, _) = try await client.download(server.url(path), to: descriptor, maxBytes: 1 << 20)
                guard response.status == 200 else { return .status(response.status) }
                return .body((try? String(contentsOfFile: file, encoding: .utf8)) ?? "")
            } catch {
                return .failure((error as? TransportError)?.code ?? .internalError)
            }
        }
        #expect(outcome.description == expected.description)
        try await server.shutdown()
    }

    @Test func webhooksStillDoNotFollowRedirects() async throws {
        let server = try await Self.redirectingServer()
        var configuration = Self.downloads
        configuration.maxRedirects = 0
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            let response = try await client.send(WebhookRequest(url: server.url("/hops/1"), headers: [], body: []))
            #expect(response.statusCode == 302)
        }
        #expect(server.received.values.map(\.uri) == ["/hops/1"])
        try await server.shutdown()
    }

    /// The proxy's own address is allowed (127.0.0.1), so only the pre-flight check on the URL's
    /// host can keep a literal internal target from being handed to it.
    @Test(arguments: [
        ("http://0xa9fea9fe/latest/meta-data", false), ("http://169.254.169.254./latest", false),
        ("http://[::ffff:a9fe:a9fe]/latest", false), ("http://2130706434:8080/admin", false), ("http://10.1/x", false),
        ("http://receiver.example/hook", true),
    ])
    func proxiedRequestsToLiteralInternalHostsAreRefusedBeforeSending(url: String, reachesProxy: Bool) async throws {
        let proxy = try await ScriptedHTTPServer.start { _ in .noContent }
        let configuration = CurlClientConfiguration(
            connectTimeout: .seconds(2), totalTimeout: .seconds(5), networkPolicy: Self.policy, proxy: proxy.url("/"))
        await CurlHTTPClient.withClient(configuration: configuration) { client in
            await Self.expectSent(url, reachesProxy: reachesProxy, by: client)
        }
        #expect(proxy.received.values.count == (reachesProxy ? 1 : 0))
        try await proxy.shutdown()
    }

    /// The client keeps the last URL's pre-flight verdict: alternating URLs on one client each
    /// still get their own.
    @Test func eachURLGetsItsOwnPreflightVerdictWhenURLsAlternate() async throws {
        let proxy = try await ScriptedHTTPServer.start { _ in .noContent }
        let configuration = CurlClientConfiguration(
            connectTimeout: .seconds(2), totalTimeout: .seconds(5), networkPolicy: Self.policy, proxy: proxy.url("/"))
        let sequence = [
            ("http://0xa9fea9fe/latest/meta-data", false), ("http://0xa9fea9fe/latest/meta-data", false),
            ("http://receiver.example/hook", true), ("http://0xa9fea9fe/latest/meta-data", false),
            ("http://receiver.example/hook", true), ("http://receiver.example/hook", true), ("http://10.1/x", false),
        ]
        await CurlHTTPClient.withClient(configuration: configuration) { client in
            for (url, reachesProxy) in sequence {
                await Self.expectSent(url, reachesProxy: reachesProxy, by: client)
            }
        }
        #expect(proxy.received.values.count == sequence.filter(\.1).count)
        try await proxy.shutdown()
    }

    /// Sends `url` through `client` (configured with a proxy) and expects it either to reach the
    /// proxy or to be refused by policy before anything is sent.
    private static func expectSent(_ url: String, reachesProxy: Bool, by client: CurlHTTPClient) async {
        let request = WebhookRequest(url: url, headers: ["Content-Type: application/json"], body: Array("{}".utf8))
        do {
            let response = try await client.send(request)
            #expect(reachesProxy, "sent \(url) through the proxy (\(response.statusCode))")
        } catch {
            #expect(!reachesProxy && (error as? TransportError)?.code == .refusedByPolicy, "\(url): \(error)")
        }
    }
}
