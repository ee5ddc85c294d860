import Testing
import WebhookCore
import WebhookDispatch

/// The per-job rules, without I/O: each test feeds the machine events and checks its actions.
struct JobDeliveryMachineTests {
    typealias M = JobDeliveryMachine
    static let url = "http://127.0.0.1:9/hook"
    static let t0 = Timestamp(milliseconds: 1_736_937_060_000)
    static let interval = Duration.seconds(5)
    static let policy = RetryPolicy.standard

    /// A stored event of job `j`.
    static func event(_ sequence: Int64, _ kind: EventKind, at time: Timestamp = t0) -> OutboxEvent {
        OutboxEvent(
            id: EventID.generate(at: time), jobID: "j", sequence: sequence, kind: kind, callbackURL: url,
            body: Array("{}".utf8), createdAt: time)
    }

    static func draft(_ percent: Int) -> EventDraft {
        EventDraft(kind: .progress, jobID: "j", callbackURL: url, encodedSnapshot: Array("{\"p\":\(percent)}".utf8))
    }

    static func ended(_ verdict: AttemptVerdict, at time: Timestamp = t0) -> M.AttemptResult {
        .ended(verdict: verdict, statusCode: nil, error: nil, startedAt: time, durationMs: 1)
    }

    static func persisted(_ actions: [M.Action]) -> [OutboxChange] {
        actions.compactMap { if case .persist(let change) = $0 { change } else { nil } }
    }

    static func reports(_ actions: [M.Action]) -> [M.Report] {
        actions.compactMap { if case .report(let report) = $0 { report } else { nil } }
    }

    static func waiterResults(_ actions: [M.Action]) -> [TerminalDelivery] {
        actions.compactMap { if case .resolveWaiter(_, let result) = $0 { result } else { nil } }
    }

    /// Plays the change writer: the changes before every `holdUntilStored` in `actions` are stored.
    static func store(_ machine: inout M, _ actions: [M.Action]) {
        for case .holdUntilStored in actions { machine.changesStored() }
    }

    /// Polls, begins and returns the attempt; fails the test if the head is not ready.
    static func begin(_ machine: inout M, now: Timestamp = t0) -> M.Attempt? {
        var actions = [M.Action]()
        guard machine.poll(now: now, into: &actions) == .ready else { return nil }
        return machine.beginAttempt(now: now, isProbe: false)
    }

    @Test func throttleHoldsAndReleasesTheNewestUpdateAtTheIntervalEnd() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        #expect(machine.offerProgress(Self.draft(1), now: Self.t0, interval: Self.interval, into: &actions) == .store)
        #expect(machine.offerProgress(Self.draft(2), now: Self.t0.advanced(by: .seconds(1)), interval: Self.interval, into: &actions) == .held)
        #expect(machine.offerProgress(Self.draft(3), now: Self.t0.advanced(by: .seconds(2)), interval: Self.interval, into: &actions) == .held)
        let armed = actions.compactMap { if case .armTimer(let at) = $0 { at } else { nil } }
        #expect(armed == [Self.t0.advanced(by: .seconds(5))])
        actions.removeAll()
        machine.timerFired(now: Self.t0.advanced(by: .seconds(4)), interval: Self.interval, into: &actions)
        #expect(!actions.contains { if case .storeDraft = $0 { true } else { false } })
        actions.removeAll()
        machine.timerFired(now: Self.t0.advanced(by: .seconds(5)), interval: Self.interval, into: &actions)
        let released = actions.compactMap { if case .storeDraft(let draft) = $0 { draft } else { nil } }
        #expect(released.map { String(decoding: $0.encodedSnapshot, as: UTF8.self) } == ["{\"p\":3}"])
    }

    @Test func startedIsNeverHeldAndNothingIsOfferedAfterTheTerminalEvent() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let started = EventDraft(kind: .started, jobID: "j", callbackURL: Self.url, encodedSnapshot: Array("{}".utf8))
        #expect(machine.offerProgress(Self.draft(1), now: Self.t0, interval: Self.interval, into: &actions) == .store)
        #expect(machine.offerProgress(started, now: Self.t0, interval: Self.interval, into: &actions) == .store)
        #expect(machine.offerProgress(Self.draft(2), now: Self.t0, interval: Self.interval, into: &actions) == .held)
        machine.terminalPublishBegan()
        #expect(machine.throttle.held == nil)
        #expect(machine.offerProgress(Self.draft(3), now: Self.t0, interval: Self.interval, into: &actions) == .discarded)
        // The timer of the discarded update fires and releases nothing.
        actions.removeAll()
        machine.timerFired(now: Self.t0.advanced(by: .seconds(10)), interval: Self.interval, into: &actions)
        #expect(actions.isEmpty)
    }

    @Test(arguments: [Int64(2), Int64(4)])
    func progressAcceptedAfterTheTerminalEventIsSupersededWhateverItsSequence(progressSequence: Int64) {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        machine.accept(Self.event(3, .completed), now: Self.t0, keepBody: false, into: &actions)
        actions.removeAll()
        let late = Self.event(progressSequence, .progress)
        machine.accept(late, now: Self.t0, keepBody: false, into: &actions)
        #expect(machine.queue.map(\.sequence) == [3])
        #expect(Self.persisted(actions) == [.finished(late.id, .superseded, reason: "superseded by the terminal event", at: Self.t0)])
        #expect(Self.reports(actions).map(\.outcome) == [.superseded])
    }

    @Test func terminalEventSupersedesWaitingProgressAndTheFailingOneInFlight() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let first = Self.event(1, .progress)
        machine.accept(first, now: Self.t0, keepBody: false, into: &actions)
        machine.accept(Self.event(2, .progress), now: Self.t0, keepBody: false, into: &actions)
        let attempt = Self.begin(&machine)
        #expect(attempt?.sequence == 1)
        actions.removeAll()
        machine.accept(Self.event(3, .completed), now: Self.t0, keepBody: false, into: &actions)
        #expect(machine.queue.map(\.sequence) == [1, 3])
        #expect(Self.reports(actions).map(\.sequence) == [2])
        actions.removeAll()
        // The attempt in flight fails: it is not retried but superseded.
        machine.attemptEnded(first.id, result: Self.ended(.retryable(reason: "HTTP 503", retryAfter: nil)), now: Self.t0,
                             policy: Self.policy, random: 0, into: &actions)
        #expect(Self.reports(actions).map(\.outcome) == [.superseded])
        #expect(machine.queue.map(\.sequence) == [3])
        Self.store(&machine, actions)
        #expect(Self.begin(&machine)?.kind == .completed)
    }

    /// An event's end is durable before the next event goes: a crash in between would leave the
    /// first pending, and after the restart it would reach the receiver after the second.
    @Test func theNextEventWaitsUntilThePreviousEndIsStored() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let first = Self.event(1, .progress)
        machine.accept(first, now: Self.t0, keepBody: false, into: &actions)
        machine.accept(Self.event(2, .progress), now: Self.t0, keepBody: false, into: &actions)
        #expect(Self.begin(&machine)?.sequence == 1)
        actions.removeAll()
        machine.attemptEnded(first.id, result: Self.ended(.success), now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        let holds = actions.filter { if case .holdUntilStored = $0 { true } else { false } }
        #expect(holds.count == 1)
        // The hold comes with the record it waits for.
        #expect(Self.persisted(actions).count == 1)
        var polled = [M.Action]()
        #expect(machine.poll(now: Self.t0, into: &polled) == .busy)
        #expect(machine.beginAttempt(now: Self.t0, isProbe: false) == nil)
        let open = machine.changesStored()
        #expect(open)
        #expect(Self.begin(&machine)?.sequence == 2)
    }

    @Test func progressInFlightThatSucceedsStaysDelivered() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let first = Self.event(1, .progress)
        machine.accept(first, now: Self.t0, keepBody: false, into: &actions)
        _ = Self.begin(&machine)
        machine.accept(Self.event(2, .failed), now: Self.t0, keepBody: false, into: &actions)
        actions.removeAll()
        machine.attemptEnded(first.id, result: Self.ended(.success), now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        #expect(Self.reports(actions).map(\.outcome) == [.delivered])
    }

    @Test func progressIsDroppedAfterThreeFailedAttempts() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .progress)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        var now = Self.t0
        for _ in 0..<3 {
            guard Self.begin(&machine, now: now) != nil else {
                Issue.record("the head should be ready at \(now)")
                return
            }
            machine.attemptEnded(event.id, result: Self.ended(.retryable(reason: "timeout", retryAfter: nil)), now: now,
                                 policy: Self.policy, random: 0, into: &actions)
            now = now.advanced(by: .seconds(10))
        }
        #expect(Self.reports(actions).map(\.outcome) == [.retrying, .retrying, .dropped])
        #expect(machine.queue.isEmpty)
        // Remembered until the drop is stored.
        #expect(!machine.isFinished)
        Self.store(&machine, actions)
        #expect(machine.isFinished)
    }

    @Test func terminalEventGetsThreeQuickAttemptsThenTheWaiterStopsWaiting() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .completed)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        machine.awaitTerminal(event.id)
        var now = Self.t0
        var dueTimes = [Timestamp]()
        for _ in 0..<3 {
            actions.removeAll()
            #expect(Self.begin(&machine, now: now) != nil)
            machine.attemptEnded(event.id, result: Self.ended(.retryable(reason: "HTTP 500", retryAfter: nil)), now: now,
                                 policy: Self.policy, random: 0, into: &actions)
            guard let next = machine.head?.nextAttemptAt else { break }
            dueTimes.append(next)
            if dueTimes.count < 3 { #expect(Self.waiterResults(actions).isEmpty) }
            now = next
        }
        #expect(dueTimes == [Self.t0.advanced(by: .seconds(1)), Self.t0.advanced(by: .seconds(3)), Self.t0.advanced(by: .seconds(8))])
        #expect(Self.waiterResults(actions) == [.queued(nextAttemptAt: Self.t0.advanced(by: .seconds(8)))])
        #expect(machine.queue.count == 1)
    }

    @Test func goneStopsTheCallbackButAnOperatorRedeliveryIsAttempted() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let first = Self.event(1, .progress)
        let second = Self.event(2, .progress)
        for event in [first, second] { machine.accept(event, now: Self.t0, keepBody: false, into: &actions) }
        actions.removeAll()
        _ = Self.begin(&machine)
        machine.attemptEnded(first.id, result: Self.ended(.gone), now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        #expect(Self.persisted(actions).contains(.callbackGone(jobID: "j", at: Self.t0)))
        Self.store(&machine, actions)
        actions.removeAll()
        #expect(machine.poll(now: Self.t0, into: &actions) == .idle)
        // A terminal event that reaches the machine after that ends at once, failed.
        machine.accept(Self.event(3, .completed), now: Self.t0, keepBody: false, into: &actions)
        #expect(machine.poll(now: Self.t0, into: &actions) == .idle)
        #expect(Self.reports(actions).map(\.outcome) == [.dropped, .failed])
        #expect(Self.reports(actions).allSatisfy { $0.error == "callback gone (410)" })
        // The operator asks again: it is attempted although the callback is gone.
        var again = first
        again.seriesStartedAt = Self.t0.advanced(by: .seconds(60))
        again.nextAttemptAt = again.seriesStartedAt
        machine.redeliver(again, now: again.seriesStartedAt, keepBody: false, into: &actions)
        Self.store(&machine, actions)
        #expect(Self.begin(&machine, now: again.seriesStartedAt)?.eventID == first.id)
    }

    @Test func redeliveryOfTheEventInFlightStartsANewSeriesWhenTheAttemptEnds() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .completed)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        let first = Self.begin(&machine)
        #expect(first?.number == 1)
        var again = event
        let asked = Self.t0.advanced(by: .seconds(2))
        again.seriesStartedAt = asked
        again.nextAttemptAt = asked
        machine.redeliver(again, now: asked, keepBody: false, into: &actions)
        actions.removeAll()
        machine.attemptEnded(event.id, result: Self.ended(.success), now: Self.t0.advanced(by: .seconds(3)),
                             policy: Self.policy, random: 0, into: &actions)
        // The attempt's record first, then the new series; the event goes out again.
        #expect(Self.persisted(actions).last == .seriesRestarted(event.id, at: asked))
        Self.store(&machine, actions)
        let second = Self.begin(&machine, now: Self.t0.advanced(by: .seconds(3)))
        #expect(second?.eventID == event.id)
        #expect(second?.number == 2)
    }

    @Test func aParkedTerminalEventReleasesItsWaiter() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .failed)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        machine.awaitTerminal(event.id)
        actions.removeAll()
        machine.parked(probeAt: nil, into: &actions)
        #expect(Self.waiterResults(actions) == [.queued(nextAttemptAt: nil)])
    }

    @Test func relinquishingReleasesWaitersAndForgetsTheQueue() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .completed)
        machine.accept(event, now: Self.t0, keepBody: true, into: &actions)
        machine.awaitTerminal(event.id)
        actions.removeAll()
        machine.relinquish(into: &actions)
        #expect(Self.waiterResults(actions) == [.queued(nextAttemptAt: nil)])
        #expect(actions.contains { if case .releasedBody(2) = $0 { true } else { false } })
        #expect(machine.isFinished)
    }

    @Test func anInterruptedAttemptDoesNotCount() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .progress)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        _ = Self.begin(&machine)
        machine.attemptEnded(event.id, result: .interrupted, now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        // Not counted, and not retried in a tight loop: one second later.
        #expect(Self.begin(&machine) == nil)
        #expect(Self.begin(&machine, now: Self.t0.advanced(by: .seconds(1)))?.number == 1)
    }

    @Test func aSupersededAttemptThatGets410StillStopsTheCallback() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let progress = Self.event(1, .progress)
        machine.accept(progress, now: Self.t0, keepBody: false, into: &actions)
        _ = Self.begin(&machine)
        machine.accept(Self.event(2, .completed), now: Self.t0, keepBody: false, into: &actions)
        actions.removeAll()
        machine.attemptEnded(progress.id, result: Self.ended(.gone), now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        #expect(Self.persisted(actions).contains(.callbackGone(jobID: "j", at: Self.t0)))
        actions.removeAll()
        // The terminal event behind it is not sent to a callback that answered 410.
        #expect(machine.poll(now: Self.t0, into: &actions) == .idle)
        #expect(Self.reports(actions).map(\.outcome) == [.failed])
    }

    @Test func progressOfferedWhileAnAppendIsUnderWayWaitsForIt() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        #expect(machine.offerProgress(Self.draft(1), now: Self.t0, interval: .zero, into: &actions) == .store)
        machine.appendBegan()
        // Even with no throttle, a second update does not race the first one's append.
        #expect(machine.offerProgress(Self.draft(2), now: Self.t0, interval: .zero, into: &actions) == .held)
        #expect(machine.offerProgress(Self.draft(3), now: Self.t0, interval: .zero, into: &actions) == .held)
        actions.removeAll()
        machine.timerFired(now: Self.t0.advanced(by: .seconds(1)), interval: .zero, into: &actions)
        #expect(!actions.contains { if case .storeDraft = $0 { true } else { false } })
        machine.appendEnded(now: Self.t0.advanced(by: .seconds(1)), interval: .zero, into: &actions)
        let released = actions.compactMap { if case .storeDraft(let draft) = $0 { draft } else { nil } }
        #expect(released.map { String(decoding: $0.encodedSnapshot, as: UTF8.self) } == ["{\"p\":3}"])
    }

    @Test func relinquishingDuringAnAttemptLeavesNothingStuck() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let event = Self.event(1, .progress)
        machine.accept(event, now: Self.t0, keepBody: false, into: &actions)
        _ = Self.begin(&machine)
        machine.relinquish(into: &actions)
        #expect(machine.inFlightEventID == nil)
        // The attempt's end arrives afterwards: it changes nothing, and the job can be forgotten.
        #expect(!machine.attemptEnded(event.id, result: Self.ended(.success), now: Self.t0, policy: Self.policy, random: 0, into: &actions))
        #expect(machine.poll(now: Self.t0, into: &actions) == .idle)
    }

    // MARK: - Eviction

    @Test func anEvictedQueueIsCountedNotHeldAndComesBackInOrderWithWhatArrivedMeanwhile() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let first = Self.event(1, .progress), second = Self.event(2, .progress), third = Self.event(3, .progress)
        machine.accept(first, now: Self.t0, keepBody: true, into: &actions)
        machine.accept(second, now: Self.t0, keepBody: true, into: &actions)
        actions.removeAll()
        let r1 = machine.evict(into: &actions)
        #expect(r1)
        // The cached bodies go back to the driver's budget; the queue is empty; the job is remembered.
        #expect(actions.filter { if case .releasedBody = $0 { true } else { false } }.count == 2)
        #expect(machine.queue.isEmpty && machine.pendingCount == 2 && !machine.isFinished)
        let p11 = machine.poll(now: Self.t0, into: &actions)
        #expect(p11 == .evicted)
        // Stored while evicted: counted, not queued.
        let r2 = machine.accept(third, now: Self.t0, keepBody: true, into: &actions)
        #expect(!r2)
        #expect(machine.queue.isEmpty && machine.pendingCount == 3)
        // The read-back begins; an event stored meanwhile is queued (the read may miss it) but
        // nothing starts until the read is merged.
        let r3 = machine.beginRestore()
        #expect(r3)
        let r4 = machine.beginRestore()
        #expect(!r4)
        let fourth = Self.event(4, .progress)
        machine.accept(fourth, now: Self.t0, keepBody: false, into: &actions)
        let p12 = machine.poll(now: Self.t0, into: &actions)
        #expect(p12 == .busy)
        machine.finishRestore()
        // The read returned 1–4 (4 twice: once read, once queued): one queue, in order.
        for event in [first, second, third, fourth] { machine.accept(event, now: Self.t0, keepBody: false, into: &actions) }
        #expect(machine.queue.map(\.sequence) == [1, 2, 3, 4])
        #expect(machine.pendingCount == 4 && !machine.evicted)
        #expect(Self.begin(&machine)?.sequence == 1)
    }

    @Test func onlyAQuietJobIsEvictedAndAFailedReadKeepsItEvicted() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        machine.accept(Self.event(1, .progress), now: Self.t0, keepBody: false, into: &actions)
        machine.accept(Self.event(2, .progress), now: Self.t0, keepBody: false, into: &actions)
        // An attempt in flight: not evicted.
        let attempt = Self.begin(&machine)
        #expect(attempt != nil)
        let r5 = machine.evict(into: &actions)
        #expect(!r5)
        machine.attemptEnded(attempt!.eventID, result: Self.ended(.success), now: Self.t0, policy: Self.policy, random: 0, into: &actions)
        // The delivered event's end is not stored yet: not evicted either (a read-back would see it pending).
        let r6 = machine.evict(into: &actions)
        #expect(!r6)
        Self.store(&machine, actions)
        actions.removeAll()
        let r7 = machine.evict(into: &actions)
        #expect(r7)
        let r8 = machine.beginRestore()
        #expect(r8)
        machine.accept(Self.event(3, .progress), now: Self.t0, keepBody: false, into: &actions)
        machine.restoreFailed(into: &actions)
        // Still evicted, the event queued meanwhile counted with the others (it is in the store).
        #expect(machine.evicted && machine.queue.isEmpty && machine.pendingCount == 2)
        let p13 = machine.poll(now: Self.t0, into: &actions)
        #expect(p13 == .evicted)
    }

    @Test func aTerminalEventStoredWhileEvictedSupersedesTheProgressReadBackAndItsWaiterStopsWaiting() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        let progress = Self.event(1, .progress)
        machine.accept(progress, now: Self.t0, keepBody: false, into: &actions)
        let r9 = machine.evict(into: &actions)
        #expect(r9)
        let terminal = Self.event(2, .completed)
        machine.accept(terminal, now: Self.t0, keepBody: false, into: &actions)
        machine.awaitTerminal(terminal.id)
        // Still behind the paused origin: the job stops waiting.
        actions.removeAll()
        machine.parked(probeAt: Self.t0.advanced(by: .seconds(5)), into: &actions)
        #expect(Self.waiterResults(actions) == [.queued(nextAttemptAt: Self.t0.advanced(by: .seconds(5)))])
        // Read back: the progress event, stored before the terminal one, is superseded.
        actions.removeAll()
        let r10 = machine.beginRestore()
        #expect(r10)
        machine.finishRestore()
        for event in [progress, terminal] { machine.accept(event, now: Self.t0, keepBody: false, into: &actions) }
        #expect(Self.reports(actions).map(\.outcome) == [.superseded])
        #expect(machine.queue.map(\.sequence) == [2])
    }

    @Test func aTerminalEventDiscardedInTheStoreWhileEvictedReleasesItsWaiter() {
        var machine = M(jobID: "j", callbackURL: Self.url)
        var actions = [M.Action]()
        machine.accept(Self.event(1, .progress), now: Self.t0, keepBody: false, into: &actions)
        let evicted = machine.evict(into: &actions)
        #expect(evicted)
        let terminal = Self.event(2, .completed)
        machine.accept(terminal, now: Self.t0, keepBody: false, into: &actions)
        machine.awaitTerminal(terminal.id)
        #expect(machine.pendingCount == 2)
        actions.removeAll()
        machine.evictedEventsEnded([terminal.id], reason: "discarded by an operator", into: &actions)
        #expect(Self.waiterResults(actions) == [.failed(reason: "discarded by an operator")])
        #expect(machine.pendingCount == 1)
    }
}
