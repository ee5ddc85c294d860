/// The durable outbox: every event is stored here before its first attempt.
///
/// The dispatcher never holds an event that the store has not committed, and reports every
/// attempt back so the store can resume after a crash. A store shared by several workers
/// (PostgreSQL) implements ``pendingEvents(after:limit:)`` by claiming job leases
/// (`FOR UPDATE SKIP LOCKED`, lease expiry), so one job's events go through one worker at a time;
/// the embedded SQLite store is owned by one process and returns every pending event.
public protocol OutboxStore: Sendable {
    /// Stores events, assigning each an id and the next sequence number of its job.
    ///
    /// A draft's ``EventDraft/jobUpdate`` is stored in the same transaction.
    /// Returns once the events are committed (durable), with their bodies. Events of a job whose
    /// callback is gone are stored as `failed` (terminal) or `dropped` (progress) at once.
    ///
    /// The store remembers, per job and durably, that its terminal event is stored: a
    /// `job.started`/`job.progress` draft that arrives after it never becomes an event (no
    /// sequence, no row, absent from the result), decided in the same transaction, so a receiver
    /// can never get progress after the terminal event — across restarts and across workers.
    /// - Throws: ``OutboxError`` when the events could not be stored; then none was.
    func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent]

    /// Stores a job's state without an event (an update the progress throttle holds back, or a
    /// job without a callback). Stores that keep no jobs ignore it.
    func recordJobState(_ update: JobStateUpdate, at time: Timestamp) async throws(OutboxError)

    /// Makes attempts and state changes durable, in order.
    /// - Throws: ``OutboxError`` when the changes could not be stored.
    func apply(_ changes: [OutboxChange]) async throws(OutboxError)

    /// Pending events without bodies, in (job, sequence) order within each job, one page at a time.
    /// - Returns: the page and where the next page starts; an empty page ends the listing.
    func pendingEvents(after cursor: PendingCursor, limit: Int) async throws(OutboxError)
        -> (events: [OutboxEvent], next: PendingCursor)

    /// The exact body bytes of an event.
    func body(of id: EventID) async throws(OutboxError) -> [UInt8]

    /// Starts a new series of attempts for an event (operator redelivery): state `pending`, due
    /// at `time`, same id and body.
    /// - Throws: ``OutboxError`` with code `.notFound` for an unknown id.
    func redeliver(_ id: EventID, at time: Timestamp) async throws(OutboxError) -> OutboxEvent

    /// One event with its attempts, or nil.
    func history(of id: EventID) async throws(OutboxError) -> EventHistory?

    /// Every event of a job, by sequence, with attempts; bodies are not loaded.
    func histories(ofJob jobID: String) async throws(OutboxError) -> [EventHistory]

    /// How many events are pending.
    func pendingCount() async throws(OutboxError) -> Int

    /// Whether the store can take writes now (for `/readyz`): a real write is committed, and a
    /// store on a file checks that the file in use is still the one at its path.
    func health() async -> StoreHealth
}
