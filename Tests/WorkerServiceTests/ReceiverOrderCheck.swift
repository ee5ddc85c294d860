/// SPEC section 6 as a receiver sees it, counted over what it received per job in arrival order:
/// an event with a lower sequence than one received before it (an inversion), and a progress
/// event after the job's terminal event. Every request counts, whatever it was answered.
struct ReceiverOrderCheck {
    var inversions = 0
    var progressAfterTerminal = 0

    /// - Parameter perJob: per job, each request's (sequence, event type) in arrival order.
    init(_ perJob: [String: [(sequence: Int64, event: String)]]) {
        for (_, lines) in perJob {
            var highest: Int64 = 0
            var terminalSeen = false
            for line in lines {
                if line.sequence < highest { inversions += 1 }
                highest = max(highest, line.sequence)
                let terminal = line.event == "job.completed" || line.event == "job.failed"
                if !terminal && terminalSeen { progressAfterTerminal += 1 }
                if terminal { terminalSeen = true }
            }
        }
    }
}
