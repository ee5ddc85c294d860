import CurlTransport
import Foundation
import Synchronization
import Testing
import WebhookTestSupport

/// SPEC section 6 with the progress throttle ON, many jobs at once and a receiver that fails:
/// a whole worker in this process (real SQLite, real curl, real HTTP API), 200 jobs, a receiver
/// answering 503 to a random 30 % of requests after 0–20 ms. At the receiver: no order inversion
/// and no progress after a job's terminal event, and every job's terminal event is delivered.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ThrottledDeliveryEndToEndTests {
    /// What the receiver saw, per job, in arrival order.
    final class Receipts: Sendable {
        struct Line: Sendable {
            var sequence: Int64
            var event: String
            var answered: Int
        }
        let lines = Mutex<[String: [Line]]>([:])
        let terminalDelivered = AsyncRecorder<String>()
    }

    struct Payload: Decodable {
        var event: String
        var sequence: Int64
        var job_id: String
    }

    @Test(arguments: 1...3)
    func throttleOnFailingReceiverTwoHundredJobsNoInversions(repetition: Int) async throws {
        let receipts = Receipts()
        let server = try await ScriptedHTTPServer.start { request in
            if request.method == "GET" { return .status(200, body: Array(repeating: 7, count: 2_000)) }
            guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(request.body)) else { return .status(400) }
            // A random 30 % of first and second attempts fail; third attempts succeed, so every
            // event is answered within its quick attempts and the run's length stays bounded
            // (background retries would wait 5 s, 30 s, 2 min …).
            let attempt = Int(request.header("x-webhook-attempt") ?? "1") ?? 1
            let failing = attempt < 3 && Int.random(in: 0..<100) < 30
            let status = failing ? 503 : 204
            receipts.lines.withLock {
                $0[payload.job_id, default: []].append(.init(sequence: payload.sequence, event: payload.event, answered: status))
            }
            if !failing && (payload.event == "job.completed" || payload.event == "job.failed") {
                receipts.terminalDelivered.record(payload.job_id)
            }
            let delay = Duration.milliseconds(Int64.random(in: 0...20))
            return .delayed(delay, failing ? .status(503) : .noContent)
        }
        let jobs = 200
        try await WorkerHarness.run([
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0.05", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.01",
            "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "8",
        ]) { h in
            for index in 0..<jobs {
                let body = #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))", "external_job_id": "r\#(repetition)-\#(index)", "max_clips": 2}"#
                let response = try await h.call("POST", "/ai-clipping/jobs", json: body)
                #expect(response.status == 202)
            }
            // A paused origin (5 failures in a row) is probed after 5, 10, 20 … s: allow for a few pauses.
            do {
                try await receipts.terminalDelivered.wait(count: jobs, timeout: .seconds(120))
            } catch {
                let delivered = Set(receipts.terminalDelivered.values)
                let missing = receipts.lines.withLock { lines in lines.filter { !delivered.contains($0.key) } }
                for (job, lines) in missing.prefix(3) {
                    let deliveries = try await h.call("GET", "/ai-clipping/jobs/\(job)/deliveries")
                    Issue.record("job \(job) never got its terminal event delivered: received \(lines.map { "\($0.sequence):\($0.event):\($0.answered)" }); store: \(String(decoding: deliveries.body, as: UTF8.self))")
                }
                throw error
            }
        }
        let perJob = receipts.lines.withLock { $0 }
        #expect(perJob.count == jobs)
        let order = ReceiverOrderCheck(perJob.mapValues { $0.map { ($0.sequence, $0.event) } })
        #expect(order.inversions == 0)
        #expect(order.progressAfterTerminal == 0)
        try await server.shutdown()
    }
}
