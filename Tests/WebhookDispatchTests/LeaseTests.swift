import Synchronization
import Testing
import WebhookCore
import WebhookDispatch
import WebhookTestSupport

/// The dispatcher's side of job leases, on a store whose leases lapse (as a shared store's do):
/// a job whose lease moves to another worker is given up at once — no further attempt, its
/// waiter released — and idle jobs' leases are released.
@Suite(.timeLimit(.minutes(1)))
struct LeaseTests {
    typealias H = DispatcherHarness

    /// An in-memory store whose leases last 3 s and can be taken away by the test.
    final class ExpiringLeaseStore: ForwardingOutboxStore {
        let inner = InMemoryOutboxStore()
        let stolen = Mutex<Set<String>>([])
        let released = AsyncRecorder<String>()
        let renewals = AsyncRecorder<Int>()

        /// Renewed every 0.5 s: before the terminal event's second quick attempt (+1 s).
        var leaseDuration: Duration? { .milliseconds(1500) }
        func renewLeases(_ leases: [JobLease], at time: Timestamp) async throws(OutboxError) -> [JobLease] {
            renewals.record(leases.count)
            let stolen = self.stolen.withLock { $0 }
            return leases.filter { stolen.contains($0.jobID) }
        }
        func releaseLease(_ lease: JobLease) async throws(OutboxError) {
            released.record(lease.jobID)
            try await inner.releaseLease(lease)
        }
    }

    @Test func aLostLeaseStopsTheJobsAttemptsAndAnIdleOneIsReleased() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            String(decoding: request.body, as: UTF8.self).contains("\"job_id\":\"lost\"") ? .status(503) : .noContent
        }
        let store = ExpiringLeaseStore()
        // Left pending by a worker that died: both jobs are claimed at start.
        _ = try await store.append(
            [try H.draft(.completed, job: "lost", url: server.url()), try H.draft(.completed, job: "done", url: server.url())],
            at: Timestamp(milliseconds: 1_700_000_000_000))
        await store.inner.simulateRestart()
        let clock = ManualClock()
        try await H.run(store: store, clock: clock) { dispatcher in
            try await server.received.wait(count: 2)
            await H.waitForStatus(dispatcher) { $0.jobsTracked <= 1 }
            #expect(await dispatcher.status.jobsTracked == 1)
            // Another worker takes job "lost" over; the next renewal (every 0.5 s) finds out.
            store.stolen.withLock { _ = $0.insert("lost") }
            try await clock.waitForSleeper(until: clock.now.advanced(by: .milliseconds(500)))
            clock.advance(by: .milliseconds(500))
            try await store.released.wait(count: 1)
            #expect(store.released.values == ["done"])
            await H.waitForStatus(dispatcher) { $0.jobsTracked <= 0 }
            #expect(await dispatcher.status.jobsTracked == 0)
            #expect(await dispatcher.status.pendingEvents == 0)
            // Its retry time comes and goes: no attempt, it belongs to the other worker now.
            clock.advance(by: .seconds(10))
            try await clock.waitForSleeper()
        }
        #expect(server.received.values.count == 2)
        try await server.shutdown()
    }

    /// The probe's job is taken over by another worker while the probe is in flight: the probe's
    /// answer still settles the breaker (it was left probing with nothing in flight, the origin
    /// paused for good), and the origin's other jobs go on.
    @Test func aProbeWhoseJobWasTakenOverStillSettlesTheBreaker() async throws {
        let gate = ReplyGate()
        let requests = ReplyCounter()
        let server = try await ScriptedHTTPServer.start { _ in
            requests.next() == 1 ? .status(503) : .gated(gate, .noContent)
        }
        let store = ExpiringLeaseStore()
        // Left pending by a worker that died: both jobs are claimed (leased) at start.
        _ = try await store.append(
            [try H.draft(.progress, job: "first", url: server.url()), try H.draft(.progress, job: "other", url: server.url())],
            at: Timestamp(milliseconds: 1_700_000_000_000))
        await store.inner.simulateRestart()
        let clock = ManualClock()
        let start = clock.now
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        configuration.breakerFailureThreshold = 1
        configuration.perOriginConcurrency = 1
        let observer = RecordingObserver()
        // The probe is held at the gate while the lease loop finds the takeover, which can take
        // seconds on a loaded machine: past the harness's 2 s attempt limit the probe would time
        // out and pause the origin again. The limit is not what is tested.
        try await H.run(
            store: store, clock: clock, configuration: configuration,
            client: H.clientConfiguration(timeout: .seconds(30)), observer: observer
        ) { dispatcher in
            // One attempt at a time: the first fails and pauses the origin; the other job parks.
            try await observer.wait(for: 1, where: { $0.outcome == .retrying })
            await H.waitForStatus(dispatcher) { $0.jobsEvicted == 1 }
            #expect(await dispatcher.status.pausedOrigins == 1)
            // The probe at +5 s is carried by one of the two jobs; its answer is held back.
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            clock.advance(to: start.advanced(by: .seconds(5)))
            let probe = try await server.received.wait(count: 2)[1]
            let carrier = String(decoding: probe.body, as: UTF8.self).contains("\"job_id\":\"first\"") ? "first" : "other"
            // Another worker takes that job over; a renewal (every 0.5 s) finds out. The lease
            // loop may not be asleep again yet when the clock moves (the sleeper waited for can
            // be another loop's): the clock moves on until the job is let go.
            store.stolen.withLock { _ = $0.insert(carrier) }
            for _ in 0..<20 where await dispatcher.status.jobsTracked > 1 {
                try await clock.waitForSleeper()
                clock.advance(by: .milliseconds(500))
                for _ in 0..<50 where await dispatcher.status.jobsTracked > 1 { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(await dispatcher.status.jobsTracked <= 1, "the lost lease was never noticed")
            // The probe succeeds: the origin resumes and the remaining job is delivered.
            gate.open()
            await H.waitForStatus(dispatcher) { $0.pausedOrigins == 0 }
            #expect(await dispatcher.status.pausedOrigins == 0)
            let remaining = carrier == "first" ? "other" : "first"
            try await observer.wait(for: 1, where: { $0.outcome == .delivered && $0.jobID == remaining })
        }
        try await server.shutdown()
    }
}

/// A job awaiting its terminal event is resumed on every path out of the dispatcher.
@Suite(.timeLimit(.minutes(1)))
struct TerminalWaiterTests {
    typealias H = DispatcherHarness

    /// A store that cannot be read at start.
    final class UnreadableStore: ForwardingOutboxStore {
        let inner = InMemoryOutboxStore()
        func claimJobs(limit: Int, at time: Timestamp) async throws(OutboxError) -> [ClaimedJob] {
            throw OutboxError(.readFailed, "disk I/O error")
        }
        func health() async -> StoreHealth { .unavailable("disk I/O error") }
    }

    @Test func aFailedRecoveryFailsTheWaitingPublishersInsteadOfParkingThem() async throws {
        let dispatcher = WebhookDispatcher(
            store: UnreadableStore(), sender: NeverAnsweringSender(), clock: ManualClock(), signer: H.signer,
            logger: H.logger)
        let draft = try H.draft(.completed, job: "j", url: "http://127.0.0.1:9/hook")
        let waiting = Task { () async -> OutboxError? in
            do {
                _ = try await dispatcher.publishTerminal(draft)
                return nil
            } catch let error as OutboxError {
                return error
            } catch {
                return nil
            }
        }
        await #expect(throws: OutboxError.self) { try await dispatcher.run() }
        let error = await waiting.value
        #expect(error?.code == OutboxError.Code.readFailed)
    }

    @Test func cancellingTheWaitingJobReleasesItsWait() async throws {
        // The receiver never answers within the test: the wait only ends by cancellation.
        let server = try await ScriptedHTTPServer.start { _ in .hang }
        try await H.run(store: InMemoryOutboxStore(), clock: ManualClock(), client: H.clientConfiguration(timeout: .seconds(30))) {
            dispatcher in
            let waiting = Task { try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) }
            try await server.received.wait(count: 1)
            waiting.cancel()
            #expect(try await waiting.value == .queued(nextAttemptAt: nil))
            try await server.shutdown()
        }
    }
}

/// A sender that never answers (its sends wait until cancelled).
struct NeverAnsweringSender: WebhookSender {
    func send(_ request: WebhookRequest) async throws(TransportError) -> WebhookResponse {
        do {
            try await Task.sleep(for: .seconds(3600))
        } catch {
            throw TransportError(.cancelled, "cancelled")
        }
        throw TransportError(.timedOut, "never answered")
    }
}
