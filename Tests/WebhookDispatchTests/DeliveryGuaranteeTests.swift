import CurlTransport
import DeliveryLog
import Foundation
import OutboxSQLite
import Testing
import WebhookCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport

/// SPEC section 6, end to end: real SQLite file, real curl, real loopback receiver.
@Suite(.timeLimit(.minutes(1)))
struct DeliveryGuaranteeTests {
    typealias H = DispatcherHarness

    func sqliteStore() throws -> SQLiteOutboxStore {
        try SQLiteOutboxStore(path: H.temporaryDirectory() + "/outbox.sqlite")
    }

    @Test func deliversSignedEventsInOrderPerJob() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let store = try sqliteStore()
        let jobs = 8
        let perJob = 12
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        let observer = RecordingObserver()
        var bodyCacheBytesAtEnd = -1
        try await H.run(store: store, clock: SystemClock(), configuration: configuration, observer: observer) { dispatcher in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for job in 0..<jobs {
                    group.addTask {
                        try await dispatcher.publish(H.draft(.started, job: "job-\(job)", url: server.url()))
                        for step in 1..<perJob - 1 {
                            try await dispatcher.publish(H.draft(.progress, job: "job-\(job)", url: server.url(), percent: step))
                        }
                        let result = try await dispatcher.publishTerminal(H.draft(.completed, job: "job-\(job)", url: server.url()))
                        #expect(result == .delivered(attempts: 1))
                    }
                }
                try await group.waitForAll()
            }
            bodyCacheBytesAtEnd = await dispatcher.status.bodyCacheBytes
        }
        // Progress still queued when a terminal event is stored is superseded (SPEC section 6);
        // every stored event is either received or superseded.
        let requests = server.received.values
        let superseded = observer.records.values.filter { $0.outcome == .superseded }
        #expect(requests.count + superseded.count == jobs * perJob)
        #expect(superseded.allSatisfy { $0.kind == .progress })
        let verifier = try WebhookVerifier(secrets: [H.secret])
        var lastSequence = [String: Int64]()
        for request in requests {
            let payload = try H.payload(request)
            // Per-job order: strictly increasing sequence; gaps only where an event was superseded.
            let previous = lastSequence[payload.jobID] ?? 0
            #expect(payload.sequence > previous)
            for missing in (previous + 1)..<payload.sequence {
                #expect(superseded.contains { $0.jobID == payload.jobID && $0.sequence == missing })
            }
            lastSequence[payload.jobID] = payload.sequence
            #expect(request.header("webhook-id") == payload.eventID)
            #expect(request.header("x-webhook-event") == payload.event)
            #expect(request.header("x-webhook-attempt") == "1")
            #expect(request.header("content-type") == "application/json")
            #expect(request.header("user-agent")?.hasPrefix("clipping-worker/") == true)
            let verified = verifier.verify(
                id: request.header("webhook-id") ?? "", timestamp: request.header("webhook-timestamp") ?? "",
                body: request.body, signatureHeader: request.header("webhook-signature") ?? "")
            #expect((try? verified.get()) != nil)
            #expect((try? verifier.verifyLegacy(body: request.body, hexSignature: request.header("x-webhook-signature") ?? "").get()) != nil)
        }
        #expect(lastSequence.count == jobs)
        // Every body the cache was charged for was given back (superseded ones included).
        #expect(bodyCacheBytesAtEnd == 0)
        #expect(lastSequence.values.allSatisfy { $0 == Int64(perJob) })
        #expect(requests.allSatisfy { (try? H.payload($0).event) != "job.completed" || (try? H.payload($0).sequence) == Int64(perJob) })
        #expect(try await store.pendingCount() == 0)
        // Keep-alive: the whole run used a handful of connections, not one per delivery.
        #expect(server.connectionsAccepted <= 32)
        try await server.shutdown()
    }

    @Test func terminalEventGetsThreeQuickAttempts() async throws {
        let counter = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in counter.next() < 3 ? .status(503) : .noContent }
        let clock = ManualClock()
        let start = clock.now
        let observer = RecordingObserver()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, observer: observer) { dispatcher in
            let result = Task { try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) }
            try await server.received.wait(count: 1)
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(1)))
            clock.advance(by: .seconds(1))
            try await server.received.wait(count: 2)
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(3)))
            clock.advance(by: .seconds(2))
            #expect(try await result.value == .delivered(attempts: 3))
        }
        let records = observer.records.values
        #expect(records.map(\.outcome) == [.retrying, .retrying, .delivered])
        #expect(records.map(\.nextAttemptAt) == [start.advanced(by: .seconds(1)), start.advanced(by: .seconds(3)), nil])
        #expect(records.map(\.statusCode) == [503, 503, 204])
        let attempts = try await server.received.wait(count: 3).map { $0.header("x-webhook-attempt") }
        #expect(attempts == ["1", "2", "3"])
        let ids = Set(try await server.received.wait(count: 3).map { $0.header("webhook-id") })
        #expect(ids.count == 1)
        try await server.shutdown()
    }

    @Test func failingTerminalEventGoesToTheBackgroundScheduleUntilMaxAge() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(500) }
        let clock = ManualClock()
        let start = clock.now
        var configuration = DispatcherConfiguration()
        configuration.retryPolicy = RetryPolicy(
            quickDelays: [.seconds(1), .seconds(2)], backgroundSchedule: [.seconds(10), .seconds(60)],
            maxAge: .seconds(150), jitterFraction: 0)
        configuration.breakerFailureThreshold = 100
        let observer = RecordingObserver()
        let store = InMemoryOutboxStore()
        try await H.run(store: store, clock: clock, configuration: configuration, observer: observer) { dispatcher in
            let result = Task { try await dispatcher.publishTerminal(H.draft(.failed, job: "j", url: server.url())) }
            // Attempts at 0, 1, 3 (quick), then +10 = 13, +60 = 73, +60 = 133; the next (193) is past 150.
            for (index, at) in [1, 3, 13, 73, 133].enumerated() {
                try await server.received.wait(count: index + 1)
                try await clock.waitForSleeper(until: start.advanced(by: .seconds(at)))
                if index == 2 {
                    // The job stops waiting after the third quick attempt.
                    #expect(try await result.value == .queued(nextAttemptAt: start.advanced(by: .seconds(13))))
                }
                clock.advance(to: start.advanced(by: .seconds(at)))
            }
            try await observer.wait(where: { $0.outcome == .failed })
        }
        let outcomes = observer.records.values.map(\.outcome)
        #expect(outcomes == [.retrying, .retrying, .retrying, .retrying, .retrying, .failed])
        #expect(observer.records.values.last?.error?.contains("max age") == true)
        #expect(try await store.pendingCount() == 0)
        try await server.shutdown()
    }

    @Test func retryAfterIsHonouredAndCapped() async throws {
        let counter = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in
            switch counter.next() {
            case 1: .status(429, headers: [("Retry-After", "120")])
            case 2: .status(503, headers: [("Retry-After", "999999")])
            default: .noContent
            }
        }
        let clock = ManualClock()
        let start = clock.now
        let observer = RecordingObserver()
        // No origin pruning inside the test's hour (its timer would come first).
        var configuration = DispatcherConfiguration()
        configuration.originIdleTimeout = .seconds(100_000)
        try await H.run(store: InMemoryOutboxStore(), clock: clock, configuration: configuration, observer: observer) { dispatcher in
            // Longer than the quick delay: the job is released at once with the receiver's time.
            let result = try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url()))
            #expect(result == .queued(nextAttemptAt: start.advanced(by: .seconds(120))))
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(120)))
            clock.advance(by: .seconds(120))
            try await server.received.wait(count: 2)
            // 999999 s is capped at one hour.
            let capped = start.advanced(by: .seconds(120 + 3600))
            try await clock.waitForSleeper(until: capped)
            #expect(clock.nextDeadline == capped)
            clock.advance(to: capped)
            try await observer.wait(where: { $0.outcome == .delivered })
        }
        #expect(observer.records.values.map(\.nextAttemptAt).prefix(2) == [start.advanced(by: .seconds(120)), start.advanced(by: .seconds(3720))])
        // The delivery log's line shows the time the store holds, not the attempt's.
        let lines = observer.records.values.prefix(2).map { DeliveryLogLine($0) }
        #expect(lines.map(\.nextAttemptAt) == [start.advanced(by: .seconds(120)).iso8601, start.advanced(by: .seconds(3720)).iso8601])
        #expect(lines.map(\.outcome) == ["retrying", "retrying"])
        try await server.shutdown()
    }

    @Test(arguments: [(302, "redirects are not followed"), (400, "HTTP 400"), (404, "HTTP 404")])
    func finalStatusesAreNotRetried(status: Int, reason: String) async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(status, headers: [("Location", "http://127.0.0.1:1/x")]) }
        let observer = RecordingObserver()
        let store = InMemoryOutboxStore()
        try await H.run(store: store, clock: ManualClock(), observer: observer) { dispatcher in
            let result = try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url()))
            guard case .failed(let text) = result else {
                Issue.record("expected failed, got \(result)")
                return
            }
            #expect(text.contains(reason))
        }
        #expect(server.received.values.count == 1)
        #expect(observer.records.values.map(\.outcome) == [.failed])
        let history = try await store.histories(ofJob: "j")
        #expect(history.first?.event.state == .failed)
        try await server.shutdown()
    }

    @Test func goneStopsTheJobsCallbackButNotOthers() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.uri.hasPrefix("/gone") ? .status(410) : .noContent
        }
        let observer = RecordingObserver()
        let store = try sqliteStore()
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        try await H.run(store: store, clock: ManualClock(), configuration: configuration, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.started, job: "a", url: server.url("/gone")))
            try await observer.wait(where: { $0.jobID == "a" && $0.outcome == .failed })
            try await dispatcher.publish(H.draft(.progress, job: "a", url: server.url("/gone")))
            let result = try await dispatcher.publishTerminal(H.draft(.completed, job: "a", url: server.url("/gone")))
            #expect(result == .failed(reason: "callback gone (410)"))
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "b", url: server.url("/ok"))) == .delivered(attempts: 1))
        }
        // Only the first event of job a reached the receiver; later ones ended without an attempt.
        #expect(server.received.values.filter { $0.uri.hasPrefix("/gone") }.count == 1)
        let history = try await store.histories(ofJob: "a")
        #expect(history.map(\.event.state) == [.failed, .dropped, .failed])
        try await server.shutdown()
    }

    @Test(arguments: [ScriptedHTTPServer.Reply.hang, .reset, .close, .status(502)])
    func transportFailuresAndServerErrorsAreRetried(reply: ScriptedHTTPServer.Reply) async throws {
        let counter = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in counter.next() == 1 ? reply : .noContent }
        let clock = ManualClock()
        let observer = RecordingObserver()
        try await H.run(
            store: InMemoryOutboxStore(), clock: clock, client: H.clientConfiguration(timeout: .milliseconds(300)),
            observer: observer
        ) { dispatcher in
            let result = Task { try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) }
            try await observer.wait(where: { $0.outcome == .retrying })
            // The retry's timer, not any sleeper (the origin pruner sleeps too).
            try await clock.waitForSleeper(until: clock.now.advanced(by: .seconds(1)))
            clock.advance(by: .seconds(1))
            #expect(try await result.value == .delivered(attempts: 2))
        }
        #expect(observer.records.values.first?.error != nil)
        try await server.shutdown()
    }

    @Test func progressIsThrottledWithATrailingEdge() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let clock = ManualClock()
        let start = clock.now
        let observer = RecordingObserver()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.started, job: "j", url: server.url(), percent: 0))
            for percent in 1...10 {
                try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: percent))
            }
            // started + the first progress go at once; 2…10 coalesce into the trailing one.
            try await server.received.wait(count: 2)
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            #expect(server.received.values.count == 2)
            clock.advance(by: .seconds(5))
            try await server.received.wait(count: 3)
            let result = try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url()))
            #expect(result == .delivered(attempts: 1))
        }
        let payloads = try server.received.values.map(H.payload)
        #expect(payloads.map(\.event) == ["job.started", "job.progress", "job.progress", "job.completed"])
        #expect(payloads.map(\.progressPercent) == [0, 1, 10, 100])
        // Coalesced updates never became events: no gaps.
        #expect(payloads.map(\.sequence) == [1, 2, 3, 4])
        try await server.shutdown()
    }

    @Test func terminalEventDiscardsAHeldProgressUpdate() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let clock = ManualClock()
        let store = InMemoryOutboxStore()
        try await H.run(store: store, clock: clock) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 10))
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 20))
            // The held update's timer, and the origin pruning one.
            #expect(await dispatcher.status.timersArmed == 2)
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
            // The held update's timer fires, and releases nothing.
            clock.advance(by: .seconds(10))
            await H.waitForStatus(dispatcher) { $0.timersArmed <= 1 }
            #expect(await dispatcher.status.timersArmed == 1)
            #expect(await dispatcher.status.jobsTracked == 0)
        }
        // Never stored: no row, no sequence.
        #expect(try await store.histories(ofJob: "j").map(\.event.sequence) == [1, 2])
        let payloads = try server.received.values.map(H.payload)
        #expect(payloads.map(\.progressPercent) == [10, 100])
        #expect(payloads.map(\.sequence) == [1, 2])
        try await server.shutdown()
    }

    @Test func progressIsDroppedAfterThreeAttempts() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(500) }
        let clock = ManualClock()
        let start = clock.now
        let observer = RecordingObserver()
        let store = InMemoryOutboxStore()
        try await H.run(store: store, clock: clock, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url()))
            try await server.received.wait(count: 1)
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(1)))
            clock.advance(by: .seconds(1))
            try await server.received.wait(count: 2)
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(3)))
            clock.advance(by: .seconds(2))
            try await observer.wait(where: { $0.outcome == .dropped })
        }
        #expect(observer.records.values.map(\.outcome) == [.retrying, .retrying, .dropped])
        #expect(try await store.histories(ofJob: "j").map(\.event.state) == [.dropped])
        try await server.shutdown()
    }

    @Test func terminalEventSupersedesWaitingProgress() async throws {
        // The first progress event fails and waits for its retry (the manual clock never gets
        // there); the second waits behind it. The terminal event supersedes both, whatever the
        // machine's speed. (One in flight ending superseded is a JobDeliveryMachine test.)
        let server = try await ScriptedHTTPServer.start { request in
            request.header("x-webhook-event") == "job.progress" ? .status(503) : .noContent
        }
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        let observer = RecordingObserver()
        let store = InMemoryOutboxStore()
        try await H.run(store: store, clock: ManualClock(), configuration: configuration, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 10))
            try await observer.wait(where: { $0.outcome == .retrying })
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 20))
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
        }
        let payloads = try server.received.values.map(H.payload)
        #expect(payloads.map(\.sequence) == [1, 3])
        #expect(payloads.map(\.event) == ["job.progress", "job.completed"])
        #expect(try await store.histories(ofJob: "j").map(\.event.state) == [.superseded, .superseded, .delivered])
        #expect(observer.records.values.contains { $0.outcome == .superseded && $0.sequence == 2 && $0.attempt == nil })
        try await server.shutdown()
    }

    @Test func failingOriginIsPausedProbedAndResumed() async throws {
        let healthy = ReplyCounter()
        // Failures are answered after 0.5 s, so all eight first attempts are in flight before the
        // fifth failure pauses the origin, also on a loaded machine.
        let server = try await ScriptedHTTPServer.start { _ in
            healthy.current > 0 ? .noContent : .delayed(.milliseconds(500), .status(503))
        }
        let other = try await ScriptedHTTPServer.start { _ in .noContent }
        let clock = ManualClock()
        let start = clock.now
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        let observer = RecordingObserver()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, configuration: configuration, observer: observer) { dispatcher in
            // Eight jobs fail once each: the fifth failure pauses the origin, and the three
            // attempts still in flight then fail too without pushing the first probe out.
            for job in 0..<8 {
                try await dispatcher.publish(H.draft(.progress, job: "bad-\(job)", url: server.url()))
            }
            try await server.received.wait(count: 8)
            try await observer.wait(for: 8, where: { $0.outcome == .retrying })
            #expect(await dispatcher.status.pausedOrigins == 1)
            // Retries come due at +1 s but wait: no attempt is burned while paused.
            clock.advance(by: .seconds(1))
            // The timer loop has handled the +1 s timers once it sleeps again, until the probe.
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            // A healthy origin is not held up by the paused one.
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "good", url: other.url())) == .delivered(attempts: 1))
            #expect(server.received.values.count == 8)
            // The probe at +5 s fails (still 503): one attempt, then the next probe at +15 s.
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            clock.advance(to: start.advanced(by: .seconds(5)))
            try await server.received.wait(count: 9)
            try await observer.wait(for: 9, where: { $0.outcome == .retrying || $0.outcome == .dropped })
            #expect(server.received.values.count == 9)
            healthy.next()
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(15)))
            clock.advance(to: start.advanced(by: .seconds(15)))
            // The probe succeeds, the origin resumes and the parked jobs are delivered.
            try await observer.wait(for: 8, where: { $0.outcome == .delivered && $0.jobID.hasPrefix("bad") })
            #expect(await dispatcher.status.pausedOrigins == 0)
        }
        try await server.shutdown()
        try await other.shutdown()
    }

    @Test func slowOriginDoesNotStarveOthers() async throws {
        let slow = try await ScriptedHTTPServer.start { _ in .hang }
        let fast = try await ScriptedHTTPServer.start { _ in .noContent }
        var configuration = DispatcherConfiguration()
        configuration.perOriginConcurrency = 4
        configuration.breakerFailureThreshold = 1000
        try await H.run(
            store: InMemoryOutboxStore(), clock: SystemClock(), configuration: configuration,
            client: H.clientConfiguration(timeout: .seconds(30))
        ) { dispatcher in
            for job in 0..<20 {
                try await dispatcher.publish(H.draft(.started, job: "slow-\(job)", url: slow.url()))
            }
            try await slow.received.wait(count: 4)
            for job in 0..<20 {
                try await dispatcher.publish(H.draft(.started, job: "fast-\(job)", url: fast.url()))
            }
            // The fast origin's events all go out while the slow origin's four attempts still
            // hang (their timeout is 30 s): nothing waits for them, whatever the machine's speed.
            try await fast.received.wait(count: 20, timeout: .seconds(20))
            // Once the fast attempts have been answered, the four slow ones are still in flight.
            await H.waitForStatus(dispatcher) { $0.attemptsInFlight <= 4 }
            #expect(await dispatcher.status.attemptsInFlight == 4)
            // The slow origin holds no more than its limit.
            #expect(slow.received.values.count == 4)
            // Closing the slow receiver ends its hanging attempts, so shutdown does not wait 30 s.
            try await slow.shutdown()
        }
        try await fast.shutdown()
    }

    @Test func pendingEventsSurviveARestartOnTheSameFile() async throws {
        let path = H.temporaryDirectory() + "/outbox.sqlite"
        let down = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in down.current == 0 ? .status(503) : .noContent }
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        configuration.breakerFailureThreshold = 1000
        let clock = ManualClock()
        // First life: the receiver fails, events stay pending (terminal ones after their quick attempts).
        do {
            let store = try SQLiteOutboxStore(path: path)
            try await H.run(store: store, clock: clock, configuration: configuration) { dispatcher in
                for job in 0..<3 {
                    try await dispatcher.publish(H.draft(.started, job: "job-\(job)", url: server.url()))
                    try await dispatcher.publish(H.draft(.progress, job: "job-\(job)", url: server.url()))
                }
                try await server.received.wait(count: 3)
            }
            // Stored, never started: a dispatcher that is not running still stores what it is given.
            try await H.run(store: store, clock: clock, configuration: configuration) { _ in }
            store.close()
        }
        // Events stored while no dispatcher runs (e.g. the process died right after storing).
        do {
            let store = try SQLiteOutboxStore(path: path)
            _ = try await store.append(
                [try H.draft(.completed, job: "job-9", url: server.url())], at: clock.now)
            store.close()
        }
        down.next()
        clock.advance(by: .seconds(60))
        // Second life on the same file: everything pending arrives, in order per job.
        let store = try SQLiteOutboxStore(path: path)
        #expect(try await store.pendingCount() == 7)
        let observer = RecordingObserver()
        try await H.run(store: store, clock: clock, configuration: configuration, observer: observer) { _ in
            try await observer.wait(for: 7, where: { $0.outcome == .delivered })
        }
        #expect(try await store.pendingCount() == 0)
        let delivered = server.received.values.filter { (try? H.payload($0)) != nil }.suffix(7)
        var last = [String: Int64]()
        for request in delivered {
            let payload = try H.payload(request)
            #expect(payload.sequence > (last[payload.jobID] ?? 0))
            last[payload.jobID] = payload.sequence
        }
        #expect(Set(delivered.compactMap { try? H.payload($0).jobID }) == ["job-0", "job-1", "job-2", "job-9"])
        try await server.shutdown()
    }

    @Test func redeliveryKeepsTheWebhookID() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let store = try sqliteStore()
        try await H.run(store: store, clock: ManualClock()) { dispatcher in
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
            let event = try #require(try await store.histories(ofJob: "j").first).event
            _ = try await dispatcher.redeliver(event.id)
            try await server.received.wait(count: 2)
            await #expect(throws: OutboxError.self) { try await dispatcher.redeliver(EventID(high: 1, low: 2)) }
        }
        let requests = server.received.values
        #expect(requests.count == 2)
        #expect(requests[0].header("webhook-id") == requests[1].header("webhook-id"))
        #expect(requests[0].body == requests[1].body)
        #expect(requests[1].header("x-webhook-attempt") == "2")
        try await server.shutdown()
    }
}

extension DeliveryGuaranteeTests {
    /// `WEBHOOK_MAX_IN_FLIGHT` bounds attempts in all: two hanging origins take the two slots,
    /// a third origin's event waits for one and goes when it frees.
    @Test func theGlobalInFlightLimitHolds() async throws {
        let hanging = try await ScriptedHTTPServer.start { _ in .hang }
        let other = try await ScriptedHTTPServer.start { _ in .hang }
        let fast = try await ScriptedHTTPServer.start { _ in .noContent }
        var configuration = DispatcherConfiguration()
        configuration.maxInFlight = 2
        configuration.breakerFailureThreshold = 1000
        try await H.run(
            store: InMemoryOutboxStore(), clock: SystemClock(), configuration: configuration,
            client: H.clientConfiguration(timeout: .seconds(30))
        ) { dispatcher in
            try await dispatcher.publish(H.draft(.started, job: "a", url: hanging.url()))
            try await dispatcher.publish(H.draft(.started, job: "b", url: other.url()))
            try await hanging.received.wait(count: 1)
            try await other.received.wait(count: 1)
            try await dispatcher.publish(H.draft(.started, job: "c", url: fast.url()))
            // Publishing queued it and pumped it on the actor: it waits for a slot.
            #expect(await dispatcher.status.attemptsInFlight == 2)
            #expect(await dispatcher.status.jobsWaitingForASlot == 1)
            #expect(fast.received.values.isEmpty)
            // One slot frees (the receiver goes away): the waiting event goes.
            try await hanging.shutdown()
            try await fast.received.wait(count: 1)
            try await other.shutdown()
        }
        try await fast.shutdown()
    }

    /// An origin without attempts for `originIdleTimeout` is forgotten: a worker that meets many
    /// receivers once does not keep them all.
    @Test func idleOriginsAreForgotten() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let clock = ManualClock()
        try await H.run(store: InMemoryOutboxStore(), clock: clock) { dispatcher in
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
            #expect(await dispatcher.status.originsTracked == 1)
            try await clock.waitForSleeper(until: clock.now.advanced(by: .seconds(601)))
            clock.advance(by: .seconds(601))
            await H.waitForStatus(dispatcher) { $0.originsTracked <= 0 }
            // First prune at +600 s from the origin's creation saw it used at +0: forgotten now.
            #expect(await dispatcher.status.originsTracked == 0)
        }
        try await server.shutdown()
    }
}
