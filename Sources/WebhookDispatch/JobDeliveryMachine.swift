public import DequeModule
public import WebhookCore

/// Every delivery rule that concerns one job, as a value type with no I/O and no clock: time
/// comes in with each event, and each event method appends the ``Action``s the caller must carry
/// out (store, send, arm a timer, resume a waiter, report) — the pattern of postgres-nio's
/// `PoolStateMachine`.
///
/// The rules it owns (SPEC section 6):
/// - **Order**: pending events wait in sequence order and at most one attempt is in flight, so
///   a receiver never sees a lower `sequence` after a higher one. An event that ends must have
///   its end stored before the next event's first attempt: otherwise a crash between the two
///   would leave it pending and send it again after the newer one.
/// - **Throttle**: ``offerProgress(_:now:interval:into:)`` holds progress to one per interval,
///   keeps the newest held update and releases it at the interval's end (trailing edge).
/// - **Superseding**: once the job's terminal event is stored, every started/progress event of
///   the job that is not delivered yet is superseded, *whatever its sequence* (one stored before
///   the terminal event but accepted after it included); an attempt of one already in flight
///   ends `superseded` unless it succeeds. Operator redeliveries are exempt.
/// - **Gone**: 410 (or `webhook-delivery: disable` with any status) ends every further event of the job's
///   callback, except an operator's redelivery, which is attempted once more.
/// - **Retries**: the ``RetryPolicy`` decides: progress dropped after three failed attempts,
///   terminal events get three quick attempts, then the background schedule.
/// - **Redelivery** of the event in flight starts a new series once that attempt ends.
/// - **Waiters**: a job awaiting its terminal event is released when it is delivered, fails,
///   leaves its quick phase, or is parked behind a paused origin.
///
/// Origins (breakers, per-origin limits) are shared by many jobs and stay with the driver:
/// ``poll(now:into:)`` says when the head is ready, and the driver calls
/// ``beginAttempt(now:isProbe:)`` when the origin lets it go.
public struct JobDeliveryMachine: Sendable {
    /// One pending event as the machine keeps it.
    ///
    /// 56 bytes (it was 72): every event queued in memory has one (a parked job's queue is given
    /// up, ``evict(into:)``, but a busy receiver's backlog is queued: 100,000 events and more).
    /// The two counters are stored narrower than `Int` and saturate, far beyond what a
    /// retry policy reaches (an attempt a second for the 72-hour max age is 259,200 attempts:
    /// within `UInt32`; a series is bounded by the same max age, and its attempts are spaced by
    /// the background schedule: far below 65,535).
    public struct QueuedEvent: Sendable, Hashable {
        public let id: EventID
        public let sequence: Int64
        public var seriesStartedAt: Timestamp
        public var nextAttemptAt: Timestamp
        /// Kept while the driver's body cache allows; nil means "read it from the store".
        public var body: [UInt8]?
        private var storedAttempts: UInt32
        private var storedSeriesAttempts: UInt16
        public let kind: EventKind
        /// Put back by an operator: exempt from superseding and from a gone callback.
        public var redelivered: Bool

        /// Attempts over all series; the next attempt's number is this + 1.
        public var attempts: Int {
            get { Int(storedAttempts) }
            set { storedAttempts = UInt32(clamping: newValue) }
        }

        /// Attempts of the current series.
        public var seriesAttempts: Int {
            get { Int(storedSeriesAttempts) }
            set { storedSeriesAttempts = UInt16(clamping: newValue) }
        }

        /// Takes a stored event.
        public init(_ event: OutboxEvent, keepBody: Bool, redelivered: Bool = false) {
            id = event.id
            sequence = event.sequence
            kind = event.kind
            storedAttempts = UInt32(clamping: event.attempts)
            seriesStartedAt = event.seriesStartedAt
            storedSeriesAttempts = UInt16(clamping: event.seriesAttempts)
            nextAttemptAt = event.nextAttemptAt
            body = keepBody ? event.body : nil
            self.redelivered = redelivered
        }
    }

    /// What the caller must do, in order.
    public enum Action: Sendable {
        /// Store a progress update the throttle released (it becomes an event, or nothing if the
        /// store already holds the job's terminal event).
        case storeDraft(EventDraft)
        /// Make a state change durable.
        case persist(OutboxChange)
        /// The changes persisted so far must be durable before this job's next attempt: call
        /// ``changesStored()`` once they are (one call per action).
        case holdUntilStored
        /// Tell the delivery log and metrics what happened to an event.
        case report(Report)
        /// Resume the job waiting on this terminal event.
        case resolveWaiter(EventID, TerminalDelivery)
        /// Call ``timerFired(now:interval:into:)`` at this time (earlier timers may be stale).
        case armTimer(Timestamp)
        /// A queued event's cached body was released (bytes) — for the driver's cache budget.
        case releasedBody(Int)
    }

    /// An outcome line: one per attempt and one per final decision.
    public struct Report: Sendable, Hashable {
        public var eventID: EventID
        public var kind: EventKind
        public var sequence: Int64
        public var attempt: Int?
        public var statusCode: Int?
        public var outcome: AttemptOutcome
        public var durationMs: Int64?
        public var error: String?
        public var nextAttemptAt: Timestamp?
    }

    /// What ``offerProgress(_:now:interval:into:)`` decided.
    public enum ProgressOffer: Sendable, Equatable {
        /// Store it now.
        case store
        /// Held by the throttle: store only the job's state.
        case held
        /// The job's terminal event is stored or being stored: nothing to send.
        case discarded
    }

    /// What the head of the queue needs.
    public enum Poll: Sendable, Equatable {
        /// Nothing pending.
        case idle
        /// An attempt is in flight.
        case busy
        /// The head is due later (a timer is armed).
        case waiting(until: Timestamp)
        /// The head is due: start it when its origin allows.
        case ready
        /// The queue was given up (``evict(into:)``): the events are in the store, and
        /// ``beginRestore()`` brings them back once the origin takes attempts again.
        case evicted
    }

    /// An attempt the driver is to perform.
    public struct Attempt: Sendable, Hashable {
        public var eventID: EventID
        public var kind: EventKind
        public var sequence: Int64
        /// `X-Webhook-Attempt`.
        public var number: Int
        public var body: [UInt8]?
        public var isProbe: Bool
    }

    /// How an attempt ended.
    public enum AttemptResult: Sendable, Hashable {
        /// Cancelled or shut down before an answer: it does not count.
        case interrupted
        /// An answer or a transport failure, judged.
        case ended(verdict: AttemptVerdict, statusCode: Int?, error: String?, startedAt: Timestamp, durationMs: Int64)
    }

    /// The job whose events this machine delivers.
    public let jobID: String
    /// Where they go (one per job), shared with the other jobs that name the same URL.
    public let callback: Callback
    /// The callback URL.
    public var callbackURL: String { callback.url }
    /// The callback's scheme, host and port (nil for a URL without them: its events fail).
    public var origin: Origin? { callback.origin }
    /// Pending events by sequence; the head may be in flight.
    public private(set) var queue = Deque<QueuedEvent>()
    /// The head's attempt in flight (its number and whether it is a probe; the rest is the
    /// head's). Kept as 24 bytes rather than a whole ``Attempt`` (56): a machine lives per job.
    private var inFlightAttempt: InFlight?
    /// The progress throttle: when the last update went, and the newest held one.
    public private(set) var throttle = ProgressThrottle()
    /// Terminal events whose job awaits them.
    private var waiters: Set<EventID> = []
    /// The in-flight head was redelivered by an operator: a new series begins once the attempt ends.
    private var redeliverAfterAttempt: Timestamp? {
        get { redeliverAfterAttemptMilliseconds == .min ? nil : Timestamp(milliseconds: redeliverAfterAttemptMilliseconds) }
        set { redeliverAfterAttemptMilliseconds = newValue?.milliseconds ?? .min }
    }
    /// The one timer the driver keeps for this job.
    private var timerArmedAt: Timestamp? {
        get { timerArmedAtMilliseconds == .min ? nil : Timestamp(milliseconds: timerArmedAtMilliseconds) }
        set { timerArmedAtMilliseconds = newValue?.milliseconds ?? .min }
    }
    // The two times above as 8 bytes each (`.min` for none) rather than 16: a machine lives per job.
    private var redeliverAfterAttemptMilliseconds: Int64 = .min
    private var timerArmedAtMilliseconds: Int64 = .min
    /// The highest sequence this job ever sent outside a redelivery. An event below it that
    /// arrives late (its append committed before a newer one but returned after it, or it was
    /// left pending by a crash) can no longer go in order: a progress event is superseded.
    public private(set) var highestSentSequence: Int64 = 0
    /// Appends of this job under way: their events may reach ``accept(_:now:keepBody:redelivery:into:)``
    /// in another order than they committed, so the machine must outlive them to supersede a
    /// progress event that committed before the terminal event but arrives after it.
    private var appendsUnderWay: Int32 = 0
    /// Ends of events (delivered, failed, dropped) not yet durable: no attempt starts until they
    /// are (``Action/holdUntilStored``).
    private var storesAwaited: Int32 = 0
    /// Pending events of this job that are in the store but not in ``queue``: it was parked
    /// behind a paused origin and gave its queue up (``evict(into:)``), so an outage of hours
    /// costs a few bytes per job instead of a queue entry per event.
    private var evictedEvents: Int32 = 0
    // The flags last, together: a machine lives per job, and fields of 1 byte between wider
    // ones would each cost a padded word.
    /// The store holds this job's terminal event.
    public private(set) var terminalStored = false
    /// A terminal event is being stored: progress offered now is pointless.
    public private(set) var terminalPublishing = false
    /// The callback answered 410.
    public private(set) var gone = false
    /// The in-flight head should end `superseded` unless it succeeds.
    private var supersedeInFlight = false
    /// The queue was given up; the store holds the events (``evict(into:)``).
    public private(set) var evicted = false
    /// The driver is reading the evicted events back: events accepted meanwhile are queued (the
    /// read may miss them) and merged with what it returns; no attempt starts until it is done.
    public private(set) var restoring = false

    /// The event whose attempt is in flight (always the head).
    public var inFlightEventID: EventID? { inFlightAttempt?.eventID }

    /// A job with nothing pending.
    public init(jobID: String, callbackURL: String) {
        self.init(jobID: jobID, callback: Callback(url: callbackURL))
    }

    /// A job with nothing pending, whose callback the caller parsed already (the driver shares
    /// one ``Callback`` among the jobs that name the same URL).
    public init(jobID: String, callback: Callback) {
        self.jobID = jobID
        self.callback = callback
    }

    /// True when nothing about this job needs remembering. A running job (no terminal event
    /// yet) that has emitted progress is remembered: forgetting it would forget when its last
    /// progress went, and the next update would skip the throttle.
    ///
    /// A gone job is remembered until its terminal event is stored too: until its `callbackGone`
    /// change is written, only the machine knows, and a progress event appended meanwhile must
    /// not be sent after the 410.
    public var isFinished: Bool {
        queue.isEmpty && !evicted && inFlightAttempt == nil && throttle.held == nil && waiters.isEmpty && !terminalPublishing
            && appendsUnderWay == 0 && storesAwaited == 0 && (terminalStored || throttle.lastEmittedAt == nil)
    }

    /// The event at the head of the queue.
    public var head: QueuedEvent? { queue.first }

    /// Pending events of this job, queued or evicted (for the driver's count).
    public var pendingCount: Int { queue.count + Int(evictedEvents) }

    // MARK: - Publishing

    /// A `job.started` or `job.progress` update from the pipeline.
    public mutating func offerProgress(
        _ draft: EventDraft, now: Timestamp, interval: Duration, into actions: inout [Action]
    ) -> ProgressOffer {
        if terminalStored || terminalPublishing { return .discarded }
        guard draft.kind == .progress else { return .store }
        // One append per job at a time: otherwise an older update whose append is slow (a
        // trailing edge behind a busy store) could get a higher sequence than this newer one.
        if appendsUnderWay > 0 {
            throttle.hold(draft)
            return .held
        }
        switch throttle.offer(draft, now: now, interval: interval) {
        case .emitNow:
            return .store
        case .held(let until):
            arm(until, into: &actions)
            return .held
        }
    }

    /// An append of this job's events to the store begins.
    public mutating func appendBegan() {
        appendsUnderWay += 1
    }

    /// That append ended (its events, if any, were accepted first). An update held back
    /// because of it goes now if its interval has ended, else at the interval's end.
    public mutating func appendEnded(now: Timestamp, interval: Duration, into actions: inout [Action]) {
        appendsUnderWay = max(0, appendsUnderWay - 1)
        releaseHeldIfDue(now: now, interval: interval, into: &actions)
    }

    /// The job's terminal event is about to be stored: a held update will never be sent.
    public mutating func terminalPublishBegan() {
        terminalPublishing = true
        throttle.discardHeld()
    }

    /// Storing the terminal event failed: nothing changed.
    public mutating func terminalPublishFailed() {
        terminalPublishing = false
    }

    /// The job awaits this terminal event (call right after accepting it).
    public mutating func awaitTerminal(_ id: EventID) {
        waiters.insert(id)
    }

    /// A waiter went away (its task was cancelled).
    public mutating func forgetWaiter(_ id: EventID) {
        waiters.remove(id)
    }

    /// Takes a stored event: queues it, supersedes what it makes pointless, or reports it when
    /// the store ended it already (a gone callback).
    /// - Parameters:
    ///   - keepBody: whether the driver's cache has room for its body.
    ///   - redelivery: an operator put it back (``redeliver(_:now:keepBody:into:)`` calls this).
    /// - Returns: true when the event was queued with its body (the driver charged its cache for
    ///   it); false when the body was not kept, so the driver gives the bytes back.
    @discardableResult
    public mutating func accept(
        _ event: OutboxEvent, now: Timestamp, keepBody: Bool, redelivery: Bool = false, into actions: inout [Action]
    ) -> Bool {
        let redelivery = redelivery || event.redelivered
        if event.kind.isTerminal || event.jobTerminalStored {
            terminalStored = true
            terminalPublishing = false
            throttle.discardHeld()
        }
        guard event.state == .pending else {
            let outcome: AttemptOutcome = event.state == .failed ? .failed : .dropped
            actions.append(.report(Report(event: QueuedEvent(event, keepBody: false), outcome: outcome, error: "callback gone (410)")))
            if event.kind.isTerminal { resolve(event.id, .failed(reason: "callback gone (410)"), into: &actions) }
            return false
        }
        highestSentSequence = max(highestSentSequence, event.jobHighestAttemptedSequence)
        if !event.kind.isTerminal && !redelivery && (terminalStored || event.sequence < highestSentSequence) {
            supersede(QueuedEvent(event, keepBody: false), now: now, into: &actions)
            return false
        }
        if evicted && !restoring {
            // Stored: it comes back with the others when the queue is restored.
            evictedEvents += 1
            return false
        }
        // A duplicate has the sequence of the event already queued: one newer than the tail
        // (the usual case, a live append) needs no scan of a queue that may be long.
        if let tail = queue.last, tail.sequence >= event.sequence, queue.contains(where: { $0.id == event.id }) {
            return false
        }
        insert(QueuedEvent(event, keepBody: keepBody, redelivered: redelivery))
        if event.kind.isTerminal { supersedeWaitingProgress(now: now, into: &actions) }
        return keepBody
    }

    // MARK: - Operator

    ///
    /// The new series is persisted again after whatever this machine recorded before (an
    /// attempt that ended while the store was marking the event pending would otherwise leave
    /// it `delivered` in the store, and a crash would lose the redelivery).
    /// - Returns: as ``accept(_:now:keepBody:redelivery:into:)``: whether the body was kept.
    @discardableResult
    public mutating func redeliver(_ event: OutboxEvent, now: Timestamp, keepBody: Bool, into actions: inout [Action]) -> Bool {
        if let inFlightAttempt, inFlightAttempt.eventID == event.id {
            redeliverAfterAttempt = event.seriesStartedAt
            return false
        }
        // The store restarted the series; the restore reads it back as redelivered. Persisted
        // again, as below: an end of it recorded before and not yet written must not undo it.
        // (Not counted: it was most likely pending and counted already; the restore makes the
        // count exact.)
        if evicted && !restoring {
            actions.append(.persist(.seriesRestarted(event.id, at: event.seriesStartedAt)))
            return false
        }
        actions.append(.persist(.seriesRestarted(event.id, at: event.seriesStartedAt)))
        if let index = queue.firstIndex(where: { $0.id == event.id }) {
            queue[index].seriesStartedAt = event.seriesStartedAt
            queue[index].seriesAttempts = 0
            queue[index].nextAttemptAt = event.nextAttemptAt
            queue[index].redelivered = true
            return false
        }
        var pending = event
        pending.state = .pending
        return accept(pending, now: now, keepBody: keepBody, redelivery: true, into: &actions)
    }

    /// The lease on this job moved to another worker (or the dispatcher stops): forget the queue
    /// and release every waiter; the events stay pending in the store.
    public mutating func relinquish(into actions: inout [Action]) {
        for event in queue {
            if let body = event.body { actions.append(.releasedBody(body.count)) }
        }
        queue.removeAll()
        evicted = false
        restoring = false
        evictedEvents = 0
        for id in waiters { actions.append(.resolveWaiter(id, .queued(nextAttemptAt: nil))) }
        waiters.removeAll()
        throttle.discardHeld()
        timerArmedAt = nil
        // An attempt still in flight is the new owner's business now: its end changes nothing here.
        inFlightAttempt = nil
        supersedeInFlight = false
        redeliverAfterAttempt = nil
    }

    /// An operator discards pending events (a receiver gone for good, SPEC section 4): each queued
    /// event in `ids` ends without further attempts — a terminal event `failed` (its waiter, if
    /// any, resolved), the others `dropped` — for `reason`. The event whose attempt is in flight
    /// is left alone (its attempt decides it).
    /// - Returns: the events ended.
    public mutating func discard(_ ids: Set<EventID>, reason: String, now: Timestamp, into actions: inout [Action]) -> [EventID] {
        var kept = Deque<QueuedEvent>()
        var ended = [EventID]()
        for (index, event) in queue.enumerated() {
            guard ids.contains(event.id), !(index == 0 && inFlightAttempt != nil) else {
                kept.append(event)
                continue
            }
            if let body = event.body { actions.append(.releasedBody(body.count)) }
            let state: DeliveryState = event.kind.isTerminal ? .failed : .dropped
            actions.append(.persist(.finished(event.id, state, reason: reason, at: now)))
            actions.append(.report(Report(event: event, outcome: state == .failed ? .failed : .dropped, error: reason)))
            resolve(event.id, .failed(reason: reason), into: &actions)
            ended.append(event.id)
        }
        if !ended.isEmpty { queue = kept }
        return ended
    }

    // MARK: - Scheduling

    /// Looks at the head: ends it if the callback is gone, says when it is due.
    public mutating func poll(now: Timestamp, into actions: inout [Action]) -> Poll {
        if inFlightAttempt != nil { return .busy }
        if evicted { return restoring ? .busy : .evicted }
        while let head = queue.first {
            if gone && !head.redelivered {
                finishHead(
                    state: head.kind.isTerminal ? .failed : .dropped, reason: "callback gone (410)", now: now,
                    into: &actions)
                continue
            }
            if origin == nil {
                finishHead(
                    state: head.kind.isTerminal ? .failed : .dropped, reason: "callback URL has no scheme or host",
                    now: now, into: &actions)
                continue
            }
            if head.nextAttemptAt > now {
                arm(head.nextAttemptAt, into: &actions)
                return .waiting(until: head.nextAttemptAt)
            }
            // The previous event's end is not durable yet: ``changesStored()`` comes back.
            return storesAwaited > 0 ? .busy : .ready
        }
        return .idle
    }

    /// The head's origin is paused: the head waits for the origin, and a job awaiting it stops waiting.
    /// - Parameter probeAt: when the origin will be probed, if known.
    public mutating func parked(probeAt: Timestamp?, into actions: inout [Action]) {
        // Every terminal event of the job waits for the origin, also one behind a redelivery
        // (the waiters are the job's queued terminal events: none is in flight while parked).
        for id in waiters { actions.append(.resolveWaiter(id, .queued(nextAttemptAt: probeAt))) }
        waiters.removeAll()
    }

    // MARK: - Eviction

    /// Gives the queue of a parked job up: its events stay pending in the store and come back
    /// through ``beginRestore()`` and ``finishRestore()`` when its origin takes attempts again.
    /// Only a quiet job is evicted: nothing in flight, no waiter, no append under way, no end
    /// waiting to be stored, no redelivery waiting for an attempt.
    /// - Returns: whether the queue was given up.
    @discardableResult
    public mutating func evict(into actions: inout [Action]) -> Bool {
        guard !evicted, !queue.isEmpty, inFlightAttempt == nil, waiters.isEmpty, appendsUnderWay == 0,
            storesAwaited == 0, !terminalPublishing, redeliverAfterAttempt == nil
        else { return false }
        for event in queue {
            if let body = event.body { actions.append(.releasedBody(body.count)) }
        }
        evictedEvents = Int32(clamping: queue.count)
        // A new empty deque, not removeAll(keepingCapacity:): the storage is what is saved.
        queue = Deque()
        evicted = true
        return true
    }

    /// The driver starts reading the evicted events back.
    /// - Returns: false when there is nothing to restore or a restore is under way.
    public mutating func beginRestore() -> Bool {
        guard evicted, !restoring else { return false }
        restoring = true
        return true
    }

    /// The read failed: the job stays evicted (what was queued meanwhile is in the store too).
    public mutating func restoreFailed(into actions: inout [Action]) {
        guard restoring else { return }
        restoring = false
        for event in queue {
            if let body = event.body { actions.append(.releasedBody(body.count)) }
        }
        evictedEvents += Int32(clamping: queue.count)
        queue = Deque()
    }

    /// Evicted events were ended in the store (an operator discarded them): no longer pending,
    /// and a job awaiting one of them stops waiting.
    public mutating func evictedEventsEnded(_ ids: [EventID], reason: String, into actions: inout [Action]) {
        for id in ids { resolve(id, .failed(reason: reason), into: &actions) }
        guard evicted, !restoring else { return }
        evictedEvents = max(0, evictedEvents - Int32(clamping: ids.count))
    }

    /// The read is back: the driver accepts the events it returned next (merged with those
    /// queued meanwhile: duplicates are dropped, the order is by sequence).
    public mutating func finishRestore() {
        guard restoring else { return }
        restoring = false
        evicted = false
        evictedEvents = 0
    }

    /// Releases the cached bodies (a parked job's events wait long; they are read back when due).
    public mutating func dropBodies(into actions: inout [Action]) {
        for index in queue.indices {
            if let body = queue[index].body {
                actions.append(.releasedBody(body.count))
                queue[index].body = nil
            }
        }
    }

    /// Starts the head's attempt (after ``poll(now:into:)`` said `.ready` and the origin agreed).
    public mutating func beginAttempt(now: Timestamp, isProbe: Bool) -> Attempt? {
        guard inFlightAttempt == nil, storesAwaited == 0, let head = queue.first, head.nextAttemptAt <= now else {
            return nil
        }
        let attempt = Attempt(
            eventID: head.id, kind: head.kind, sequence: head.sequence, number: head.attempts + 1, body: head.body,
            isProbe: isProbe)
        inFlightAttempt = InFlight(eventID: head.id, number: UInt32(clamping: attempt.number), isProbe: isProbe)
        timerArmedAt = nil
        if !head.redelivered { highestSentSequence = max(highestSentSequence, head.sequence) }
        return attempt
    }

    /// An attempt ended: records it, decides what follows.
    /// - Parameters:
    ///   - random: a value in 0..<1 for the retry jitter.
    /// - Returns: false when the attempt was not this job's current one (nothing changed).
    @discardableResult
    public mutating func attemptEnded(
        _ eventID: EventID, result: AttemptResult, now: Timestamp, policy: RetryPolicy, random: Double,
        into actions: inout [Action]
    ) -> Bool {
        guard let attempt = inFlightAttempt, attempt.eventID == eventID else { return false }
        inFlightAttempt = nil
        guard let current = queue.first, current.id == eventID else { return false }
        guard case .ended(let verdict, let statusCode, var errorText, let startedAt, let durationMs) = result else {
            supersedeInFlight = false
            // Not answered (cancelled, shut down): it does not count, but it is not retried in
            // a tight loop either.
            queue[0].nextAttemptAt = max(queue[0].nextAttemptAt, now.advanced(by: .seconds(1)))
            restartSeriesIfRedelivered(into: &actions)
            return true
        }
        queue[0].attempts = attempt.number
        queue[0].seriesAttempts += 1
        let head = queue[0]
        var decision = policy.decide(
            kind: head.kind, seriesAttempts: head.seriesAttempts, seriesStartedAt: head.seriesStartedAt, verdict: verdict,
            now: now, random: random)
        var superseded = false
        if supersedeInFlight {
            supersedeInFlight = false
            // Only an attempt that would be retried (or dropped) ends superseded: a delivery
            // stands, and a 410 or a final rejection must still take effect.
            switch decision {
            case .retry, .dropped:
                if !head.kind.isTerminal && !head.redelivered {
                    superseded = true
                    decision = .dropped(reason: "superseded by the terminal event")
                }
            case .delivered, .failed, .gone:
                break
            }
        }
        func record(_ outcome: AttemptOutcome, next: Timestamp?, into actions: inout [Action]) {
            let record = AttemptRecord(
                attempt: attempt.number, startedAt: startedAt, durationMs: durationMs, statusCode: statusCode,
                error: errorText, outcome: outcome)
            actions.append(.persist(.attempted(eventID, record, nextAttemptAt: next)))
            actions.append(
                .report(
                    Report(
                        eventID: eventID, kind: head.kind, sequence: head.sequence, attempt: attempt.number,
                        statusCode: statusCode, outcome: outcome, durationMs: durationMs, error: errorText,
                        nextAttemptAt: next)))
        }
        switch decision {
        case .delivered:
            record(.delivered, next: nil, into: &actions)
            popHead(into: &actions)
            resolve(eventID, .delivered(attempts: attempt.number), into: &actions)
        case .retry(let at, let quickPhaseOver):
            record(.retrying, next: at, into: &actions)
            queue[0].nextAttemptAt = at
            if quickPhaseOver || !head.kind.isTerminal { resolve(eventID, .queued(nextAttemptAt: at), into: &actions) }
        case .failed(let reason):
            errorText = reason
            record(.failed, next: nil, into: &actions)
            popHead(into: &actions)
            resolve(eventID, .failed(reason: reason), into: &actions)
        case .dropped(let reason):
            errorText = reason
            record(superseded ? .superseded : .dropped, next: nil, into: &actions)
            popHead(into: &actions)
        case .gone:
            // 410, or the receiver's `webhook-delivery: disable` with another status.
            errorText = statusCode == 410 || statusCode == nil
                ? "HTTP 410 Gone: the callback takes no further events"
                : "HTTP \(statusCode ?? 0) with webhook-delivery: disable: the callback takes no further events"
            record(.failed, next: nil, into: &actions)
            popHead(into: &actions)
            resolve(eventID, .failed(reason: "callback gone (410)"), into: &actions)
            if !gone {
                gone = true
                actions.append(.persist(.callbackGone(jobID: jobID, at: now)))
            }
        }
        if redeliverAfterAttempt != nil {
            if queue.first?.id != eventID {
                // The attempt ended the event; the operator's new series puts it back.
                var again = head
                again.body = nil
                queue.insert(again, at: 0)
            }
            restartSeriesIfRedelivered(into: &actions)
        }
        return true
    }

    /// A timer fired: releases a held progress update whose interval ended.
    public mutating func timerFired(now: Timestamp, interval: Duration, into actions: inout [Action]) {
        if let armed = timerArmedAt, armed <= now { timerArmedAt = nil }
        releaseHeldIfDue(now: now, interval: interval, into: &actions)
    }

    /// Releases the held update if its interval has ended and no append of this job is under
    /// way (``appendEnded(now:interval:into:)`` comes back here); else makes sure a timer is armed.
    private mutating func releaseHeldIfDue(now: Timestamp, interval: Duration, into actions: inout [Action]) {
        guard !terminalStored, !terminalPublishing, let due = throttle.heldUntil(interval: interval) else { return }
        guard appendsUnderWay == 0 else { return }
        if due <= now, let draft = throttle.takeHeld(now: now) {
            actions.append(.storeDraft(draft))
        } else if due > now {
            arm(due, into: &actions)
        }
    }

    // MARK: - Internals

    private mutating func restartSeriesIfRedelivered(into actions: inout [Action]) {
        guard let startedAt = redeliverAfterAttempt, !queue.isEmpty else { return }
        redeliverAfterAttempt = nil
        queue[0].seriesStartedAt = startedAt
        queue[0].seriesAttempts = 0
        queue[0].nextAttemptAt = startedAt
        queue[0].redelivered = true
        actions.append(.persist(.seriesRestarted(queue[0].id, at: startedAt)))
    }

    private mutating func insert(_ event: QueuedEvent) {
        var index = queue.endIndex
        while index > queue.startIndex, queue[index - 1].sequence > event.sequence { index -= 1 }
        // The head in flight keeps its place.
        if inFlightAttempt != nil, index == 0, !queue.isEmpty { index = 1 }
        queue.insert(event, at: index)
    }

    /// Ends every waiting started/progress event (not redelivered) as superseded; one in flight
    /// ends superseded unless it succeeds.
    private mutating func supersedeWaitingProgress(now: Timestamp, into actions: inout [Action]) {
        var kept = Deque<QueuedEvent>()
        for (index, event) in queue.enumerated() {
            if event.kind.isTerminal || event.redelivered {
                kept.append(event)
            } else if index == 0 && inFlightAttempt != nil {
                supersedeInFlight = true
                kept.append(event)
            } else {
                if let body = event.body { actions.append(.releasedBody(body.count)) }
                supersede(event, now: now, into: &actions)
            }
        }
        if kept.count != queue.count { queue = kept }
    }

    private func supersede(_ event: QueuedEvent, now: Timestamp, into actions: inout [Action]) {
        let reason = "superseded by the terminal event"
        actions.append(.persist(.finished(event.id, .superseded, reason: reason, at: now)))
        actions.append(.report(Report(event: event, outcome: .superseded, error: reason)))
    }

    private mutating func finishHead(state: DeliveryState, reason: String, now: Timestamp, into actions: inout [Action]) {
        let head = queue[0]
        popHead(into: &actions)
        actions.append(.persist(.finished(head.id, state, reason: reason, at: now)))
        let outcome: AttemptOutcome = state == .failed ? .failed : (state == .superseded ? .superseded : .dropped)
        actions.append(.report(Report(event: head, outcome: outcome, error: reason)))
        resolve(head.id, .failed(reason: reason), into: &actions)
    }

    /// Removes the head, which ended: the next attempt waits until that end is durable.
    private mutating func popHead(into actions: inout [Action]) {
        let head = queue.removeFirst()
        if let body = head.body { actions.append(.releasedBody(body.count)) }
        storesAwaited += 1
        actions.append(.holdUntilStored)
    }

    /// The changes persisted before one ``Action/holdUntilStored`` are durable now.
    /// - Returns: true when no more are awaited (the driver may poll the job again).
    @discardableResult
    public mutating func changesStored() -> Bool {
        if storesAwaited > 0 { storesAwaited -= 1 }
        return storesAwaited == 0
    }

    private mutating func resolve(_ id: EventID, _ result: TerminalDelivery, into actions: inout [Action]) {
        if waiters.remove(id) != nil { actions.append(.resolveWaiter(id, result)) }
    }

    private mutating func arm(_ deadline: Timestamp, into actions: inout [Action]) {
        // An earlier timer comes first; when it fires, poll and timerFired arm what is left.
        if let armed = timerArmedAt, armed <= deadline { return }
        timerArmedAt = deadline
        actions.append(.armTimer(deadline))
    }
}

extension JobDeliveryMachine {
    /// What the machine keeps of the attempt in flight.
    struct InFlight: Sendable, Hashable {
        let eventID: EventID
        let storedNumber: UInt32
        let isProbe: Bool

        init(eventID: EventID, number: UInt32, isProbe: Bool) {
            self.eventID = eventID
            storedNumber = number
            self.isProbe = isProbe
        }

        var number: Int { Int(storedNumber) }
    }
}

extension JobDeliveryMachine.Report {
    init(event: JobDeliveryMachine.QueuedEvent, outcome: AttemptOutcome, error: String?) {
        self.init(
            eventID: event.id, kind: event.kind, sequence: event.sequence, attempt: nil, statusCode: nil,
            outcome: outcome, durationMs: nil, error: error, nextAttemptAt: nil)
    }
}
