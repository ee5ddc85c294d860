import GRDB

/// Per-job sequence counters and gone flags, read from the database on first use.
/// Touched only inside write transactions, which the group committer runs one at a time.
final class JobCache: @unchecked Sendable {
    // @unchecked: used only on the group committer's serial queue.
    struct Entry {
        var nextSequence: Int64
        var gone: Bool
        var terminalStored: Bool
        /// The job's row exists and names this process as its lease owner.
        var owned: Bool
    }
    private var entries: [String: Entry] = [:]
    /// Bounds memory over millions of jobs; a dropped entry is simply read again.
    private let capacity = 50_000

    func entry(for jobID: String, owner: String, in db: Database) throws -> Entry {
        if let entry = entries[jobID] { return entry }
        let maximum = try Int64.fetchOne(
            db, sql: "SELECT MAX(sequence) FROM webhook_events WHERE job_id = ?", arguments: [jobID]) ?? 0
        let row = try Row.fetchOne(
            db, sql: "SELECT gone, terminal_stored, lease_owner FROM webhook_jobs WHERE job_id = ?", arguments: [jobID])
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        let entry = Entry(
            nextSequence: maximum + 1, gone: row?["gone"] ?? false, terminalStored: row?["terminal_stored"] ?? false,
            owned: row?["lease_owner"] == owner)
        entries[jobID] = entry
        return entry
    }

    func advance(_ jobID: String, to next: Int64, terminalStored: Bool) {
        entries[jobID]?.nextSequence = next
        entries[jobID]?.owned = true
        if terminalStored { entries[jobID]?.terminalStored = true }
    }

    /// The job's lease owner changed outside an append (claim, release, redelivery): read it again.
    func forget(_ jobID: String) {
        entries[jobID] = nil
    }

    func reset() {
        entries.removeAll()
    }

    func markGone(_ jobID: String) {
        entries[jobID]?.gone = true
    }
}
