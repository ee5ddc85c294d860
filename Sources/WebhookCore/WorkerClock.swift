#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one source of time for retry, throttle and breaker logic.
///
/// Injected everywhere a schedule is computed so tests drive time by hand (see
/// `ManualClock` in WebhookTestSupport) instead of sleeping.
public protocol WorkerClock: Sendable {
    /// The current wall-clock time.
    var now: Timestamp { get }

    /// Suspends until `deadline` (returns at once when it has passed).
    /// - Throws: `CancellationError` when the calling task is cancelled.
    func sleep(until deadline: Timestamp) async throws
}

/// The real clock: `CLOCK_REALTIME` for instants, `Task.sleep` for waiting.
public struct SystemClock: WorkerClock {
    /// Creates the system clock.
    public init() {}

    public var now: Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public func sleep(until deadline: Timestamp) async throws {
        let remaining = deadline.milliseconds - now.milliseconds
        if remaining > 0 {
            try await Task.sleep(for: .milliseconds(remaining))
        } else {
            try Task.checkCancellation()
        }
    }
}
