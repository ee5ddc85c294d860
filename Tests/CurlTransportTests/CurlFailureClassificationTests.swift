@testable import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport

/// How failures are classified (SPEC section 6: which ones are retried), against real loopback
/// servers, and the client's request bookkeeping.
@Suite(.timeLimit(.minutes(1)))
struct CurlFailureClassificationTests {
    /// Allows 127.0.0.0/8 only: `::1` stays refused as loopback.
    static let ipv4LoopbackOnly = CurlClientConfiguration(
        connectTimeout: .seconds(2), totalTimeout: .milliseconds(800),
        networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))

    func post(_ url: String) -> WebhookRequest {
        WebhookRequest(
            url: url, headers: ["Content-Type: application/json", "webhook-id: evt_x"], body: Array(#"{"a":1}"#.utf8))
    }

    /// A configuration where `dual.test:<port>` resolves to `::1` first, then `127.0.0.1`.
    func dualStack(port: Int, policy: NetworkPolicy = NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))
        -> CurlClientConfiguration
    {
        var configuration = Self.ipv4LoopbackOnly
        configuration.networkPolicy = policy
        configuration.pinnedAddresses = ["dual.test:\(port):[::1],127.0.0.1"]
        return configuration
    }

    func isRetryable(_ error: TransportError) -> Bool {
        if case .retryable = AttemptVerdict.of(error) { return true }
        return false
    }

    func sendError(_ url: String, configuration: CurlClientConfiguration) async -> TransportError? {
        await CurlHTTPClient.withClient(configuration: configuration) { client in
            await #expect(throws: TransportError.self) { try await client.send(post(url)) }
        }
    }

    // MARK: - A refused address among several (defect: a timeout elsewhere became a final refusal)

    @Test func refusedAddressDoesNotTurnATimeoutOnAnotherIntoAFinalRefusal() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .hang }
        let error = await sendError("http://dual.test:\(server.port)/hook", configuration: dualStack(port: server.port))
        try await server.shutdown()
        // ::1 was refused by the policy, 127.0.0.1 was reached and timed out: a retryable timeout.
        #expect(error?.code == .timedOut, "\(String(describing: error))")
        #expect(error.map(isRetryable) == true)
        // The refusal is not lost: operators see it in the message.
        let message = error?.message ?? ""
        #expect(message.contains("refused another address") && message.contains("loopback"), "\(message)")
    }

    @Test func refusedAddressDoesNotTurnAConnectFailureOnAnotherIntoAFinalRefusal() async throws {
        // A port held but not listened on: connections to it are refused.
        let closed = try ClosedPort()
        let error = await sendError("http://dual.test:\(closed.port)/hook", configuration: dualStack(port: closed.port))
        #expect(error?.code == .connectFailed, "\(String(describing: error))")
        withExtendedLifetime(closed) {}
    }

    @Test func everyAddressRefusedIsAFinalRefusal() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let nothingAllowed = dualStack(port: server.port, policy: NetworkPolicy())
        let error = await sendError("http://dual.test:\(server.port)/hook", configuration: nothingAllowed)
        #expect(server.received.values.isEmpty)
        try await server.shutdown()
        #expect(error?.code == .refusedByPolicy, "\(String(describing: error))")
    }

    @Test func theAllowedAddressAnswersWhenAnotherIsRefused() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let status = try await CurlHTTPClient.withClient(configuration: dualStack(port: server.port)) { client in
            try await client.send(post("http://dual.test:\(server.port)/hook")).statusCode
        }
        try await server.shutdown()
        #expect(status == 204)
    }

    // MARK: - Interim answers and replies that are not HTTP (defect: "HTTP 100" / invalid_url)

    @Test(arguments: ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\n"])
    func interimAnswerThenSilenceIsATimeout(interim: String) async throws {
        let server = try await RawTCPServer.start(reply: Array(interim.utf8), then: .hang)
        let error = await sendError(server.url(), configuration: Self.ipv4LoopbackOnly)
        try await server.shutdown()
        #expect(error?.code == .timedOut, "\(String(describing: error))")
    }

    @Test func interimAnswerThenCloseIsRetryable() async throws {
        let server = try await RawTCPServer.start(reply: Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), then: .close)
        let error = await sendError(server.url(), configuration: Self.ipv4LoopbackOnly)
        try await server.shutdown()
        #expect(error.map(isRetryable) == true, "\(String(describing: error))")
    }

    @Test func interimAnswerThenFinalAnswerIsTheFinalAnswer() async throws {
        let reply = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        let server = try await RawTCPServer.start(reply: Array(reply.utf8), then: .hang)
        let status = try await CurlHTTPClient.withClient(configuration: Self.ipv4LoopbackOnly) { client in
            try await client.send(post(server.url())).statusCode
        }
        try await server.shutdown()
        #expect(status == 204)
    }

    static let garbage: [(String, [UInt8])] = [
        ("a bare word", Array("HELLO\r\n\r\n".utf8)),
        ("random bytes", [0x8F, 0x01, 0xFF, 0x10, 0x00, 0x41, 0x42, 0xC3, 0x28, 0x0D, 0x0A, 0x0D, 0x0A]),
        ("a status below 100", Array("HTTP/1.1 99 Odd\r\nContent-Length: 0\r\n\r\n".utf8)),
        ("no status code", Array("HTTP/1.1 abc\r\n\r\n".utf8)),
        ("an unknown version", Array("HTTP/7.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)),
    ]

    @Test(arguments: garbage)
    func replyThatIsNotHTTPIsARetryableProtocolError(label: String, reply: [UInt8]) async throws {
        let server = try await RawTCPServer.start(reply: reply, then: .close)
        let error = await sendError(server.url(), configuration: Self.ipv4LoopbackOnly)
        try await server.shutdown()
        #expect(error?.code == .protocolError, "\(label): \(String(describing: error))")
    }

    @Test(arguments: ["ftp://127.0.0.1/x", "http://[::1/x", "gopher://127.0.0.1:70/"])
    func urlProblemsKnownBeforeConnectingStayInvalidURL(url: String) async throws {
        let error = await sendError(url, configuration: Self.ipv4LoopbackOnly)
        #expect(error?.code == .invalidURL, "\(String(describing: error))")
    }

    // MARK: - Cancellation bookkeeping (defect: `cancelledEarly` grew without bound)

    func cancelledSend(_ client: CurlHTTPClient, _ url: String) async -> Result<WebhookResponse, any Error> {
        await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.send(post(url))
        }.result
    }

    @Test func cancelledSendsToAShutDownClientLeaveNothingBehind() async throws {
        let client = CurlHTTPClient(configuration: Self.ipv4LoopbackOnly)
        await client.shutdown()
        for _ in 0..<200 {
            let result = await cancelledSend(client, "http://127.0.0.1:9/hook")
            guard case .failure(let error as TransportError) = result else {
                Issue.record("a send to a shut-down client must fail")
                continue
            }
            #expect(error.code == .shutdown || error.code == .cancelled)
        }
        #expect(client.bookkeeping == (active: 0, cancelledEarly: 0, cancelled: 0))
    }

    @Test func cancelBeforeStartLeavesNothingBehind() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        try await CurlHTTPClient.withClient(configuration: Self.ipv4LoopbackOnly) { client in
            for _ in 0..<200 {
                guard case .failure(let error as TransportError) = await cancelledSend(client, server.url()) else {
                    Issue.record("a send from a cancelled task must fail")
                    continue
                }
                #expect(error.code == .cancelled)
            }
            #expect(server.received.values.isEmpty)
            // Still usable afterwards.
            let status = try await client.send(post(server.url())).statusCode
            #expect(status == 204)
            #expect(client.bookkeeping == (active: 0, cancelledEarly: 0, cancelled: 0))
        }
        try await server.shutdown()
    }

    @Test func cancellationAfterTheTransferFinishedLeavesNothingBehind() async throws {
        // The reply waits until the executor's gate is closed: a fixed delay (3 s) was still
        // missed on a machine busy with the whole suite and a browser.
        let replies = ReplyGate()
        let server = try await ScriptedHTTPServer.start { _ in .gated(replies, .noContent) }
        let executor = GatedTaskExecutor()
        var configuration = Self.ipv4LoopbackOnly
        configuration.totalTimeout = .seconds(60)  // the reply comes when the test opens its gate
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            let task = Task(executorPreference: executor) { try await client.send(post(server.url())) }
            try await server.received.wait(count: 1)
            executor.closeGate()
            replies.open()
            // The transfer ended and resumed the task, whose next step is held: cancel it now, in
            // the window between the end of the transfer and the return from `send`.
            try await executor.held.wait(count: 1)
            task.cancel()
            executor.openGate()
            let status = try await task.value.statusCode
            #expect(status == 204)
            #expect(client.bookkeeping == (active: 0, cancelledEarly: 0, cancelled: 0))
        }
        try await server.shutdown()
    }

    @Test func cancellationsRacingWithCompletionLeaveNothingBehind() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        try await CurlHTTPClient.withClient(configuration: Self.ipv4LoopbackOnly) { client in
            // Cancel each task at a different moment: before it starts, while it runs, just as
            // its transfer completes, after it returned.
            for round in 0..<300 {
                let task = Task { try await client.send(post(server.url())) }
                if round % 3 != 0 {
                    for _ in 0..<(round % 40) { await Task.yield() }
                }
                task.cancel()
                _ = await task.result
            }
            // One more transfer: the loop has drained every cancellation handed to it before.
            let status = try await client.send(post(server.url())).statusCode
            #expect(status == 204)
            #expect(client.bookkeeping == (active: 0, cancelledEarly: 0, cancelled: 0))
        }
        try await server.shutdown()
    }
}

/// A task executor whose jobs a test can hold back: with the gate closed, an enqueued job waits
/// until ``openGate()``, so a test can act between a continuation's resume and the task's next step.
final class GatedTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `gated` and `waiting` are guarded by `lock`.
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "gated-task-executor")
    private var gated = false
    private var waiting: [UnownedJob] = []
    /// One value per job held at the gate.
    let held = AsyncRecorder<Int>()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let hold: Int? = lock.withLock {
            guard gated else { return nil }
            waiting.append(job)
            return waiting.count
        }
        if let hold {
            held.record(hold)
        } else {
            run(job)
        }
    }

    func closeGate() { lock.withLock { gated = true } }

    func openGate() {
        let jobs = lock.withLock {
            gated = false
            defer { waiting.removeAll() }
            return waiting
        }
        for job in jobs { run(job) }
    }

    private func run(_ job: UnownedJob) {
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
