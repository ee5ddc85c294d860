import Foundation
import OutboxSQLite
import Synchronization
import Testing
import WebhookCore
import WebhookDispatch
import WebhookTestSupport

/// The race of SPEC section 6 "never a progress event after the terminal event", forced: a
/// progress update released by the throttle is being stored while the job's terminal event is
/// published. With the old dispatcher the two appends raced for the committer and the progress
/// could be queued behind the terminal event and sent after it. Both orders are forced here,
/// through the real dispatcher, a real SQLite file and a loopback receiver, with the throttle on.
@Suite(.timeLimit(.minutes(1)))
struct TerminalRaceTests {
    typealias H = DispatcherHarness

    /// A store whose appends of `job.progress` drafts can be held at a gate, either before they
    /// reach the database or after they committed but before the dispatcher hears of it.
    final class GatedStore: ForwardingOutboxStore {
        enum Hold: Sendable { case beforeCommit, afterCommit }
        let inner: SQLiteOutboxStore
        let hold: Hold
        private let gate = Mutex<(armed: Bool, held: CheckedContinuation<Void, Never>?, open: Bool)>((false, nil, false))
        let progressHeld = AsyncRecorder<Void>()

        init(inner: SQLiteOutboxStore, hold: Hold) {
            self.inner = inner
            self.hold = hold
        }

        /// Holds the next progress append.
        func arm() { gate.withLock { $0.armed = true } }

        /// Lets the held append go on.
        func open() {
            let held = gate.withLock { state -> CheckedContinuation<Void, Never>? in
                state.open = true
                defer { state.held = nil }
                return state.held
            }
            held?.resume()
        }

        private func waitIfArmed(_ drafts: [EventDraft]) async {
            guard drafts.contains(where: { $0.kind == .progress }) else { return }
            let armed = gate.withLock { state -> Bool in
                defer { state.armed = false }
                return state.armed
            }
            guard armed else { return }
            progressHeld.record(())
            await withCheckedContinuation { continuation in
                let go = gate.withLock { state -> Bool in
                    if state.open { return true }
                    state.held = continuation
                    return false
                }
                if go { continuation.resume() }
            }
        }

        func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent] {
            if hold == .beforeCommit { await waitIfArmed(drafts) }
            let stored = try await inner.append(drafts, at: time)
            if hold == .afterCommit { await waitIfArmed(drafts) }
            return stored
        }

    }

    @Test(arguments: [GatedStore.Hold.beforeCommit, .afterCommit])
    func aReleasedProgressUpdateRacingTheTerminalEventNeverReachesTheReceiverAfterIt(hold: GatedStore.Hold) async throws {
        // The first progress is slow to answer, so the terminal event queues behind it and is
        // not attempted yet when the late progress reaches the dispatcher.
        let server = try await ScriptedHTTPServer.start { request in
            String(decoding: request.body, as: UTF8.self).contains("\"progress_percent\":10")
                ? .delayed(.milliseconds(1500), .noContent) : .noContent
        }
        let directory = H.temporaryDirectory()
        let store = GatedStore(inner: try SQLiteOutboxStore(path: directory + "/outbox.sqlite"), hold: hold)
        let clock = ManualClock()
        let start = clock.now
        let observer = RecordingObserver()
        // The default throttle interval (5 s).
        try await H.run(store: store, clock: clock, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 10))
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url(), percent: 20))
            // The held update is released at +5 s; its append stops at the gate.
            store.arm()
            try await clock.waitForSleeper(until: start.advanced(by: .seconds(5)))
            clock.advance(by: .seconds(5))
            try await store.progressHeld.wait(count: 1)
            // Meanwhile the job ends; once its terminal event is stored, the gate opens.
            async let result = dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url()))
            let storedBeforeOpening = hold == .afterCommit ? 3 : 2
            while try await store.inner.histories(ofJob: "j").count < storedBeforeOpening {
                try await Task.sleep(for: .milliseconds(5))
            }
            store.open()
            #expect(try await result == .delivered(attempts: 1))
        }
        let payloads = try server.received.values.map(H.payload)
        #expect(payloads.map(\.event) == ["job.progress", "job.completed"])
        let states = try await store.histories(ofJob: "j").map { "\($0.event.sequence):\($0.event.kind.rawValue):\($0.event.state.rawValue)" }
        switch hold {
        case .beforeCommit:
            // The store refused the late update: no row, no sequence, no gap.
            #expect(states == ["1:job.progress:delivered", "2:job.completed:delivered"])
        case .afterCommit:
            #expect(states == ["1:job.progress:delivered", "2:job.progress:superseded", "3:job.completed:delivered"])
        }
        try await server.shutdown()
    }
}

/// Attempt records that cannot be written are retried until the store takes them, never
/// dropped (a dropped record re-sends event n after n+1 following a restart), and the
/// dispatcher reports the trouble for `/readyz` meanwhile.
@Suite(.timeLimit(.minutes(1)))
struct AttemptRecordRetryTests {
    typealias H = DispatcherHarness

    /// Fails every `apply` while `failing` is set.
    final class FlakyApplyStore: ForwardingOutboxStore {
        let inner = InMemoryOutboxStore()
        let failing = Mutex(true)
        let failures = AsyncRecorder<Void>()

        func apply(_ changes: [OutboxChange]) async throws(OutboxError) {
            if failing.withLock({ $0 }) {
                failures.record(())
                throw OutboxError(.writeFailed, "disk full")
            }
            try await inner.apply(changes)
        }
    }

    @Test func recordsThatCannotBeWrittenAreRetriedUntilTheStoreTakesThem() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .noContent }
        let store = FlakyApplyStore()
        try await H.run(store: store, clock: SystemClock()) { dispatcher in
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
            // Far more failures than the five tries after which records used to be dropped.
            try await store.failures.wait(count: 7, timeout: .seconds(20))
            #expect(await dispatcher.status.storeFailing)
            #expect(try await store.histories(ofJob: "j").map(\.event.state) == [.pending])
            store.failing.withLock { $0 = false }
            let began = ContinuousClock.now
            while try await store.histories(ofJob: "j").map(\.event.state) != [.delivered] {
                guard ContinuousClock.now - began < .seconds(15) else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await store.histories(ofJob: "j").map(\.event.state) == [.delivered])
            #expect(await dispatcher.status.storeFailing == false)
        }
        try await server.shutdown()
    }
}

/// The body cache's byte count stays exact: every body charged is given back exactly once.
@Suite(.timeLimit(.minutes(1)))
struct BodyCacheAccountingTests {
    typealias H = DispatcherHarness

    @Test func aTerminalEventThatSupersedesOneWaitingProgressKeepsTheCountExact() async throws {
        // The progress fails once and waits for its retry; the terminal event then replaces it
        // in the queue one for one.
        let server = try await ScriptedHTTPServer.start { request in
            request.header("x-webhook-event") == "job.progress" ? .status(503) : .noContent
        }
        let clock = ManualClock()
        let observer = RecordingObserver()
        try await H.run(store: InMemoryOutboxStore(), clock: clock, observer: observer) { dispatcher in
            try await dispatcher.publish(H.draft(.progress, job: "j", url: server.url()))
            try await observer.wait(where: { $0.outcome == .retrying })
            #expect(await dispatcher.status.bodyCacheBytes > 0)
            #expect(try await dispatcher.publishTerminal(H.draft(.completed, job: "j", url: server.url())) == .delivered(attempts: 1))
            #expect(await dispatcher.status.bodyCacheBytes == 0)
            #expect(await dispatcher.status.pendingEvents == 0)
        }
        try await server.shutdown()
    }
}
