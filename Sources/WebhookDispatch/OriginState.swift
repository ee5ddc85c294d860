import WebhookCore

/// Per-origin bookkeeping: concurrency, the jobs waiting for a slot, the breaker and the jobs
/// parked while it is open. Lives inside the dispatcher's actor.
final class OriginState {
    var inFlight = 0
    var waiting = JobWaitQueue()
    var breaker: OriginBreaker
    var parked = Set<String>()
    var probeInFlight = false
    var probeArmedAt: Timestamp?
    /// The parked job whose evicted queue is being read back so that it can carry the due probe:
    /// no other parked job is woken for it meanwhile. Cleared when that read-back ends, however.
    var probeCarrier: String?
    /// The last time an attempt to this origin ended: an origin idle for long is forgotten.
    var lastUsed: Timestamp

    /// True when nothing about this origin needs remembering (beyond its last use).
    var isIdle: Bool { inFlight == 0 && waiting.isEmpty && parked.isEmpty && !breaker.isPaused }

    init(breaker: OriginBreaker, now: Timestamp) {
        self.breaker = breaker
        self.lastUsed = now
    }

    func wait(_ jobID: String) {
        waiting.append(jobID)
    }

    func nextWaiting() -> String? {
        waiting.popFirst()
    }
}
