/// Counters describing a dispatcher at one moment.
public struct DispatcherStatus: Sendable, Hashable {
    /// Events stored and not yet final, as this dispatcher tracks them.
    public var pendingEvents: Int
    /// Attempts sent and not yet answered.
    public var attemptsInFlight: Int
    /// Origins paused by their breaker.
    public var pausedOrigins: Int
    /// Jobs with something to remember (queued events, a held update, a waiter).
    public var jobsTracked: Int
    /// Jobs parked behind a paused origin whose queues were given up: their events are in the
    /// store only, and are read back when the origin takes attempts again.
    public var jobsEvicted: Int
    /// Jobs whose next attempt waits because `maxInFlight` attempts are in flight.
    public var jobsWaitingForASlot: Int
    /// Origins remembered (breaker, limits); forgotten after 10 idle minutes.
    public var originsTracked: Int
    /// Entries in the timer heap (stale ones included until they fire).
    public var timersArmed: Int
    /// Event bodies held in memory for quick sending.
    public var bodyCacheBytes: Int
    /// Bodies read back from the store because they were not cached.
    public var bodyLoads: Int
    /// Attempt records could not be written on the last try (they are retried, never dropped).
    public var storeFailing: Bool
}
