import DeliveryLog
import Foundation
import MetricsTestKit
import Testing
import WebhookCore
import WebhookDispatch
import WebhookTestSupport

/// What operators see: metrics and the delivery log, produced by a real dispatcher run.
@Suite(.timeLimit(.minutes(1)))
struct ObservabilityTests {
    typealias H = DispatcherHarness

    @Test func metricsCountOutcomesDurationsDepthAndPausedOrigins() async throws {
        let counter = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in counter.next() == 1 ? .status(503) : .noContent }
        let dead = try await ScriptedHTTPServer.start { _ in .status(500) }
        let metrics = TestMetrics()
        let clock = ManualClock()
        var configuration = DispatcherConfiguration()
        configuration.breakerFailureThreshold = 2
        let observer = RecordingObserver()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, configuration: configuration, observer: observer, metrics: metrics) { dispatcher in
            let result = Task { try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) }
            try await server.received.wait(count: 1)
            // The retry's timer, not any sleeper (the origin pruner sleeps too).
            try await clock.waitForSleeper(until: clock.now.advanced(by: .seconds(1)))
            clock.advance(by: .seconds(1))
            #expect(try await result.value == .delivered(attempts: 2))
            // Two failures in a row pause the dead origin; its two events stay pending.
            try await dispatcher.publish(H.draft(.started, job: "k1", url: dead.url()))
            try await dispatcher.publish(H.draft(.started, job: "k2", url: dead.url()))
            try await observer.wait(for: 2, where: { $0.jobID.hasPrefix("k") })
            #expect(try metrics.expectGauge("clipping_worker_webhook_origins_paused").lastValue == 1)
        }
        let label = "clipping_worker_webhook_attempts_total"
        #expect(try metrics.expectCounter(label, [("event", "job.completed"), ("outcome", "retrying")]).totalValue == 1)
        #expect(try metrics.expectCounter(label, [("event", "job.completed"), ("outcome", "delivered")]).totalValue == 1)
        #expect(try metrics.expectCounter(label, [("event", "job.started"), ("outcome", "retrying")]).totalValue == 2)
        // Events finished, by final state: the completed one delivered, nothing else ended yet.
        let finished = "clipping_worker_webhook_events_finished_total"
        #expect(try metrics.expectCounter(finished, [("event", "job.completed"), ("state", "delivered")]).totalValue == 1)
        #expect(try metrics.expectCounter(finished, [("event", "job.started"), ("state", "failed")]).totalValue == 0)
        let timer = try metrics.expectTimer("clipping_worker_webhook_attempt_duration_seconds", [("event", "job.completed")])
        #expect(timer.values.count == 2)
        #expect(timer.values.allSatisfy { $0 > 0 })
        try await server.shutdown()
        try await dead.shutdown()
    }

    @Test func deliveryLogHasALinePerAttemptAndPerFinalDecision() async throws {
        let directory = H.temporaryDirectory()
        let log = try DeliveryLogWriter(directory: directory + "/logs")
        let server = try await ScriptedHTTPServer.start { request in
            request.uri.contains("fail") ? .status(400) : .noContent
        }
        let clock = ManualClock()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, observer: log) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "a", url: server.url("/ok?token=secret-value")))
            try await dispatcher.publish(H.draft(.progress, job: "a", url: server.url("/ok?token=secret-value")))
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "a", url: server.url("/ok?token=secret-value"))) == .delivered(attempts: 1))
            #expect(try await dispatcher.publishTerminal(H.draft(.failed, job: "b", url: server.url("/fail"))) == .failed(reason: "HTTP 400"))
        }
        log.close()
        let text = try String(contentsOfFile: log.path, encoding: .utf8)
        #expect(!text.contains("secret-value"))
        let lines = try text.split(separator: "\n").map { try JSONDecoder().decode(DeliveryLogLine.self, from: Data($0.utf8)) }
        // a: progress delivered, held progress discarded (never stored, so no line), completed delivered; b: failed.
        #expect(lines.map(\.outcome) == ["delivered", "delivered", "failed"])
        #expect(lines[0].url.hasSuffix("/ok?token=REDACTED"))
        #expect(lines[2].statusCode == 400 && lines[2].error == "HTTP 400" && lines[2].attempt == 1)
    }
}
