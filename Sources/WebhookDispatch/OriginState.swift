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

/// Deadlines the dispatcher must act on, earliest first. Stale entries are harmless: acting on
/// one re-checks the state it refers to.
struct TimerQueue {
    enum Target: Hashable {
        /// A job's machine asked to be woken (its head is due, or its held progress may go).
        case job(String)
        /// A paused origin may be probed.
        case probe(Origin)
    }

    private var heap: [(deadline: Timestamp, order: UInt64, target: Target)] = []
    private var counter: UInt64 = 0

    var earliest: Timestamp? { heap.first?.deadline }
    var count: Int { heap.count }

    mutating func schedule(_ target: Target, at deadline: Timestamp) {
        counter &+= 1
        heap.append((deadline, counter, target))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popDue(now: Timestamp) -> [Target] {
        var due = [Target]()
        while let first = heap.first, first.deadline <= now {
            due.append(first.target)
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            var parent = 0
            while true {
                let left = parent * 2 + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count, less(left, smallest) { smallest = left }
                if right < heap.count, less(right, smallest) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return due
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        (heap[a].deadline, heap[a].order) < (heap[b].deadline, heap[b].order)
    }
}

/// One attempt handed from the actor to a worker task.
struct DeliveryWork: Sendable {
    let jobID: String
    let eventID: EventID
    let kind: EventKind
    let sequence: Int64
    let attempt: Int
    let url: String
    let body: [UInt8]?
    /// The one attempt let through to a paused origin.
    let isProbe: Bool
}
