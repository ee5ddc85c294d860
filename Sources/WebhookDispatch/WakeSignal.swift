import Synchronization

/// Wakes one waiting task, or the next one to wait. Cancelling a wait only ends that wait.
///
/// The timer loop needs "sleep until the deadline or until someone arms an earlier one". An
/// `AsyncStream` cannot serve: cancelling a task that awaits its `next()` terminates the whole
/// stream, after which every wait returns at once and the loop spins.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Creates an unsignalled signal.
    public init() {}

    /// True once ``close()`` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Wakes the current waiter, or makes the next wait return at once.
    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Wakes the waiter and makes every later wait return at once.
    public func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns after a signal, on close, or when the calling task is cancelled.
    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // Checked under the lock: if the cancel handler ran before we store the
                    // continuation, the task is already marked cancelled here.
                    if state.pending || state.closed || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
