import Synchronization

/// Waits for an operation, but no longer than a deadline, without waiting for the operation to
/// notice that it lost: a structured task group would await its child, and a query on a
/// connection that stopped answering does not end when cancelled.
///
/// Two unstructured tasks are the price (one runs the operation, one sleeps); the caller gets
/// whichever finishes first, exactly once, and the sleeper is cancelled when the operation wins.
/// A cancelled caller gets `onCancel` at once and the operation's task is cancelled too.
enum DeadlineRace {
    /// `operation`'s result, or `onTimeout` once `deadline` has passed.
    static func first<T: Sendable>(
        probe operation: @escaping @Sendable () async -> T, deadline: Duration, onTimeout: T
    ) async -> T {
        await first(probe: operation, deadline: deadline, onTimeout: onTimeout, onCancel: onTimeout)
    }

    /// `operation`'s result; `onTimeout` once `deadline` has passed; `onCancel` as soon as the
    /// caller's task is cancelled.
    static func first<T: Sendable>(
        probe operation: @escaping @Sendable () async -> T, deadline: Duration, onTimeout: T, onCancel: T
    ) async -> T {
        let slot = Slot<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                slot.arm(continuation)
                let sleeper = Task {
                    try? await Task.sleep(for: deadline)
                    slot.resume(with: onTimeout)
                }
                slot.track(
                    Task {
                        let value = await operation()
                        slot.resume(with: value)
                        sleeper.cancel()
                    }, sleeper)
            }
        } onCancel: {
            slot.cancelAll()
            slot.resume(with: onCancel)
        }
    }

    /// Resumes a continuation once, whoever comes first; remembers the racing tasks so that a
    /// cancelled caller cancels them.
    private final class Slot<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, Never>?
            /// A value that came before the continuation was armed (a caller cancelled at once).
            var early: T?
            var tasks: [Task<Void, Never>] = []
            var cancelled = false
            var resumed = false
        }
        private let state = Mutex(State())

        func arm(_ continuation: CheckedContinuation<T, Never>) {
            let early = state.withLock { state -> T? in
                if let early = state.early {
                    state.resumed = true
                    return early
                }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        func track(_ tasks: Task<Void, Never>...) {
            let cancelled = state.withLock { state in
                state.tasks = tasks
                return state.cancelled
            }
            if cancelled { tasks.forEach { $0.cancel() } }
        }

        func cancelAll() {
            let tasks = state.withLock { state in
                state.cancelled = true
                return state.tasks
            }
            tasks.forEach { $0.cancel() }
        }

        func resume(with value: T) {
            let waiting = state.withLock { state -> CheckedContinuation<T, Never>? in
                guard let continuation = state.continuation else {
                    // Not armed yet: keep the first value for `arm`; once resumed, drop the rest.
                    if state.early == nil && !state.resumed { state.early = value }
                    return nil
                }
                state.continuation = nil
                state.resumed = true
                return continuation
            }
            waiting?.resume(returning: value)
        }
    }
}
