import DequeModule

/// Jobs waiting for a free attempt slot, first come first served, each once.
struct JobWaitQueue {
    private var order = Deque<String>()
    private var members = Set<String>()

    var isEmpty: Bool { order.isEmpty }
    var count: Int { order.count }

    mutating func append(_ jobID: String) {
        if members.insert(jobID).inserted { order.append(jobID) }
    }

    mutating func popFirst() -> String? {
        guard let jobID = order.popFirst() else { return nil }
        members.remove(jobID)
        return jobID
    }
}
