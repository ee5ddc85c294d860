/// What the operations page, `GET /deliveries` and the bulk routes read and change across jobs
/// (SPEC sections 4 and 9). Kept apart from ``OutboxReadModel`` (one job at a time, what the job
/// routes need) so stores that only serve the dispatcher (the in-memory test double) need none of it.
///
/// Every read is backed by an index: state and time (`created_at`), job and sequence, or the
/// pending events only; origin, event type and time are residual filters on rows the index found.
public protocol DeliveryListing: Sendable {
    /// Events matching `filter`, newest first (`created_at`, then `event_id`, descending), after
    /// `cursor`, at most `limit`, each with its attempts; bodies are not loaded.
    func events(matching filter: DeliveryFilter, after cursor: DeliveryCursor?, limit: Int) async throws(OutboxError)
        -> [EventHistory]

    /// How many events match `filter`, and the newest `limit` of them with whether their job's
    /// callback is gone: what a bulk redelivery or a discard acts on, counted first.
    func bulkMatches(_ filter: DeliveryFilter, limit: Int) async throws(OutboxError) -> BulkMatches

    /// Ends pending events without further attempts: terminal events `failed`, the others
    /// `dropped`, with `reason`. Events no longer pending, or (on a shared store) held by another
    /// live worker, are left alone.
    /// - Returns: the events that were ended.
    func discard(_ ids: [EventID], reason: String, at time: Timestamp) async throws(OutboxError) -> [EventID]

    /// How many events are in each state (every state present, 0 when none).
    func depthByState() async throws(OutboxError) -> [DeliveryState: Int]

    /// Jobs whose next event waits behind an earlier pending one (head-of-line), oldest blocking
    /// event first, at most `limit`.
    func headOfLine(limit: Int) async throws(OutboxError) -> [HeadOfLineEntry]
}

/// The events a bulk action matched (``DeliveryListing/bulkMatches(_:limit:)``).
public struct BulkMatches: Sendable, Hashable {
    /// Every match, also beyond the limit.
    public var total: Int
    /// The newest matches, at most the limit asked for.
    public var events: [BulkMatch]

    /// Creates the result.
    public init(total: Int, events: [BulkMatch]) {
        self.total = total
        self.events = events
    }
}

/// One event a bulk action may act on.
public struct BulkMatch: Sendable, Hashable {
    public var id: EventID
    public var jobID: String
    public var kind: EventKind
    /// The job's callback answered 410 or `webhook-delivery: disable`.
    public var callbackGone: Bool

    /// Creates a match.
    public init(id: EventID, jobID: String, kind: EventKind, callbackGone: Bool) {
        self.id = id
        self.jobID = jobID
        self.kind = kind
        self.callbackGone = callbackGone
    }
}

/// A job held up behind an earlier event: that event (the head of its queue) and how many
/// events wait behind it.
public struct HeadOfLineEntry: Sendable, Hashable {
    /// The blocking event, with its state, attempts so far and next attempt time.
    public var blocking: EventHistory
    /// Pending events of the job after the blocking one.
    public var waiting: Int

    /// Creates an entry.
    public init(blocking: EventHistory, waiting: Int) {
        self.blocking = blocking
        self.waiting = waiting
    }
}
