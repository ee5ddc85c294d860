/// The durable outbox: every event is stored here before its first attempt.
///
/// The dispatcher never holds an event that the store has not committed, and reports every
/// attempt back so the store can resume after a crash.
///
/// Work is handed out per job through leases (``JobLease``): ``claimJobs(limit:at:)`` gives a
/// worker jobs with pending events that no other worker holds, with those events; the worker
/// renews its leases while it works and releases them when a job has nothing left. The
/// embedded SQLite store is the single-owner case (its data directory is locked by one process):
/// it grants every claim, its leases never lapse (``leaseDuration`` is nil), and a job whose
/// events this process appended is already its own. A shared store (PostgreSQL) claims with
///
/// ```sql
/// WITH due AS (
///     SELECT job_id FROM webhook_jobs
///     WHERE next_due_at <= now() AND (lease_until IS NULL OR lease_until < now())
///     ORDER BY next_due_at LIMIT $limit FOR UPDATE SKIP LOCKED)
/// UPDATE webhook_jobs j SET lease_owner = $owner, lease_epoch = j.lease_epoch + 1,
///     lease_until = now() + $duration
/// FROM due WHERE j.job_id = due.job_id
/// RETURNING j.job_id, j.lease_epoch, j.lease_until
/// ```
///
/// using the database's clock for expiry, and refuses changes whose lease epoch moved on.
public protocol OutboxStore: Sendable {
    /// Stores events, assigning each an id and the next sequence number of its job.
    ///
    /// Returns once the events are committed (durable), with their bodies. Events of a job whose
    /// callback is gone are stored as `failed` (terminal) or `dropped` (progress) at once.
    ///
    /// A shared store also fences appends: a job whose lease this owner held and lost, or that
    /// another owner holds alive, is refused with `.leaseLost`; otherwise the appending owner
    /// holds the job's lease from then on (the runner appending a job's events is its holder).
    ///
    /// The store remembers, per job and durably, that its terminal event is stored: a
    /// `job.started`/`job.progress` draft that arrives after it never becomes an event (no
    /// sequence, no row, absent from the result), decided in the same transaction, so a receiver
    /// can never get progress after the terminal event — across restarts and across workers.
    /// - Throws: ``OutboxError`` when the events could not be stored; then none was.
    func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent]

    /// Makes attempts and state changes durable, in order.
    ///
    /// A shared store fences: the changes of a job whose lease this owner no longer holds (its
    /// epoch moved on: another worker claimed it) are refused — left out, not stored — while the
    /// rest of the batch is stored; a refusal is not an error, since retrying cannot make it
    /// right (the job's new holder repeats what the stale worker did). A single-owner store
    /// refuses nothing.
    /// - Throws: ``OutboxError`` when the changes could not be stored.
    func apply(_ changes: [OutboxChange]) async throws(OutboxError)

    /// How long a lease lasts without renewal; nil when leases never lapse (one owner).
    var leaseDuration: Duration? { get }

    /// Claims up to `limit` jobs that have pending events and that this store's owner does not
    /// hold yet (and no other owner holds alive), with their pending events (no bodies) in
    /// sequence order. Repeated calls page through the backlog; an empty result means none is left.
    func claimJobs(limit: Int, at time: Timestamp) async throws(OutboxError) -> [ClaimedJob]

    /// The pending events (no bodies), in sequence order, of jobs this owner holds: how the
    /// dispatcher brings back the queues it gave up while their origin was paused. A job held by
    /// another owner now (its lease moved on) is left out.
    func pendingEvents(ofJobs jobIDs: [String]) async throws(OutboxError) -> [String: [OutboxEvent]]

    /// Extends leases this owner still holds.
    /// - Returns: the leases that were lost (their epoch moved on: another worker holds the job).
    func renewLeases(_ leases: [JobLease], at time: Timestamp) async throws(OutboxError) -> [JobLease]

    /// Gives a lease up (the job has nothing pending, or its next attempt is far away); a lease
    /// whose epoch moved on is left alone.
    func releaseLease(_ lease: JobLease) async throws(OutboxError)

    /// Every lease this process holds now, however it was won (a claim, an append that took a
    /// free job, a redelivery, a run of the job): what the renewal loop renews. Empty for a store
    /// whose leases never lapse.
    var heldLeases: [JobLease] { get }

    /// The exact body bytes of an event.
    func body(of id: EventID) async throws(OutboxError) -> [UInt8]

    /// Starts a new series of attempts for an event (operator redelivery): state `pending`, due
    /// at `time`, same id and body.
    /// - Throws: ``OutboxError`` with code `.notFound` for an unknown id.
    func redeliver(_ id: EventID, at time: Timestamp) async throws(OutboxError) -> OutboxEvent

    /// Whether the store can take writes now (for `/readyz`): a real write is committed, and a
    /// store on a file checks that the file in use is still the one at its path.
    func health() async -> StoreHealth
}

/// What the API and the CLI read about events: histories and counts. Kept apart from
/// ``OutboxStore``, which is what the dispatcher needs, so neither grows the other's methods.
public protocol OutboxReadModel: Sendable {
    /// When the oldest pending event was stored, or nil with none pending: what an alert on a
    /// stuck backlog watches.
    func oldestPendingCreatedAt() async throws(OutboxError) -> Timestamp?

    /// The job's newest event (highest sequence) without attempts or body, or nil: what
    /// `GET /ai-clipping/jobs/{id}` shows, read without loading the job's whole history.
    func newestEvent(ofJob jobID: String) async throws(OutboxError) -> EventHistory?

    /// One event with its attempts, or nil.
    func history(of id: EventID) async throws(OutboxError) -> EventHistory?

    /// Every event of a job, by sequence, with attempts; bodies are not loaded.
    func histories(ofJob jobID: String) async throws(OutboxError) -> [EventHistory]

    /// How many events are pending.
    func pendingCount() async throws(OutboxError) -> Int
}

extension OutboxStore {
    /// One owner: nothing lapses, nothing to renew.
    public var heldLeases: [JobLease] { [] }
}
