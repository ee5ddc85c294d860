import WebhookCore

/// Deadlines the dispatcher must act on, earliest first. Stale entries are harmless: acting on
/// one re-checks the state it refers to.
struct TimerQueue {
    enum Target: Hashable {
        /// A job's machine asked to be woken (its head is due, or its held progress may go).
        case job(String)
        /// A paused origin may be probed.
        case probe(Origin)
        /// Time to forget origins idle for long.
        case pruneOrigins
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
