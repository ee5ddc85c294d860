import Foundation
import GRDB
import Metrics
import WebhookCore

/// Runs write requests in shared transactions: whatever arrives while one commit is under way
/// goes into the next, so a burst of N events pays for one fsync instead of N (with
/// `synchronous = FULL` a single-row commit costs ~0.3 ms here; a shared one ~10 µs a row).
///
/// Requests run in arrival order; one failing request cannot leave half its writes behind or
/// fail the others (see ``commit(_:)``).
final class GroupCommitter: @unchecked Sendable {
    // @unchecked: `pending` and `draining` are guarded by `lock`; `state` is touched only on `queue`.
    private struct Request {
        let run: (Database) throws -> Void
        let finish: (Result<Void, OutboxError>) -> Void
        /// False for health probes: their success says nothing about whether real work fits
        /// (an in-place probe update commits on a full disk), so it never clears ``storageFailure``.
        var isWork = true
    }

    private let writer: DatabasePool
    private let queue = DispatchQueue(label: "outbox.group-commit")
    private let lock = NSLock()
    private var pending: [Request] = []
    /// The other half of a double buffer with `pending`: swapped per batch, so draining
    /// allocates nothing in the steady state. Touched only on `queue`.
    private var batch: [Request] = []
    private var draining = false
    private var closed = false
    private var transactions = 0
    /// The newest failure of the storage itself (full disk, I/O error, read-only or vanished
    /// file), kept until real work commits again: what readiness reports. Guarded by `lock`.
    private var storageFailure: String?

    /// Why writes of real work are failing now, or nil.
    var storageTrouble: String? { lock.withLock { storageFailure } }

    /// Transactions committed so far (a batch counts once): what group commit saves shows as
    /// writes per transaction.
    var committedTransactions: Int { lock.withLock { transactions } }

    /// CPU time the writer spent in transactions (statements, commits, inline checkpoints), in
    /// seconds: the store's own share of a process's CPU, which a benchmark can tell apart from
    /// the rest even on a busy machine. Guarded by `lock`.
    var writerCPUSeconds: Double { lock.withLock { Double(writerCPUNanoseconds) / 1e9 } }
    private var writerCPUNanoseconds: UInt64 = 0

    /// Largest batch in one transaction, so a huge backlog still commits in bounded steps.
    private let maxBatch = 2048

    /// Called on the writer queue when a request or a whole commit failed, so caches filled
    /// inside the rolled-back work can be dropped.
    private let onRollback: @Sendable () -> Void

    /// `clipping_worker_store_commit_duration_seconds` (timer), `…_commit_batch_size`
    /// (recorder: writes per transaction), `…_commit_failures_total` (counter).
    private let commitDuration: Metrics.Timer
    private let batchSize: Recorder
    private let failures: Counter

    init(writer: DatabasePool, metricsFactory: any MetricsFactory, onRollback: @escaping @Sendable () -> Void) {
        self.writer = writer
        self.onRollback = onRollback
        commitDuration = Metrics.Timer(
            label: "clipping_worker_store_commit_duration_seconds", preferredDisplayUnit: .seconds, factory: metricsFactory)
        batchSize = Recorder(label: "clipping_worker_store_commit_batch_size", factory: metricsFactory)
        failures = Counter(label: "clipping_worker_store_commit_failures_total", factory: metricsFactory)
    }

    /// Runs `work` in the next shared transaction and returns its result once committed.
    /// A `probe` is a health check, not work (see ``Request/isWork``).
    func write<T: Sendable>(probe: Bool = false, _ work: @escaping @Sendable (Database) throws -> T) async throws(OutboxError) -> T {
        let result: Result<T, OutboxError> = await withCheckedContinuation { continuation in
            let box = ResultBox<T>()
            var request = Request(
                run: { db in box.value = try work(db) },
                finish: { outcome in
                    switch outcome {
                    case .success:
                        if let value = box.value {
                            continuation.resume(returning: .success(value))
                        } else {
                            continuation.resume(returning: .failure(OutboxError(.writeFailed, "write produced no result")))
                        }
                    case .failure(let error):
                        continuation.resume(returning: .failure(error))
                    }
                })
            request.isWork = !probe
            enqueue(request)
        }
        return try result.get()
    }

    /// Refuses further writes; those already queued still run.
    func close() {
        lock.lock()
        closed = true
        lock.unlock()
        queue.sync {}
    }

    private func enqueue(_ request: Request) {
        lock.lock()
        if closed {
            lock.unlock()
            request.finish(.failure(OutboxError(.closed, "the outbox is closed")))
            return
        }
        pending.append(request)
        let start = !draining
        draining = true
        lock.unlock()
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            lock.lock()
            if pending.isEmpty {
                draining = false
                lock.unlock()
                return
            }
            if pending.count <= maxBatch {
                swap(&pending, &batch)
            } else {
                batch.append(contentsOf: pending.prefix(maxBatch))
                pending.removeFirst(maxBatch)
            }
            lock.unlock()
            commit(batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Runs the batch in one transaction. If any request fails, the whole transaction is rolled
    /// back and each request runs again in a transaction of its own, so only the failing one
    /// fails. (Savepoints per request would isolate them too, but cost two statements each on
    /// the hot path, where failures are rare.)
    private func commit(_ batch: [Request]) {
        let began = DispatchTime.now().uptimeNanoseconds
        let cpuBefore = threadCPUNanoseconds()
        defer {
            commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - began))
            batchSize.record(batch.count)
            let spent = threadCPUNanoseconds() &- cpuBefore
            lock.withLock { writerCPUNanoseconds &+= spent }
        }
        var failedIndex: Int?
        do {
            try writer.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    for (index, request) in batch.enumerated() {
                        do {
                            try request.run(db)
                        } catch {
                            failedIndex = index
                            return .rollback
                        }
                    }
                    return .commit
                }
            }
        } catch {
            onRollback()
            failures.increment()
            noteStorageFailure(error)
            let failure = OutboxError(.writeFailed, "commit failed: \(error)")
            for request in batch { request.finish(.failure(failure)) }
            return
        }
        guard failedIndex != nil else {
            let clears = batch.contains { $0.isWork }
            lock.withLock {
                transactions += 1
                if clears { storageFailure = nil }
            }
            for request in batch { request.finish(.success(())) }
            return
        }
        onRollback()
        for request in batch {
            do {
                try writer.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        try request.run(db)
                        return .commit
                    }
                }
                if request.isWork { lock.withLock { storageFailure = nil } }
                request.finish(.success(()))
            } catch let error as OutboxError {
                onRollback()
                request.finish(.failure(error))
            } catch {
                onRollback()
                noteStorageFailure(error)
                request.finish(.failure(OutboxError(.writeFailed, "\(error)")))
            }
        }
    }


    /// Keeps `error` for readiness when it is the storage failing, not a refused write.
    private func noteStorageFailure(_ error: any Error) {
        guard let error = error as? DatabaseError else { return }
        switch error.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_CORRUPT, .SQLITE_NOTADB:
            let message = error.message ?? "\(error.resultCode)"
            lock.withLock { storageFailure = message }
        default:
            break
        }
    }
}

/// Carries a write's result out of the transaction closure.
private final class ResultBox<T>: @unchecked Sendable {
    // @unchecked: written inside the transaction and read after it, on the same queue.
    var value: T?
}

/// CPU time the calling thread has used, in nanoseconds: what the writer and the checkpointer
/// report as the store's own share of the process's CPU.
func threadCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
