public import WebhookCore
import Synchronization

/// A delivery observer that keeps every record for a test to await and inspect.
public final class RecordingObserver: DeliveryObserver, Sendable {
    /// Every record, in order.
    public let records = AsyncRecorder<DeliveryRecord>()

    /// Creates an empty observer.
    public init() {}

    public func record(_ record: DeliveryRecord) {
        records.record(record)
    }

    /// Waits until `count` records match `predicate`.
    @discardableResult
    public func wait(
        for count: Int = 1, timeout: Duration = .seconds(10), where predicate: @escaping @Sendable (DeliveryRecord) -> Bool
    ) async throws -> [DeliveryRecord] {
        let start = ContinuousClock.now
        var seen = 0
        while true {
            let all = records.values
            let matching = all.filter(predicate)
            if matching.count >= count { return matching }
            if ContinuousClock.now - start > timeout { throw RecorderTimeout(expected: count, got: matching.count) }
            seen = all.count
            // Sleeps only until the next record arrives (or briefly, to re-check the deadline).
            _ = try? await records.wait(count: seen + 1, timeout: .milliseconds(200))
        }
    }
}

/// A thread-safe counter for scripted replies ("fail twice, then succeed").
public final class ReplyCounter: Sendable {
    private let value = AtomicBox()

    /// Creates a counter at zero.
    public init() {}

    /// Increments and returns the new value (1 for the first call).
    @discardableResult
    public func next() -> Int { value.increment() }

    /// The current value.
    public var current: Int { value.read() }
}


final class AtomicBox: Sendable {
    private let mutex = Mutex(0)
    func increment() -> Int { mutex.withLock { $0 += 1; return $0 } }
    func read() -> Int { mutex.withLock { $0 } }
}
