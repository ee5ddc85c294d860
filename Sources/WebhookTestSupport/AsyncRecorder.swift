import Synchronization

/// Collects values produced concurrently and lets a test await the n-th one, instead of sleeping
/// and hoping.
public final class AsyncRecorder<Element: Sendable>: Sendable {
    private struct Waiter {
        let id: Int
        let count: Int
        let continuation: CheckedContinuation<[Element], any Error>
    }
    private struct State {
        var values: [Element] = []
        var waiters: [Waiter] = []
        var nextWaiter = 0
    }
    private let state = Mutex(State())

    /// Creates an empty recorder.
    public init() {}

    /// Everything recorded so far.
    public var values: [Element] { state.withLock { $0.values } }

    /// Records a value and wakes the waiters it satisfies.
    public func record(_ value: Element) {
        let ready: [(CheckedContinuation<[Element], any Error>, [Element])] = state.withLock { state in
            state.values.append(value)
            var ready = [(CheckedContinuation<[Element], any Error>, [Element])]()
            state.waiters.removeAll { waiter in
                guard state.values.count >= waiter.count else { return false }
                ready.append((waiter.continuation, state.values))
                return true
            }
            return ready
        }
        for (continuation, values) in ready { continuation.resume(returning: values) }
    }

    /// Waits until at least `count` values were recorded.
    /// - Throws: ``RecorderTimeout`` after `timeout` (real time).
    @discardableResult
    public func wait(count: Int, timeout: Duration = .seconds(10)) async throws -> [Element] {
        try await withThrowingTaskGroup(of: [Element]?.self) { group in
            group.addTask { try await self.waitUntil(count: count) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let values = first else {
                throw RecorderTimeout(expected: count, got: self.values.count)
            }
            return values
        }
    }

    private func waitUntil(count: Int) async throws -> [Element] {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate: [Element]? = state.withLock { state in
                    if state.values.count >= count { return state.values }
                    state.waiters.append(Waiter(id: id, count: count, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// A wait that did not see enough values in time.
public struct RecorderTimeout: Error, CustomStringConvertible {
    public var expected: Int
    public var got: Int

    /// Creates a timeout error.
    public init(expected: Int, got: Int) {
        self.expected = expected
        self.got = got
    }

    public var description: String { "timed out waiting for \(expected) values, got \(got)" }
}
