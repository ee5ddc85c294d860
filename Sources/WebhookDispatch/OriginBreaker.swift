public import WebhookCore

/// Pauses an origin that keeps failing, so its events wait instead of burning attempts, and
/// probes it with one real attempt until it answers (SPEC section 6).
///
/// `failureThreshold` unhealthy attempts in a row (connection errors, timeouts, 5xx) open it.
/// Probes follow at `firstProbeDelay`, then double up to `maxProbeInterval` (30 s): 5, 10, 20,
/// 30, 30 … s. Any HTTP answer other than 5xx (even a 4xx) shows the receiver is alive and closes it.
public struct OriginBreaker: Sendable, Equatable {
    /// The breaker's state.
    public enum State: Sendable, Equatable {
        case closed
        /// Paused; the next probe is due at `probeAt`.
        case open(probeAt: Timestamp, interval: Duration)
        /// One probe attempt is under way.
        case probing(interval: Duration)
    }

    /// What happened to the breaker after an attempt.
    public enum Transition: Sendable, Equatable {
        case none
        /// It just opened (paused); probe at the given time.
        case paused(probeAt: Timestamp)
        /// A probe failed; next probe at the given time.
        case stillPaused(probeAt: Timestamp)
        /// It closed again.
        case resumed
    }

    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    public let failureThreshold: Int
    public let firstProbeDelay: Duration
    public let maxProbeInterval: Duration

    /// Creates a closed breaker.
    public init(failureThreshold: Int = 5, firstProbeDelay: Duration = .seconds(5), maxProbeInterval: Duration = .seconds(30)) {
        self.failureThreshold = max(1, failureThreshold)
        self.firstProbeDelay = firstProbeDelay
        self.maxProbeInterval = maxProbeInterval
    }

    /// True unless closed.
    public var isPaused: Bool { state != .closed }

    /// True when the origin is paused and its next probe is due at `now`.
    public func isProbeDue(now: Timestamp) -> Bool {
        guard case .open(let probeAt, _) = state else { return false }
        return now >= probeAt
    }

    /// The probe ended without an answer to judge (cancelled, shut down): paused again, the next
    /// probe due at once. Returns that time, or nil when no probe was under way.
    public mutating func probeUnanswered(now: Timestamp) -> Timestamp? {
        guard case .probing(let interval) = state else { return nil }
        state = .open(probeAt: now, interval: interval)
        return now
    }

    /// Starts a probe if one is due at `now`; returns true when the caller may send one attempt.
    public mutating func beginProbe(now: Timestamp) -> Bool {
        guard case .open(let probeAt, let interval) = state, now >= probeAt else { return false }
        state = .probing(interval: interval)
        return true
    }

    /// Records an attempt's verdict.
    ///
    /// While paused, only the probe's failure moves the next probe out; attempts that were
    /// already in flight when the origin was paused may still report failures, and those change
    /// nothing (else each would double the interval). Any healthy answer closes the breaker.
    /// - Parameters:
    ///   - unhealthy: the attempt failed in a way that blames the receiver.
    ///   - probe: the attempt was the probe.
    ///   - now: when it ended.
    public mutating func record(unhealthy: Bool, probe: Bool = false, now: Timestamp) -> Transition {
        switch state {
        case .closed:
            guard unhealthy else {
                consecutiveFailures = 0
                return .none
            }
            consecutiveFailures += 1
            guard consecutiveFailures >= failureThreshold else { return .none }
            let probeAt = now.advanced(by: firstProbeDelay)
            state = .open(probeAt: probeAt, interval: firstProbeDelay)
            return .paused(probeAt: probeAt)
        case .probing(let interval), .open(_, let interval):
            guard unhealthy else {
                state = .closed
                consecutiveFailures = 0
                return .resumed
            }
            guard probe else { return .none }
            let next = min(interval * 2, maxProbeInterval)
            let probeAt = now.advanced(by: next)
            state = .open(probeAt: probeAt, interval: next)
            return .stillPaused(probeAt: probeAt)
        }
    }
}
