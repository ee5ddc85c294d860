import Synchronization
public import WebhookCore

/// A clock that moves only when a test says so, so retry and throttle schedules are tested
/// without sleeping.
public final class ManualClock: WorkerClock, Sendable {
    private struct Sleeper {
        let id: Int
        let deadline: Timestamp
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Timestamp
        var sleepers: [Sleeper] = []
        var nextID = 0
    }
    private let state: Mutex<State>
    private let sleepersChanged = AsyncRecorder<Int>()

    /// Creates a clock that reads `start`.
    public init(start: Timestamp = Timestamp(milliseconds: 1_700_000_000_000)) {
        state = Mutex(State(now: start))
    }

    public var now: Timestamp { state.withLock { $0.now } }

    /// The earliest deadline someone sleeps until.
    public var nextDeadline: Timestamp? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    /// How many tasks sleep on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Timestamp) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let due = state.withLock { state -> Bool in
                    if deadline <= state.now { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if due { continuation.resume() } else { sleepersChanged.record(id) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward by `duration` and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        advance(to: now.advanced(by: duration))
    }

    /// Moves time to `time` (never backwards) and wakes every sleeper whose deadline has come.
    public func advance(to time: Timestamp) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = max(state.now, time)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits until someone sleeps until a deadline at or before `time` (i.e. a timer is armed).
    public func waitForSleeper(until time: Timestamp? = nil, timeout: Duration = .seconds(10)) async throws {
        let start = ContinuousClock.now
        while true {
            let armed = state.withLock { state in
                state.sleepers.contains { time == nil || $0.deadline <= time! }
            }
            if armed { return }
            if ContinuousClock.now - start > timeout { throw RecorderTimeout(expected: 1, got: 0) }
            await Task.yield()
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
