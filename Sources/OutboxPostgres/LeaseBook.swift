import Synchronization
import WebhookCore

/// The leases this process holds in the shared store, by job: what its writes are fenced against.
///
/// Every way a lease is won (a claim, an append that takes a free job, a redelivery) or lost
/// (a renewal that finds the epoch moved, a write refused) goes through the stores of this
/// process, so they keep this book. A write for a job in the book must find the job's row still
/// at the book's epoch and owner; a job the book marks lost stays refused until a claim wins it
/// again — so a worker that was paused past its lease cannot write over its successor's work,
/// even when the job's row is free again by the time it wakes up.
final class LeaseBook: Sendable {
    /// What the book knows of one job.
    enum Standing: Sendable, Hashable {
        /// Held at this epoch.
        case held(epoch: Int64)
        /// Held once, lost since (at this epoch): writes are refused until a claim wins it again.
        case lost(epoch: Int64)
    }

    private let entries = Mutex<[String: Standing]>([:])
    /// Jobs this process runs: their lease is never released while they run (the dispatcher
    /// releases a job whose events are done; the run may not be).
    private let pins = Mutex<Set<String>>([])

    /// Marks a job as run by this process.
    func pin(_ jobID: String) { _ = pins.withLock { $0.insert(jobID) } }

    /// The run ended.
    func unpin(_ jobID: String) { _ = pins.withLock { $0.remove(jobID) } }

    /// Whether this process runs the job now.
    func isPinned(_ jobID: String) -> Bool { pins.withLock { $0.contains(jobID) } }

    /// The book's standing for a job, or nil when this process never held it (or released it).
    func standing(of jobID: String) -> Standing? {
        entries.withLock { $0[jobID] }
    }

    /// The epochs held for some jobs (lost and unknown jobs are absent).
    func heldEpochs(of jobIDs: some Sequence<String>) -> [String: Int64] {
        entries.withLock { entries in
            var held = [String: Int64]()
            for jobID in jobIDs {
                if case .held(let epoch) = entries[jobID] { held[jobID] = epoch }
            }
            return held
        }
    }

    /// Every job held now, with its epoch.
    var held: [String: Int64] {
        entries.withLock { entries in
            entries.compactMapValues { standing in
                if case .held(let epoch) = standing { return epoch }
                return nil
            }
        }
    }

    /// Records a lease won (or confirmed) at `epoch`.
    func hold(_ jobID: String, epoch: Int64) {
        entries.withLock { $0[jobID] = .held(epoch: epoch) }
    }

    /// Records that the lease at `epoch` is lost (a newer standing is left alone).
    func lose(_ jobID: String, epoch: Int64) {
        entries.withLock { entries in
            if case .held(let current) = entries[jobID], current > epoch { return }
            entries[jobID] = .lost(epoch: epoch)
        }
    }

    /// Forgets a job given up on purpose (released, or deleted by retention).
    func forget(_ jobID: String, epoch: Int64? = nil) {
        entries.withLock { entries in
            if let epoch, case .held(let current) = entries[jobID], current != epoch { return }
            entries[jobID] = nil
        }
    }
}
