import Testing
import WebhookCore
import WebhookDispatch

/// A randomized, model-based test of the per-job rules: random interleavings of publish,
/// attempt outcomes (2xx, 5xx, 410, timeout, interruption), timers, operator redeliveries,
/// late throttle releases, restarts, evictions of a parked job's queue and its read-back, driven through ``JobDeliveryMachine`` and a real
/// (in-memory) store, checked after every step against SPEC section 6 as a receiver sees it.
struct JobDeliveryModelTests {
    /// A seeded generator, so a failing seed can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// What a receiver saw: one line per attempt that reached it.
    struct Seen {
        var jobID: String
        var eventID: EventID
        var sequence: Int64
        var kind: EventKind
    }

    /// Plays the dispatcher's part for a few jobs, without origins.
    final class Simulation {
        let store = InMemoryOutboxStore()
        var machines: [String: JobDeliveryMachine] = [:]
        var now = Timestamp(milliseconds: 1_736_937_060_000)
        var seen: [Seen] = []
        var redelivered: Set<EventID> = []
        var terminalPublished: Set<String> = []
        var gone: Set<String> = []
        /// Throttle releases whose append has not reached the store yet (the race of the issue).
        var lateDrafts: [EventDraft] = []
        var waiting: Set<EventID> = []
        /// Changes the machines asked to persist that the (simulated) change writer has not
        /// written yet: a restart loses them, as a crash loses a batch not yet committed.
        var unwritten: [OutboxChange] = []
        /// Jobs waiting for ``unwritten`` to be written (one per `holdUntilStored`).
        var storeGates: [String] = []
        var resolved: Set<EventID> = []
        let interval = Duration.seconds(5)
        let policy = RetryPolicy.standard
        let jobIDs = ["a", "b", "c"]
        var random: SplitMix64
        var percent = 0

        init(seed: UInt64) { random = SplitMix64(state: seed) }

        func machine(_ jobID: String) -> JobDeliveryMachine {
            machines[jobID] ?? JobDeliveryMachine(jobID: jobID, callbackURL: "http://127.0.0.1:9/\(jobID)")
        }

        func run(_ jobID: String, _ body: (inout JobDeliveryMachine, inout [JobDeliveryMachine.Action]) -> Void) async throws {
            var machine = self.machine(jobID)
            var actions = [JobDeliveryMachine.Action]()
            body(&machine, &actions)
            // Forgotten when finished, as the dispatcher does.
            machines[jobID] = machine.isFinished ? nil : machine
            carryOut(actions, jobID: jobID)
        }

        func carryOut(_ actions: [JobDeliveryMachine.Action], jobID: String) {
            for action in actions {
                switch action {
                case .persist(let change):
                    unwritten.append(change)
                case .holdUntilStored:
                    storeGates.append(jobID)
                case .storeDraft(let draft):
                    lateDrafts.append(draft)
                case .resolveWaiter(let id, _):
                    #expect(waiting.remove(id) != nil, "a waiter resolved twice")
                    resolved.insert(id)
                case .report, .armTimer, .releasedBody:
                    break
                }
            }
        }

        func draft(_ kind: EventKind, _ jobID: String) -> EventDraft {
            percent += 1
            return EventDraft(
                kind: kind, jobID: jobID, callbackURL: "http://127.0.0.1:9/\(jobID)",
                encodedSnapshot: Array("{\"progress_percent\":\(percent)}".utf8))
        }

        func accept(_ events: [OutboxEvent], redelivery: Bool = false) async throws {
            for event in events {
                let now = self.now
                try await run(event.jobID) { job, actions in
                    job.accept(event, now: now, keepBody: false, redelivery: redelivery, into: &actions)
                }
            }
        }

        func appendAndAccept(_ draft: EventDraft) async throws {
            try await run(draft.jobID) { job, _ in job.appendBegan() }
            try await accept(try await store.append([draft], at: now))
            let now = self.now
            try await run(draft.jobID) { job, actions in job.appendEnded(now: now, interval: interval, into: &actions) }
        }

        // MARK: Steps

        func publish(_ jobID: String) async throws {
            guard !terminalPublished.contains(jobID) else { return }
            let kind: EventKind = Int.random(in: 0..<8, using: &random) == 0 ? .started : .progress
            let draft = self.draft(kind, jobID)
            var offer = JobDeliveryMachine.ProgressOffer.discarded
            let now = self.now
            try await run(jobID) { job, actions in offer = job.offerProgress(draft, now: now, interval: interval, into: &actions) }
            if offer == .store { try await appendAndAccept(draft) }
        }

        func publishTerminal(_ jobID: String) async throws {
            guard terminalPublished.insert(jobID).inserted else { return }
            try await run(jobID) { job, _ in job.terminalPublishBegan() }
            let stored = try await store.append([draft(Bool.random(using: &random) ? .completed : .failed, jobID)], at: now)
            try await accept(stored)
            if let event = stored.first, event.state == .pending, machines[jobID]?.queue.contains(where: { $0.id == event.id }) == true {
                machines[jobID]?.awaitTerminal(event.id)
                waiting.insert(event.id)
            }
        }

        /// Appends committed whose events the machine has not heard of yet.
        var committedUnaccepted: [(jobID: String, events: [OutboxEvent])] = []

        /// A throttle release whose append was held up reaches the store now; half the time its
        /// result reaches the machine only at a later step (committed before, accepted after).
        func releaseLateDraft() async throws {
            guard !lateDrafts.isEmpty else { return }
            let draft = lateDrafts.remove(at: Int.random(in: 0..<lateDrafts.count, using: &random))
            if Bool.random(using: &random) {
                try await appendAndAccept(draft)
            } else {
                try await run(draft.jobID) { job, _ in job.appendBegan() }
                committedUnaccepted.append((draft.jobID, try await store.append([draft], at: now)))
            }
        }

        func acceptLateCommit() async throws {
            guard !committedUnaccepted.isEmpty else { return }
            let (jobID, events) = committedUnaccepted.removeFirst()
            try await accept(events)
            let now = self.now
            try await run(jobID) { job, actions in job.appendEnded(now: now, interval: interval, into: &actions) }
        }

        /// Starts the head's attempt if due, then ends it with a random outcome.
        func attempt(_ jobID: String, forceSuccess: Bool = false) async throws {
            var attempt: JobDeliveryMachine.Attempt?
            let now = self.now
            try await run(jobID) { job, actions in
                if job.poll(now: now, into: &actions) == .ready { attempt = job.beginAttempt(now: now, isProbe: false) }
            }
            guard let attempt else { return }
            let roll = forceSuccess ? 0 : Int.random(in: 0..<20, using: &random)
            let result: JobDeliveryMachine.AttemptResult
            switch roll {
            case 0..<11: result = .ended(verdict: .success, statusCode: 204, error: nil, startedAt: now, durationMs: 1)
            case 11..<16:
                result = .ended(verdict: .retryable(reason: "HTTP 503", retryAfter: nil), statusCode: 503, error: "HTTP 503",
                                startedAt: now, durationMs: 1)
            case 16..<18:
                result = .ended(verdict: .retryable(reason: "timed out", retryAfter: nil), statusCode: nil, error: "timed out",
                                startedAt: now, durationMs: 1)
            case 18: result = .ended(verdict: .gone, statusCode: 410, error: nil, startedAt: now, durationMs: 1)
            default: result = .interrupted
            }
            if case .ended(let verdict, _, _, _, _) = result {
                // Every answered attempt and every timeout may have reached the receiver.
                seen.append(Seen(jobID: jobID, eventID: attempt.eventID, sequence: attempt.sequence, kind: attempt.kind))
                if verdict == .gone { gone.insert(jobID) }
            }
            let random = Double.random(in: 0..<1, using: &self.random)
            try await run(jobID) { job, actions in
                job.attemptEnded(attempt.eventID, result: result, now: now, policy: policy, random: random, into: &actions)
            }
        }

        func advance(by duration: Duration) async throws {
            now = now.advanced(by: duration)
            let now = self.now
            for jobID in jobIDs where machines[jobID] != nil {
                try await run(jobID) { job, actions in
                    job.timerFired(now: now, interval: interval, into: &actions)
                    _ = job.poll(now: now, into: &actions)
                }
            }
        }

        func redeliver() async throws {
            let jobID = jobIDs.randomElement(using: &random)!
            let histories = try await store.histories(ofJob: jobID)
            guard let pick = histories.randomElement(using: &random) else { return }
            let event = try await store.redeliver(pick.event.id, at: now)
            redelivered.insert(event.id)
            let now = self.now
            try await run(jobID) { job, actions in job.redeliver(event, now: now, keepBody: false, into: &actions) }
        }

        /// Read-backs of evicted queues whose result has not reached the machine yet (the
        /// dispatcher's actor runs other work while the store is read).
        var restoreReads: [String: [OutboxEvent]] = [:]

        /// The job is parked behind a paused origin: it gives its queue up (if it is quiet).
        func evict(_ jobID: String) async throws {
            guard machines[jobID] != nil else { return }
            var evicted = false
            try await run(jobID) { job, actions in evicted = job.evict(into: &actions) }
            if evicted { evictions += 1 }
        }
        var evictions = 0

        /// The origin takes attempts again: the evicted queue is read back, once the change
        /// writer stored what it was handed (the dispatcher waits for that); half the time the
        /// result reaches the machine at a later step.
        func restore(_ jobID: String, atOnce: Bool = false) async throws {
            guard let machine = machines[jobID], machine.evicted else { return }
            if !machine.restoring { try await run(jobID) { job, _ in _ = job.beginRestore() } }
            if restoreReads[jobID] == nil {
                try await writeChanges()
                restoreReads[jobID] = try await store.pendingEvents(ofJobs: [jobID])[jobID] ?? []
                if !atOnce && Bool.random(using: &random) { return }
            }
            try await applyRestore(jobID)
        }

        func applyRestore(_ jobID: String) async throws {
            guard let events = restoreReads.removeValue(forKey: jobID), machines[jobID]?.restoring == true else { return }
            try await run(jobID) { job, _ in job.finishRestore() }
            try await accept(events)
        }

        /// The change writer commits what is waiting, then lets the jobs it held go on.
        func writeChanges() async throws {
            let (batch, gates) = (unwritten, storeGates)
            unwritten.removeAll()
            storeGates.removeAll()
            try await store.apply(batch)
            for jobID in gates { try await run(jobID) { job, _ in job.changesStored() } }
        }

        /// The process dies: machines, held updates, waiters and unwritten changes are gone; the
        /// store stays.
        func restart() async throws {
            unwritten.removeAll()
            storeGates.removeAll()
            machines.removeAll()
            lateDrafts.removeAll()
            committedUnaccepted.removeAll()
            restoreReads.removeAll()
            waiting.removeAll()
            await store.simulateRestart()
            while true {
                let claimed = try await store.claimJobs(limit: 2, at: now)
                if claimed.isEmpty { break }
                for job in claimed { try await accept(job.events) }
            }
        }

        // MARK: Invariants

        /// SPEC section 6 as the receiver sees it, operator redeliveries excepted.
        func checkReceiver() {
            var highest: [String: Int64] = [:]
            var terminalSeen: Set<String> = []
            for line in seen where !redelivered.contains(line.eventID) {
                #expect(line.sequence >= highest[line.jobID, default: 0], "order inversion for job \(line.jobID)")
                highest[line.jobID] = max(highest[line.jobID, default: 0], line.sequence)
                if line.kind.isTerminal {
                    terminalSeen.insert(line.jobID)
                } else {
                    #expect(!terminalSeen.contains(line.jobID), "progress after the terminal event for job \(line.jobID)")
                }
            }
        }

        /// After draining: every stored event is final, sequences are gapless, a terminal event
        /// ended `delivered` or, only when the callback is gone, `failed`.
        func checkStore() async throws {
            for jobID in jobIDs {
                let histories = try await store.histories(ofJob: jobID)
                #expect(histories.map(\.event.sequence) == (0..<histories.count).map { Int64($0 + 1) })
                for history in histories {
                    #expect(history.event.state != .pending, "event \(history.event.sequence) of \(jobID) still pending")
                    if history.event.kind.isTerminal {
                        #expect(history.event.state == .delivered || (history.event.state == .failed && gone.contains(jobID)))
                    }
                    if history.event.state == .dropped && !gone.contains(jobID) {
                        #expect(history.attempts.count >= policy.progressAttempts)
                    }
                }
                let terminals = histories.filter(\.event.kind.isTerminal)
                #expect(terminals.count <= 1)
                if let terminal = terminals.first {
                    // Nothing after the terminal event was stored as a new event.
                    #expect(histories.allSatisfy { $0.event.sequence <= terminal.event.sequence || redelivered.contains($0.event.id) })
                }
            }
        }

        func drain() async throws {
            while !lateDrafts.isEmpty { try await releaseLateDraft() }
            while !committedUnaccepted.isEmpty { try await acceptLateCommit() }
            for jobID in jobIDs { try await publishTerminal(jobID) }
            for _ in 0..<400 {
                try await writeChanges()
                var busy = false
                for jobID in jobIDs {
                    if machines[jobID]?.evicted == true {
                        busy = true
                        try await restore(jobID, atOnce: true)
                    }
                    if let machine = machines[jobID], !machine.queue.isEmpty {
                        busy = true
                        try await attempt(jobID, forceSuccess: true)
                    }
                }
                if !busy && lateDrafts.isEmpty && committedUnaccepted.isEmpty && unwritten.isEmpty { break }
                while !lateDrafts.isEmpty { try await releaseLateDraft() }
                while !committedUnaccepted.isEmpty { try await acceptLateCommit() }
                try await advance(by: .seconds(600))
                checkReceiver()
            }
            #expect(waiting.isEmpty, "a waiter was never resolved")
        }
    }

    /// Plays one seeded interleaving, checking the receiver after every step.
    static func play(seed: Int) async throws -> Simulation {
        let simulation = Simulation(seed: UInt64(seed) &* 7919 &+ 17)
        for _ in 0..<250 {
            let jobID = simulation.jobIDs.randomElement(using: &simulation.random)!
            switch Int.random(in: 0..<110, using: &simulation.random) {
            case 0..<30: try await simulation.publish(jobID)
            case 30..<34: try await simulation.publishTerminal(jobID)
            case 34..<62: try await simulation.attempt(jobID)
            case 62..<80: try await simulation.advance(by: .milliseconds(Int64.random(in: 0...6000, using: &simulation.random)))
            case 80..<85: try await simulation.releaseLateDraft()
            case 85..<88: try await simulation.acceptLateCommit()
            case 88..<92: try await simulation.redeliver()
            case 92..<95: try await simulation.restart()
            case 95..<98: try await simulation.writeChanges()
            case 98..<100: try await simulation.advance(by: .seconds(30))
            case 100..<105: try await simulation.evict(jobID)
            default: try await simulation.restore(jobID)
            }
            simulation.checkReceiver()
        }
        try await simulation.drain()
        simulation.checkReceiver()
        try await simulation.checkStore()
        #expect(simulation.seen.count > 0)
        return simulation
    }

    @Test(arguments: 0..<200)
    func randomInterleavingsKeepTheDeliveryGuarantees(seed: Int) async throws {
        _ = try await Self.play(seed: seed)
    }

    /// The interleavings do reach the eviction rules (a queue given up, then read back).
    @Test func theInterleavingsEvictQueues() async throws {
        var evictions = 0
        for seed in 0..<20 { evictions += try await Self.play(seed: seed).evictions }
        #expect(evictions >= 20, "\(evictions) evictions in 20 seeds")
    }
}
