/// When to try again (SPEC section 6).
///
/// Terminal events get three quick attempts the job waits for, then a background schedule:
///
/// | attempt | after the previous failure |
/// |---|---|
/// | 1 | at once |
/// | 2, 3 | `quickDelays` (1 s, 2 s) |
/// | 4, 5, … | `backgroundSchedule` (5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h, 8 h, 8 h, …) |
///
/// until `maxAge` after the series began. Background delays get jitter: each is shortened by up
/// to `jitterFraction` (so a burst of failures does not retry in lock-step, yet never waits
/// longer than configured). A `Retry-After` longer than the computed delay wins, capped at
/// `retryAfterCap`. Progress events get the same three quick attempts and are then dropped.
public struct RetryPolicy: Sendable, Hashable {
    /// Delays before attempts 2 and 3.
    public var quickDelays: [Duration]
    /// Background delays; the last repeats.
    public var backgroundSchedule: [Duration]
    /// After this, counted from the series start, a terminal event is marked failed.
    public var maxAge: Duration
    /// The longest `Retry-After` honoured.
    public var retryAfterCap: Duration
    /// Up to this fraction of a background delay is cut at random.
    public var jitterFraction: Double
    /// Attempts a progress event gets before it is dropped.
    public var progressAttempts: Int

    /// The documented defaults.
    public static let standard = RetryPolicy(
        quickDelays: [.seconds(1), .seconds(2)],
        backgroundSchedule: [
            .seconds(5), .seconds(30), .seconds(120), .seconds(600), .seconds(1800), .seconds(3600),
            .seconds(7200), .seconds(14400), .seconds(28800),
        ],
        maxAge: .seconds(72 * 3600),
        retryAfterCap: .seconds(3600),
        jitterFraction: 0.2,
        progressAttempts: 3
    )

    /// Creates a policy.
    public init(
        quickDelays: [Duration], backgroundSchedule: [Duration], maxAge: Duration,
        retryAfterCap: Duration = .seconds(3600), jitterFraction: Double = 0.2, progressAttempts: Int = 3
    ) {
        self.quickDelays = quickDelays
        self.backgroundSchedule = backgroundSchedule.isEmpty ? [.seconds(60)] : backgroundSchedule
        self.maxAge = maxAge
        self.retryAfterCap = retryAfterCap
        self.jitterFraction = min(1, max(0, jitterFraction))
        self.progressAttempts = max(1, progressAttempts)
    }

    /// Attempts a terminal event gets before the job stops waiting for it.
    public var quickAttempts: Int { quickDelays.count + 1 }

    /// What to do after an attempt.
    /// - Parameters:
    ///   - kind: the event type.
    ///   - seriesAttempts: attempts of the current series, this one included.
    ///   - seriesStartedAt: when the series began.
    ///   - verdict: how the attempt went.
    ///   - now: when it ended.
    ///   - random: a value in 0..<1 that picks the jitter.
    public func decide(
        kind: EventKind, seriesAttempts: Int, seriesStartedAt: Timestamp, verdict: AttemptVerdict,
        now: Timestamp, random: Double
    ) -> RetryDecision {
        switch verdict {
        case .success:
            return .delivered
        case .gone:
            return .gone
        case .rejected(let reason):
            return .failed(reason: reason)
        case .retryable(let reason, let retryAfter):
            let asked = retryAfter.map { min($0, retryAfterCap) }
            if !kind.isTerminal {
                guard seriesAttempts < progressAttempts else {
                    return .dropped(reason: "\(reason) after \(seriesAttempts) attempts")
                }
                let base = quickDelays[min(seriesAttempts - 1, quickDelays.count - 1)]
                return .retry(at: now.advanced(by: max(base, asked ?? .zero)), quickPhaseOver: false)
            }
            if seriesAttempts < quickAttempts {
                let base = quickDelays[seriesAttempts - 1]
                if let asked, asked > base {
                    return scheduleBackground(at: now.advanced(by: asked), seriesStartedAt: seriesStartedAt, reason: reason)
                }
                return .retry(at: now.advanced(by: base), quickPhaseOver: false)
            }
            let index = min(seriesAttempts - quickAttempts, backgroundSchedule.count - 1)
            let scheduled = backgroundSchedule[index]
            let cut = Double(scheduled.wholeMilliseconds) * jitterFraction * min(max(random, 0), 1)
            let jittered = Duration.milliseconds(scheduled.wholeMilliseconds - Int64(cut))
            let delay = max(jittered, asked ?? .zero)
            return scheduleBackground(at: now.advanced(by: delay), seriesStartedAt: seriesStartedAt, reason: reason)
        }
    }

    private func scheduleBackground(at time: Timestamp, seriesStartedAt: Timestamp, reason: String) -> RetryDecision {
        let deadline = seriesStartedAt.advanced(by: maxAge)
        if time > deadline {
            return .failed(reason: "\(reason); gave up after the max age of \(maxAge.wholeMilliseconds / 3_600_000) h")
        }
        return .retry(at: time, quickPhaseOver: true)
    }
}

/// The outcome of ``RetryPolicy/decide(kind:seriesAttempts:seriesStartedAt:verdict:now:random:)``.
public enum RetryDecision: Sendable, Hashable {
    case delivered
    /// Try again at `at`; `quickPhaseOver` tells a waiting job to stop waiting.
    case retry(at: Timestamp, quickPhaseOver: Bool)
    case failed(reason: String)
    case dropped(reason: String)
    case gone
}
