public import WebhookCore

/// A test store that wraps a real one and overrides only what a test needs to break (hold an
/// append at a gate, fail writes, lose a lease): every method it does not implement forwards
/// to ``inner``.
public protocol ForwardingOutboxStore: OutboxStore, OutboxReadModel {
    associatedtype Inner: OutboxStore & OutboxReadModel
    /// The real store underneath.
    var inner: Inner { get }
}

extension ForwardingOutboxStore {
    public var leaseDuration: Duration? { inner.leaseDuration }

    public func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent] {
        try await inner.append(drafts, at: time)
    }

    public func apply(_ changes: [OutboxChange]) async throws(OutboxError) {
        try await inner.apply(changes)
    }

    public func claimJobs(limit: Int, at time: Timestamp) async throws(OutboxError) -> [ClaimedJob] {
        try await inner.claimJobs(limit: limit, at: time)
    }

    public func pendingEvents(ofJobs jobIDs: [String]) async throws(OutboxError) -> [String: [OutboxEvent]] {
        try await inner.pendingEvents(ofJobs: jobIDs)
    }

    public func renewLeases(_ leases: [JobLease], at time: Timestamp) async throws(OutboxError) -> [JobLease] {
        try await inner.renewLeases(leases, at: time)
    }

    public func releaseLease(_ lease: JobLease) async throws(OutboxError) {
        try await inner.releaseLease(lease)
    }

    public func body(of id: EventID) async throws(OutboxError) -> [UInt8] {
        try await inner.body(of: id)
    }

    public func redeliver(_ id: EventID, at time: Timestamp) async throws(OutboxError) -> OutboxEvent {
        try await inner.redeliver(id, at: time)
    }

    public func health() async -> StoreHealth {
        await inner.health()
    }

    public func history(of id: EventID) async throws(OutboxError) -> EventHistory? {
        try await inner.history(of: id)
    }

    public func histories(ofJob jobID: String) async throws(OutboxError) -> [EventHistory] {
        try await inner.histories(ofJob: jobID)
    }

    public func newestEvent(ofJob jobID: String) async throws(OutboxError) -> EventHistory? {
        try await inner.newestEvent(ofJob: jobID)
    }

    public func oldestPendingCreatedAt() async throws(OutboxError) -> Timestamp? {
        try await inner.oldestPendingCreatedAt()
    }

    public func pendingCount() async throws(OutboxError) -> Int {
        try await inner.pendingCount()
    }
}
