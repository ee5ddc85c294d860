import Synchronization
public import WebhookCore

/// This process's delivery activity over the last five minutes, for the operations page (SPEC
/// section 9): attempts per second, failure rate, and per origin the success rate and last error.
///
/// A ``DeliveryObserver``: the dispatcher hands it every record on its actor, so `record` only
/// adds to per-second buckets under a lock (no parsing beyond finding the origin's end in the URL,
/// no allocation once an origin is known). Figures are this process's, not the store's.
public final class DeliveryActivity: DeliveryObserver, Sendable {
    /// The window the page shows.
    public static let window: Int64 = 300

    private struct Bucket {
        var second: Int64 = -1
        var attempts = 0
        var failures = 0
    }

    private struct OriginActivity {
        var buckets = [Bucket](repeating: Bucket(), count: Int(DeliveryActivity.window))
        var lastError: String?
        var lastErrorAt: Timestamp?
    }

    private struct State {
        var total = OriginActivity()
        var origins: [String: OriginActivity] = [:]
    }

    private let state = Mutex(State())

    /// Creates an empty record of activity.
    public init() {}

    public func record(_ record: DeliveryRecord) {
        // Attempts only: decisions without an attempt (superseded, a gone callback) send nothing.
        guard record.attempt != nil else { return }
        let failed = record.outcome != .delivered
        let second = record.time.milliseconds / 1000
        let origin = Self.origin(of: record.url)
        let error = failed ? (record.error ?? record.statusCode.map { "HTTP \($0)" }) : nil
        state.withLock { state in
            Self.add(to: &state.total, second: second, failed: failed, error: error, at: record.time)
            if state.origins[origin] == nil && state.origins.count >= Self.maxOrigins { Self.prune(&state, second: second) }
            Self.add(to: &state.origins[origin, default: OriginActivity()], second: second, failed: failed, error: error, at: record.time)
        }
    }

    private static func add(to activity: inout OriginActivity, second: Int64, failed: Bool, error: String?, at time: Timestamp) {
        let index = Int(((second % window) + window) % window)
        if activity.buckets[index].second != second { activity.buckets[index] = Bucket(second: second) }
        activity.buckets[index].attempts += 1
        if failed { activity.buckets[index].failures += 1 }
        if let error {
            activity.lastError = error
            activity.lastErrorAt = time
        }
    }

    /// `scheme://host[:port]` of a URL: everything before the first `/` after `://` (no user
    /// info: callback URLs with user info are refused at submission).
    static func origin(of url: String) -> String {
        var bytes = url.utf8[...]
        var slashes = 0
        var end = bytes.endIndex
        for index in bytes.indices {
            let byte = bytes[index]
            if byte == UInt8(ascii: "/") {
                slashes += 1
                if slashes == 3 {
                    end = index
                    break
                }
            } else if slashes == 2 && (byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#")) {
                end = index
                break
            }
        }
        bytes = bytes[..<end]
        return String(decoding: bytes, as: UTF8.self).lowercased()
    }

    /// Origins remembered at most: beyond it, those without an attempt in the window are forgotten.
    static let maxOrigins = 4096

    private static func prune(_ state: inout State, second: Int64) {
        state.origins = state.origins.filter { _, activity in
            activity.buckets.contains { $0.second > second - window && $0.attempts > 0 }
        }
    }

    /// Figures over the window ending at `now`.
    public struct Summary: Sendable, Hashable {
        public var attempts: Int
        public var failures: Int
        /// Attempts per second over the window.
        public var attemptsPerSecond: Double { Double(attempts) / Double(DeliveryActivity.window) }
        /// Failed attempts / attempts; nil without attempts.
        public var failureRate: Double? { attempts == 0 ? nil : Double(failures) / Double(attempts) }
        public var lastError: String?
        public var lastErrorAt: Timestamp?
    }

    /// The whole process's figures, and each origin's (by `scheme://host[:port]` as written in
    /// the callback URLs).
    public func summary(now: Timestamp) -> (total: Summary, origins: [String: Summary]) {
        let second = now.milliseconds / 1000
        return state.withLock { state in
            var origins = [String: Summary]()
            for (origin, activity) in state.origins {
                let summary = Self.summarize(activity, second: second)
                if summary.attempts > 0 || summary.lastError != nil { origins[origin] = summary }
            }
            return (Self.summarize(state.total, second: second), origins)
        }
    }

    private static func summarize(_ activity: OriginActivity, second: Int64) -> Summary {
        var attempts = 0
        var failures = 0
        for bucket in activity.buckets where bucket.second > second - window && bucket.second <= second {
            attempts += bucket.attempts
            failures += bucket.failures
        }
        return Summary(
            attempts: attempts, failures: failures, lastError: activity.lastError, lastErrorAt: activity.lastErrorAt)
    }
}
