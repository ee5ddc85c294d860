import Synchronization

/// Gives a job's processing slot back exactly once: when its terminal event is stored (the
/// job then only awaits that event's attempts, which need no slot: SPEC section 6, "Jobs do
/// not wait for each other"), or when the job ends without one.
final class SlotRelease: Sendable {
    private let released = Mutex(false)
    private let onRelease: @Sendable () -> Void

    init(_ onRelease: @escaping @Sendable () -> Void) {
        self.onRelease = onRelease
    }

    func release() {
        let first = released.withLock { released in
            defer { released = true }
            return !released
        }
        if first { onRelease() }
    }
}
