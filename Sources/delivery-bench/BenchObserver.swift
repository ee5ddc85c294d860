import Synchronization
import WebhookCore

/// Counts outcomes as the dispatcher reports them.
final class BenchObserver: DeliveryObserver, Sendable {
    private let counts = Mutex((delivered: 0, failed: 0, attempts: 0))
    /// The first few attempts that did not succeed, for the report: a figure with failures in
    /// it needs their reason next to it.
    private let failures = Mutex([String]())
    private let next: (any DeliveryObserver)?

    init(forwardingTo next: (any DeliveryObserver)?) {
        self.next = next
    }

    func record(_ record: DeliveryRecord) {
        counts.withLock { counts in
            counts.attempts += record.attempt == nil ? 0 : 1
            switch record.outcome {
            case .delivered: counts.delivered += 1
            case .failed, .dropped, .superseded: counts.failed += 1
            case .retrying: break
            }
        }
        if record.outcome != .delivered {
            failures.withLock { list in
                if list.count < 5 {
                    list.append("\(record.outcome) attempt \(record.attempt.map(String.init) ?? "-") status \(record.statusCode.map(String.init) ?? "-"): \(record.error ?? "")")
                }
            }
        }
        next?.record(record)
    }

    var delivered: Int { counts.withLock { $0.delivered } }
    var failed: Int { counts.withLock { $0.failed } }
    var attempts: Int { counts.withLock { $0.attempts } }
    var sampleFailures: [String] { failures.withLock { $0 } }
}

/// Collects enqueue → receipt latencies measured by the receiver.
final class LatencyRecorder: Sendable {
    private let samples = Mutex([Int64]())

    func add(nanoseconds: Int64) {
        samples.withLock { $0.append(nanoseconds) }
    }

    /// (p50, p99) in milliseconds.
    func percentiles() -> (Double, Double)? {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return nil }
        func at(_ fraction: Double) -> Double {
            Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1e6
        }
        return (at(0.50), at(0.99))
    }

    /// One percentile in milliseconds (0.95 for p95), or nil without samples.
    func percentile(_ fraction: Double) -> Double? {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return nil }
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1e6
    }

    var count: Int { samples.withLock { $0.count } }
}
