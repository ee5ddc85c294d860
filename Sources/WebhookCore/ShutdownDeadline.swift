import Synchronization

/// One deadline for a whole graceful shutdown (SPEC section 6): running jobs and attempts in
/// flight together get `grace` from the moment shutdown begins, not `grace` each in turn, so
/// the process exits within grace + a few seconds whatever the backlog.
public final class ShutdownDeadline: Sendable {
    private struct State {
        var begun = false
        var deadline: Timestamp?
    }
    private let state = Mutex(State())
    /// `CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS`.
    public let grace: Duration

    /// A deadline `grace` after shutdown begins.
    public init(grace: Duration) {
        self.grace = grace
    }

    /// Shutdown began (the API refuses new jobs from now on).
    public func begin() {
        state.withLock { $0.begun = true }
    }

    /// True once ``begin()`` was called.
    public var hasBegun: Bool { state.withLock { $0.begun } }

    /// The deadline: fixed by the first caller at `now + grace`, the same for every later one.
    public func deadline(from now: Timestamp) -> Timestamp {
        state.withLock { state in
            state.begun = true
            if let deadline = state.deadline { return deadline }
            let deadline = now.advanced(by: grace)
            state.deadline = deadline
            return deadline
        }
    }
}
