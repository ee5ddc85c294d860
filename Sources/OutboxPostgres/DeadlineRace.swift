import Synchronization

/// Waits for an operation, but no longer than a deadline, without waiting for the operation to
/// notice that it lost: a structured task group would await its child, and a query on a
/// connection that stopped answering does not end when cancelled.
///
/// Two unstructured tasks are the price (one runs the operation, one sleeps); the caller gets
/// whichever finishes first, exactly once, and the sleeper is cancelled when the operation wins.
enum DeadlineRace {
    /// `operation`'s result, or `onTimeout` once `deadline` has passed.
    static func first<T: Sendable>(
        probe operation: @escaping @Sendable () async -> T, deadline: Duration, onTimeout: T
    ) async -> T {
        let slot = Slot<T>()
        return await withCheckedContinuation { continuation in
            slot.arm(continuation)
            let sleeper = Task {
                try? await Task.sleep(for: deadline)
                slot.resume(with: onTimeout)
            }
            Task {
                let value = await operation()
                slot.resume(with: value)
                sleeper.cancel()
            }
        }
    }

    /// Resumes a continuation once, whoever comes first.
    private final class Slot<T: Sendable>: Sendable {
        private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)

        func arm(_ continuation: CheckedContinuation<T, Never>) {
            self.continuation.withLock { $0 = continuation }
        }

        func resume(with value: T) {
            let waiting = continuation.withLock { slot -> CheckedContinuation<T, Never>? in
                defer { slot = nil }
                return slot
            }
            waiting?.resume(returning: value)
        }
    }
}
