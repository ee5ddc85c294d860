import CurlTransport
import Foundation
import OutboxSQLite
import Synchronization
import Testing
import WebhookCore
import WebhookDispatch
import WebhookTestSupport

private typealias H = DispatcherHarness

/// Jobs parked behind a paused origin give their queues up (their events are in the store only)
/// and get them back when the origin is probed and resumes: over a real SQLite file and a real
/// loopback receiver, nothing is lost, nothing is sent twice, and each job's order holds.
struct EvictionTests {
    @Test func aDeadReceiversBacklogLeavesMemoryAndIsDeliveredInOrderWhenItReturns() async throws {
        let healthy = ReplyCounter()
        // webhook-ids answered 2xx, in the order the receiver answered them.
        let answered = Mutex<[String]>([])
        let server = try await ScriptedHTTPServer.start { request in
            guard healthy.current > 0 else { return .status(503) }
            answered.withLock { $0.append(request.header("webhook-id") ?? "") }
            return .noContent
        }
        let path = H.temporaryDirectory() + "/outbox.sqlite"
        let store = try SQLiteOutboxStore(path: path)
        let clock = ManualClock()
        let start = clock.now
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        let observer = RecordingObserver()
        try await H.run(store: store, clock: clock, configuration: configuration, observer: observer) { dispatcher in
            // Five first attempts fail: the origin is paused.
            for job in 0..<5 { try await dispatcher.publish(H.draft(.progress, job: "first-\(job)", url: server.url())) }
            try await observer.wait(for: 5, where: { $0.outcome == .retrying })
            #expect(await dispatcher.status.pausedOrigins == 1)
            // The backlog: 20 jobs of five progress events, 10 jobs of three and a terminal event
            // (which does not wait: the origin is paused).
            for job in 0..<20 {
                for percent in 1...5 {
                    try await dispatcher.publish(H.draft(.progress, job: "long-\(job)", url: server.url(), percent: percent * 10))
                }
            }
            for job in 0..<10 {
                for percent in 1...3 {
                    try await dispatcher.publish(H.draft(.progress, job: "done-\(job)", url: server.url(), percent: percent * 10))
                }
                let outcome = try await dispatcher.publishTerminal(H.draft(.completed, job: "done-\(job)", url: server.url()))
                guard case .queued = outcome else {
                    Issue.record("a terminal event behind a paused origin returned \(outcome)")
                    return
                }
            }
            // The retries of the first five come due at +1 s: they park too.
            clock.advance(by: .seconds(1))
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            let parked = await dispatcher.status
            #expect(parked.pendingEvents == 5 + 20 * 5 + 10 * 4)
            // Every parked job gave its queue up: the events are in the store only.
            #expect(parked.jobsEvicted == 35, "\(parked.jobsEvicted) of 35 jobs evicted")
            #expect(parked.bodyCacheBytes == 0)
            #expect(try await store.pendingCount() == 145)

            // The receiver is back; the probe at +5 s is carried by a job read back for it.
            healthy.next()
            clock.advance(to: start.advanced(by: .seconds(5)))
            // 5 + 100 progress events and 10 terminal ones delivered; the 30 progress events of
            // the finished jobs superseded by their terminal events.
            try await observer.wait(for: 115, timeout: .seconds(30), where: { $0.outcome == .delivered })
            try await observer.wait(for: 30, where: { $0.outcome == .superseded })
            let after = await dispatcher.status
            #expect(after.pendingEvents == 0 && after.jobsEvicted == 0 && after.pausedOrigins == 0)
        }
        #expect(try await store.pendingCount() == 0)
        let records = observer.records.values
        // Per job: delivered in sequence order; nothing of a job after its terminal event.
        var delivered: [String: [DeliveryRecord]] = [:]
        for record in records where record.outcome == .delivered { delivered[record.jobID, default: []].append(record) }
        #expect(delivered.count == 35)
        for (jobID, list) in delivered {
            let sequences = list.map(\.sequence)
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count, "\(jobID): \(sequences)")
            if let terminal = list.firstIndex(where: { $0.kind.isTerminal }) { #expect(terminal == list.count - 1, "\(jobID)") }
        }
        #expect(delivered.values.filter { $0.count == 5 }.count == 20)
        // The receiver answered each event 2xx exactly once.
        let ids = answered.withLock { $0 }
        #expect(ids.count == 115 && Set(ids).count == 115, "\(ids.count) answers, \(Set(ids).count) distinct")
        store.close()
        try await server.shutdown()
    }
}
