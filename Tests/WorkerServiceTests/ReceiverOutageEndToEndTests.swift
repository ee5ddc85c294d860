import CurlTransport
import Foundation
import Synchronization
import Testing
import WebhookTestSupport

/// A receiver that is down for a while, on default delivery settings (throttle 5 s, breaker,
/// probes), through a whole worker in this process (real SQLite, real curl, real HTTP API): the
/// origin pauses, the parked jobs' queues leave memory (`clipping_worker_webhook_jobs_evicted`),
/// and when the receiver is back every job's terminal event arrives, each event is answered 2xx
/// once, with no order inversion and no progress after a terminal event.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReceiverOutageEndToEndTests {
    struct Payload: Decodable {
        var event: String
        var sequence: Int64
        var job_id: String
    }

    final class Receiver: Sendable {
        struct Line: Sendable {
            var sequence: Int64
            var event: String
            var id: String
            var answered: Int
        }
        let down = Mutex(true)
        let lines = Mutex<[String: [Line]]>([:])
        let terminalDelivered = AsyncRecorder<String>()
    }

    static func gauge(_ name: String, in metrics: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func aReceiverDownForAWhileGetsEveryJobInOrderWhenItReturns() async throws {
        let receiver = Receiver()
        let server = try await ScriptedHTTPServer.start { request in
            if request.method == "GET" { return .status(200, body: Array(repeating: 7, count: 2_000)) }
            guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(request.body)) else { return .status(400) }
            let status = receiver.down.withLock { $0 } ? 503 : 204
            receiver.lines.withLock {
                $0[payload.job_id, default: []].append(
                    .init(sequence: payload.sequence, event: payload.event, id: request.header("webhook-id") ?? "", answered: status))
            }
            if status == 204 && (payload.event == "job.completed" || payload.event == "job.failed") {
                receiver.terminalDelivered.record(payload.job_id)
            }
            return .delayed(.milliseconds(Int64.random(in: 0...20)), .status(status))
        }
        let jobs = 60
        // The delivery settings left at their defaults (the harness sets the throttle to 0).
        try await WorkerHarness.run([
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "5", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "8",
        ]) { h in
            for index in 0..<jobs {
                let body = #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))", "external_job_id": "outage-\#(index)", "max_clips": 2}"#
                #expect(try await h.call("POST", "/ai-clipping/jobs", json: body).status == 202)
            }
            // Paused, and the parked jobs' events in the store only.
            var evicted = 0.0
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let metrics = String(decoding: try await h.call("GET", "/metrics").body, as: UTF8.self)
                evicted = Self.gauge("clipping_worker_webhook_jobs_evicted", in: metrics) ?? 0
                if evicted >= 10 && Self.gauge("clipping_worker_webhook_origins_paused", in: metrics) == 1 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(evicted >= 10, "\(evicted) jobs evicted")
            receiver.down.withLock { $0 = false }
            // The next probe (at most 10 s after the last) resumes the origin.
            try await receiver.terminalDelivered.wait(count: jobs, timeout: .seconds(90))
            let metrics = String(decoding: try await h.call("GET", "/metrics").body, as: UTF8.self)
            #expect(Self.gauge("clipping_worker_webhook_jobs_evicted", in: metrics) == 0)
            #expect(Self.gauge("clipping_worker_webhook_origins_paused", in: metrics) == 0)
        }
        let perJob = receiver.lines.withLock { $0 }
        #expect(perJob.count == jobs)
        let order = ReceiverOrderCheck(perJob.mapValues { $0.map { ($0.sequence, $0.event) } })
        #expect(order.inversions == 0)
        #expect(order.progressAfterTerminal == 0)
        // Each event answered 2xx once.
        let answered = perJob.values.flatMap { $0.filter { $0.answered == 204 }.map(\.id) }
        #expect(Set(answered).count == answered.count)
        try await server.shutdown()
    }
}
