import Foundation
public import Logging
public import ServiceLifecycle
public import WebhookCore
public import WorkerCore

/// Deletes what `CLIPPING_WORKER_RETENTION_DAYS` allows (SPEC section 7): finished jobs, their
/// events and attempts, and their locally stored outputs, in small batches, never a pending
/// event, and gives the space back. It sweeps every quarter of the retention period, but at
/// least hourly and at most once a second; time comes from the injected clock. Local outputs of
/// jobs the store no longer has (deleted by another worker's sweeper) go too.
public struct RetentionSweeper<Jobs: JobStore, Clock: WorkerClock>: Service {
    let jobs: Jobs
    let clock: Clock
    let retention: Duration
    let mediaDirectory: String
    let logger: Logger
    /// Jobs deleted per transaction: small, so the writer is never held for long.
    let batchSize: Int

    /// Creates a sweeper.
    /// - Parameters:
    ///   - retention: how long after it finished a job is kept (zero keeps everything).
    ///   - mediaDirectory: `<data dir>/media`, where each job's local outputs live in `<job_id>/`.
    public init(
        jobs: Jobs, clock: Clock, retention: Duration, mediaDirectory: String, logger: Logger, batchSize: Int = 200
    ) {
        self.jobs = jobs
        self.clock = clock
        self.retention = retention
        self.mediaDirectory = mediaDirectory
        self.logger = logger
        self.batchSize = max(1, batchSize)
    }

    /// Every quarter of the retention period, clamped to 1 s … 1 h.
    var interval: Duration {
        min(max(retention / 4, .seconds(1)), .seconds(3600))
    }

    public func run() async throws {
        // A service that returned would end the whole group: with nothing to do, wait for shutdown.
        guard retention > .zero else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                do {
                    try await clock.sleep(until: clock.now.advanced(by: interval))
                } catch {
                    return
                }
            }
        }
    }

    /// One sweep: batches until nothing old enough is left.
    /// - Returns: how many jobs were deleted.
    @discardableResult
    public func sweep() async -> Int {
        let cutoff = clock.now.advanced(by: .zero - retention)
        var total = 0
        while !Task.isCancelled {
            let deleted: [String]
            do {
                deleted = try await jobs.deleteFinishedJobs(before: cutoff, limit: batchSize)
            } catch {
                logger.warning("retention sweep failed; retried at the next sweep", metadata: [LogMetadataKey.error: "\(error)"])
                break
            }
            for id in deleted {
                try? FileManager.default.removeItem(atPath: mediaDirectory + "/" + id)
            }
            total += deleted.count
            if deleted.count < batchSize { break }
        }
        if total > 0 { logger.info("retention deleted finished jobs", metadata: ["retention.jobs": "\(total)"]) }
        await pruneOrphanedOutputs()
        return total
    }

    /// Removes local outputs whose job the store no longer has. With several workers on one
    /// database (SPEC section 8) one sweeper deletes the rows, and the outputs of those jobs
    /// lie in the data directories of whichever workers ran them: each worker finds its own
    /// here. A directory appears only once its job runs here, so a missing job means a deleted one.
    func pruneOrphanedOutputs() async {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: mediaDirectory) else { return }
        var removed = 0
        for name in names where name.hasPrefix("job_") && !Task.isCancelled {
            let gone: Bool
            do {
                gone = try await jobs.job(name) == nil
            } catch {
                return  // the store is away: next sweep
            }
            if gone, (try? FileManager.default.removeItem(atPath: mediaDirectory + "/" + name)) != nil { removed += 1 }
        }
        if removed > 0 {
            logger.info("retention removed local outputs of jobs deleted elsewhere", metadata: ["retention.outputs": "\(removed)"])
        }
    }
}
