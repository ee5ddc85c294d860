import CurlTransport
import Foundation
import Logging
import OutboxPostgres
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing
import WebhookCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport

/// The unchanged dispatcher on the shared store, against a real loopback receiver: what a dead
/// worker left pending is claimed, delivered once and in per-job order, and recorded; an event
/// the dispatcher appends itself is delivered and recorded under the lease its append took.
@Suite(.enabled(if: !TestPostgres.skipped, "CLIPPING_WORKER_TEST_SKIP_POSTGRES=1"), .timeLimit(.minutes(2)))
struct PostgresDispatcherTests {
    static let signer = WebhookSigner(secrets: [WebhookSecret.generate()])
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a dispatcher on `store` in a ServiceGroup for the body, then shuts it down gracefully.
    static func run(
        store: PostgresOutboxStore, _ body: (WebhookDispatcher<PostgresOutboxStore, CurlHTTPClient, SystemClock>) async throws -> Void
    ) async throws {
        let client = CurlClientConfiguration(
            connectTimeout: .seconds(1), totalTimeout: .seconds(2),
            networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))
        try await CurlHTTPClient.withClient(configuration: client) { sender in
            let dispatcher = WebhookDispatcher(store: store, sender: sender, clock: SystemClock(), signer: signer, logger: logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [dispatcher], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    try await body(dispatcher)
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func aDeadWorkersEventsAreClaimedDeliveredInOrderAndRecorded() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        try await TestPostgres.withSchema { database in
            // A worker stored these and died before sending them: two jobs in progress, and one
            // whose terminal event was stored after its (now pointless) started event.
            let left = try await database.withStore { store, client in
                var left = [OutboxEvent]()
                for job in ["a", "b"] {
                    left += try await store.append(
                        [Sample.draft(.started, job: job, url: server.url()), Sample.draft(job: job, url: server.url()),
                         Sample.draft(job: job, url: server.url())], at: Sample.now)
                }
                left += try await store.append(
                    [Sample.draft(.started, job: "c", url: server.url()), Sample.draft(.completed, job: "c", url: server.url())],
                    at: Sample.now)
                try await client.query("UPDATE webhook_jobs SET lease_until = now() - interval '1 second'")
                return left
            }
            let superseded = left.filter { $0.jobID == "c" && $0.kind == .started }
            let sent = left.filter { !superseded.contains($0) }
            try await database.withStore { store, _ in
                try await Self.run(store: store) { _ in
                    let received = try await server.received.wait(count: sent.count)
                    let ids = received.compactMap { $0.headers["webhook-id"] }
                    #expect(ids.count == sent.count)
                    #expect(Set(ids) == Set(sent.map(\.id.description)))
                    // Per job, in sequence order.
                    for job in ["a", "b", "c"] {
                        let order = ids.compactMap { id in sent.first { $0.id.description == id && $0.jobID == job } }
                        #expect(order.map(\.sequence) == (job == "c" ? [2] : [1, 2, 3]))
                    }
                    // Every outcome is recorded (under the claim's lease, so nothing was fenced).
                    let began = ContinuousClock.now
                    while try await store.pendingCount() > 0, ContinuousClock.now - began < .seconds(10) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(try await store.pendingCount() == 0)
                    for event in sent {
                        let history = try #require(try await store.history(of: event.id))
                        #expect(history.event.state == .delivered)
                        #expect(history.attempts.map(\.statusCode) == [204])
                    }
                    #expect(try await store.history(of: superseded[0].id)?.event.state == .superseded)
                }
            }
        }
        try await server.shutdown()
    }

    @Test func anEventTheDispatcherAppendsIsDeliveredAndRecordedUnderItsAppendsLease() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        try await TestPostgres.withSchema { database in
            try await database.withStore { store, _ in
                try await Self.run(store: store) { dispatcher in
                    let delivery = try await dispatcher.publishTerminal(Sample.draft(.completed, job: "own", url: server.url()))
                    #expect(delivery == .delivered(attempts: 1))
                    #expect(store.heldLease(of: "own") != nil)
                    let began = ContinuousClock.now
                    while try await store.pendingCount() > 0, ContinuousClock.now - began < .seconds(10) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let history = try #require(try await store.histories(ofJob: "own").first)
                    #expect(history.event.state == .delivered)
                    #expect(history.attempts.count == 1)
                }
            }
        }
        try await server.shutdown()
    }

    /// Behind a paused origin the jobs' queues leave memory, and are read back from the shared
    /// store (under the jobs' leases, which the lease loop keeps renewing) when the receiver
    /// answers again: everything delivered once, in per-job order.
    @Test func evictedQueuesAreReadBackFromTheSharedStore() async throws {
        let down = Mutex(true)
        // (job, sequence, webhook-id) of each request answered 2xx, in arrival order.
        let answered = Mutex<[(String, Int, String)]>([])
        let server = try await ScriptedHTTPServer.start { request in
            if down.withLock({ $0 }) { return .status(503) }
            if let body = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
                let job = body["job_id"] as? String, let sequence = body["sequence"] as? Int
            {
                answered.withLock { $0.append((job, sequence, request.headers["webhook-id"] ?? "")) }
            }
            return .noContent
        }
        try await TestPostgres.withSchema { database in
            try await database.withStore { store, _ in
                try await Self.run(store: store) { dispatcher in
                    var published = [String: Int]()
                    for job in 0..<8 {
                        for _ in 0..<3 {
                            try await dispatcher.publish(Sample.draft(job: "job-\(job)", url: server.url()))
                            published["job-\(job)", default: 0] += 1
                        }
                    }
                    // Five failures pause the origin; the parked jobs give their queues up.
                    let began = ContinuousClock.now
                    while await dispatcher.status.jobsEvicted < 4, ContinuousClock.now - began < .seconds(10) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let parked = await dispatcher.status
                    #expect(parked.pausedOrigins == 1 && parked.jobsEvicted >= 4, "\(parked)")
                    // The throttle (5 s, the default) holds each job's later updates: one event per job so far.
                    #expect(parked.pendingEvents >= 8)
                    down.withLock { $0 = false }
                    // The probe (5 s after the pause) resumes the origin; the queues are read back. Each
                    // job's held updates become one more event at the throttle's trailing edge (5 s
                    // after its first): waited for too, or the store may be empty between the two.
                    func jobsWithTwoAnswers() -> Int {
                        let jobs = answered.withLock { $0.map(\.0) }
                        return Set(jobs.filter { job in jobs.filter { $0 == job }.count >= 2 }).count
                    }
                    while try await store.pendingCount() > 0 || jobsWithTwoAnswers() < 8,
                        ContinuousClock.now - began < .seconds(30)
                    {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    #expect(try await store.pendingCount() == 0)
                    #expect(await dispatcher.status.jobsEvicted == 0)
                }
            }
        }
        // Per job: the 2xx answers in sequence order, each event once.
        let lines = answered.withLock { $0 }
        #expect(Set(lines.map(\.0)).count == 8)
        #expect(Set(lines.map(\.2)).count == lines.count)
        for job in Set(lines.map(\.0)) {
            let sequences = lines.filter { $0.0 == job }.map(\.1)
            #expect(sequences == sequences.sorted(), "\(job): \(sequences)")
        }
        try await server.shutdown()
    }
}
