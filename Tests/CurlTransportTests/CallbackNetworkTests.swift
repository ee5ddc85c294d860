import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// Callbacks as production networks have them (SPEC sections 3 and 6): HTTPS verified against a
/// private CA made at test time, mTLS, an egress proxy (plain and `CONNECT`), the receiver's
/// `webhook-delivery` header, and close-on-exec sockets. Every server here is real, on loopback.
@Suite(.timeLimit(.minutes(2)))
struct CallbackNetworkTests {
    static let loopback = NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!])
    static let certificates = Result { try TestCertificates.make() }

    func configuration(
        ca: Bool = true, client: TestCertificates.Identity? = nil, proxy: String? = nil, policy: NetworkPolicy = Self.loopback
    ) throws -> CurlClientConfiguration {
        let certificates = try Self.certificates.get()
        return CurlClientConfiguration(
            connectTimeout: .seconds(2), totalTimeout: .seconds(5), networkPolicy: policy, proxy: proxy,
            caFile: ca ? certificates.authority : nil, clientCertificate: client?.certificate, clientKey: client?.key)
    }

    func post(_ url: String, _ configuration: CurlClientConfiguration, times: Int = 1) async -> [Result<WebhookResponse, TransportError>] {
        await CurlHTTPClient.withClient(configuration: configuration) { client in
            var results = [Result<WebhookResponse, TransportError>]()
            for _ in 0..<times {
                do {
                    results.append(.success(try await client.send(WebhookRequest(url: url, headers: [], body: Array("{}".utf8)))))
                } catch let error as TransportError {
                    results.append(.failure(error))
                } catch {
                    results.append(.failure(TransportError(.internalError, "\(error)")))
                }
            }
            return results
        }
    }

    @Test func httpsToAReceiverSignedByTheConfiguredCAReusesOneConnection() async throws {
        let certificates = try Self.certificates.get()
        let server = try await ScriptedHTTPServer.start(tls: .init(certificates.server)) { _ in .noContent }
        let results = await post(server.url(), try configuration(), times: 20)
        #expect(results.allSatisfy { (try? $0.get().statusCode) == 204 }, "\(results)")
        // Keep-alive over TLS: one handshake for twenty deliveries.
        #expect(server.handshakesCompleted == 1)
        try await server.shutdown()
    }

    @Test(arguments: ["system trust store", "wrong name", "self-signed"])
    func anUntrustedOrMismatchedCertificateIsARetryableTLSFailure(case name: String) async throws {
        let certificates = try Self.certificates.get()
        let identity = name == "wrong name" ? certificates.wrongName : name == "self-signed" ? certificates.untrusted : certificates.server
        let server = try await ScriptedHTTPServer.start(tls: .init(identity)) { _ in .noContent }
        let result = await post(server.url(), try configuration(ca: name != "system trust store"))[0]
        guard case .failure(let error) = result else {
            Issue.record("\(name): delivered without a verified certificate")
            return
        }
        #expect(error.code == .tlsFailed)
        #expect(error.description.contains("tls: certificate verify failed"), "\(error)")
        if case .retryable = AttemptVerdict.of(error) {} else { Issue.record("\(name): not retryable") }
        #expect(server.received.values.isEmpty)
        try await server.shutdown()
    }

    @Test func aReceiverThatRequiresAClientCertificateGetsTheConfiguredOne() async throws {
        let certificates = try Self.certificates.get()
        let server = try await ScriptedHTTPServer.start(
            tls: .init(certificates.server, requireClientCertificateFrom: certificates.authority)) { _ in .noContent }
        // Without a certificate: the handshake fails, no HTTP answer.
        let without = await post(server.url(), try configuration())[0]
        guard case .failure(let refused) = without else {
            Issue.record("delivered without a client certificate")
            return
        }
        #expect(refused.code == .tlsFailed, "\(refused)")
        #expect(refused.description.contains("tls: "), "\(refused)")
        if case .retryable = AttemptVerdict.of(refused) {} else { Issue.record("not retryable") }
        // One from another authority: refused too.
        let stranger = await post(server.url(), try configuration(client: certificates.strangerClient))[0]
        if case .success = stranger { Issue.record("delivered with a certificate of an untrusted authority") }
        // With the configured one: delivered.
        let with = await post(server.url(), try configuration(client: certificates.client))[0]
        #expect((try? with.get().statusCode) == 204, "\(with)")
        #expect(server.received.values.count == 1)
        try await server.shutdown()
    }

    @Test func plainCallbacksGoThroughTheProxy() async throws {
        let receiver = try await ScriptedHTTPServer.start { _ in .noContent }
        let proxy = try ForwardProxy()
        defer { proxy.stop() }
        let results = await post(receiver.url(), try configuration(proxy: proxy.url), times: 3)
        #expect(results.allSatisfy { (try? $0.get().statusCode) == 204 }, "\(results)")
        #expect(proxy.forwarded == Array(repeating: "POST \(receiver.url())", count: 3))
        try await receiver.shutdown()
    }

    @Test func httpsCallbacksTunnelThroughTheProxy() async throws {
        let certificates = try Self.certificates.get()
        let receiver = try await ScriptedHTTPServer.start(tls: .init(certificates.server)) { _ in .noContent }
        let proxy = try ForwardProxy()
        defer { proxy.stop() }
        let results = await post(receiver.url(), try configuration(proxy: proxy.url), times: 3)
        #expect(results.allSatisfy { (try? $0.get().statusCode) == 204 }, "\(results)")
        #expect(proxy.forwarded == ["CONNECT 127.0.0.1:\(receiver.port)"])
        #expect(receiver.handshakesCompleted == 1)
        try await receiver.shutdown()
    }

    /// Through a proxy the worker connects to the proxy only: the policy is held against its
    /// address (here not allowed), and nothing reaches the receiver.
    @Test func theProxysOwnAddressIsHeldToThePolicy() async throws {
        let receiver = try await ScriptedHTTPServer.start { _ in .noContent }
        let proxy = try ForwardProxy()
        defer { proxy.stop() }
        let result = await post(
            "http://receiver.example:\(receiver.port)/hook", try configuration(proxy: proxy.url, policy: NetworkPolicy()))[0]
        guard case .failure(let error) = result else {
            Issue.record("connected to a proxy the policy refuses")
            return
        }
        #expect(error.code == .refusedByPolicy, "\(error)")
        #expect(proxy.forwarded.isEmpty)
        try await receiver.shutdown()
    }

    @Test func theReceiversWebhookDeliveryHeaderIsReadWithAnyStatus() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.uri == "/abort"
                ? .status(503, headers: [("Webhook-Delivery", "Abort-Message")])
                : .status(200, headers: [("webhook-delivery", "disable")])
        }
        let abort = try #require(try await post(server.url("/abort"), configuration())[0].get())
        #expect(abort.deliveryDirective == "abort-message")
        #expect(AttemptVerdict.of(abort, now: Timestamp(milliseconds: 0)) == .rejected(
            reason: "HTTP 503 with webhook-delivery: abort-message (no further attempts)"))
        let disable = try #require(try await post(server.url("/disable"), configuration())[0].get())
        #expect(disable.deliveryDirective == "disable")
        #expect(AttemptVerdict.of(disable, now: Timestamp(milliseconds: 0)) == .gone)
        try await server.shutdown()
    }

    /// The worker starts ffmpeg and helpers: a callback socket must not leak into them.
    @Test func callbackSocketsAreCloseOnExec() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .hang }
        try await CurlHTTPClient.withClient(configuration: configuration(ca: false)) { client in
            let attempt = Task { try? await client.send(WebhookRequest(url: server.url(), headers: [], body: [])) }
            var flags: [Int] = []
            let began = ContinuousClock.now
            while flags.isEmpty, ContinuousClock.now - began < .seconds(4) {
                try await Task.sleep(for: .milliseconds(50))
                flags = Self.flagsOfSockets(connectedToPort: server.port)
            }
            #expect(!flags.isEmpty, "no client socket to port \(server.port) found")
            #expect(flags.allSatisfy { $0 & 0o2000000 != 0 }, "flags \(flags.map { String($0, radix: 8) })")
            attempt.cancel()
            _ = await attempt.value
        }
        try await server.shutdown()
    }

    /// The `flags` of this process's sockets whose remote end is 127.0.0.1:`port`
    /// (`/proc/net/tcp` gives the inode, `/proc/self/fd` the descriptor, `fdinfo` the flags).
    static func flagsOfSockets(connectedToPort port: Int) -> [Int] {
        // procfs files report size 0: read them to the end, not by their size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return [] }
        let table = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        try? handle.close()
        let remote = "0100007F:" + String(format: "%04X", port)
        var inodes = Set<String>()
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            if fields.count > 9, fields[2] == remote { inodes.insert(String(fields[9])) }
        }
        var flags = [Int]()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry),
                target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast())),
                let info = try? String(contentsOfFile: "/proc/self/fdinfo/" + entry, encoding: .utf8),
                let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                let value = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
            else { continue }
            flags.append(value)
        }
        return flags
    }
}
