import Synchronization

/// The ends of attempts on their way from the sender's thread to the dispatcher's actor.
///
/// ``push(_:)`` is called by the sender's completions, on any thread; ``next()`` hands the actor
/// everything that arrived since its last call, so one wake-up takes a whole batch. Unlike an
/// `AsyncStream`, waiting is not ended by cancelling the waiting task: at shutdown the attempts in
/// flight are cancelled and their ends must still be taken, inside a task that is itself being
/// cancelled. Only ``finish()`` ends it.
final class AttemptEndQueue: Sendable {
    private struct State {
        var ends: [AttemptEnd] = []
        var waiter: CheckedContinuation<[AttemptEnd]?, Never>?
        var finished = false
    }
    private let state = Mutex(State())

    /// Adds an end; wakes the waiting consumer, if any.
    func push(_ end: AttemptEnd) {
        let waiter = state.withLock { state -> CheckedContinuation<[AttemptEnd]?, Never>? in
            guard let waiter = state.waiter else {
                state.ends.append(end)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: [end])
    }

    /// Everything pushed since the last call (waiting for at least one), or nil once finished
    /// and empty. One consumer at a time.
    func next() async -> [AttemptEnd]? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [AttemptEnd]?? in
                if !state.ends.isEmpty {
                    defer { state.ends = [] }
                    return .some(state.ends)
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Ends the queue: the consumer gets what is left, then nil.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[AttemptEnd]?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
