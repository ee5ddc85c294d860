import CurlTransport
import Foundation
import InMemoryLogging
import Logging
import Testing
import WebhookTestSupport

/// SPEC section 7: secrets never appear in any log line. A whole worker runs with every kind of
/// secret configured and a job whose callback carries secrets in its path (Slack style) and
/// query; every line it logs (message and metadata, at trace level) and every line of the
/// delivery log is searched for them.
@Suite(.timeLimit(.minutes(2)))
struct LogSecrecyTests {
    @Test func noSecretReachesTheProcessLog() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(404) : .noContent
        }
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "secrecy", factory: { _ in handler })
        logger.logLevel = .trace
        let secrets = [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "api-token-for-the-test-0123456789",
            "querysecret-9f8e7d6c", "userinfo-password-42", "a1b2c3d4e5f6g7h8i9j0k1l2",
        ]
        var dataDirectory = ""
        try await WorkerHarness.run(
            ["WEBHOOK_SECRET": secrets[0], "CLIPPING_WORKER_API_TOKEN": secrets[1]], logger: logger
        ) { h in
            dataDirectory = h.dataDirectory
            let callback = server.url("/services/T0001/B0002/\(secrets[4])?token=\(secrets[2])")
            let response = try await h.call(
                "POST", "/ai-clipping/jobs",
                json: #"{"video_url": "\#(server.url("/missing.mp4"))", "callback_url": "\#(callback)"}"#,
                headers: ["Authorization: Bearer \(secrets[1])"])
            #expect(response.status == 202)
            let id = try #require(try h.object(response)["job_id"] as? String)
            let began = ContinuousClock.now
            while !server.received.values.contains(where: { $0.header("x-webhook-event") == "job.failed" }) {
                guard ContinuousClock.now - began < .seconds(15) else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            // A refused login and a bad token in the log's neighbourhood too.
            _ = try await h.call("GET", "/ai-clipping/jobs/\(id)", headers: ["Authorization: Bearer \(secrets[3])"])
        }
        let lines = handler.entries.map { entry in "\(entry.message) \(entry.metadata)" }
        #expect(!lines.isEmpty)
        #expect(lines.contains { $0.contains("job failed") }, "the job's failure is logged")
        let deliveries = try String(contentsOfFile: dataDirectory + "/logs/deliveries.jsonl", encoding: .utf8)
        #expect(deliveries.contains("/services/T0001/B0002/REDACTED?token=REDACTED"))
        for secret in secrets {
            #expect(!lines.contains { $0.contains(secret) }, "a log line holds \(secret)")
            #expect(!deliveries.contains(secret), "the delivery log holds \(secret)")
        }
        try await server.shutdown()
    }
}
