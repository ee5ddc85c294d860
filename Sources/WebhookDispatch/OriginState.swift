import DequeModule
import WebhookCore

/// Per-origin bookkeeping: concurrency, the jobs waiting for a slot, the breaker and the jobs
/// parked while it is open. Lives inside the dispatcher's actor.
final class OriginState {
    var inFlight = 0
    var waiting = Deque<String>()
    var waitingSet = Set<String>()
    var breaker: OriginBreaker
    var parked = Set<String>()
    var probeInFlight = false
    var probeArmedAt: Timestamp?

    init(breaker: OriginBreaker) {
        self.breaker = breaker
    }

    func wait(_ jobID: String) {
        if waitingSet.insert(jobID).inserted { waiting.append(jobID) }
    }

    func nextWaiting() -> String? {
        guard let jobID = waiting.popFirst() else { return nil }
        waitingSet.remove(jobID)
        return jobID
    }
}
