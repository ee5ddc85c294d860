import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import GRDBSQLite
public import Metrics
public import WebhookCore

/// The embedded outbox: one SQLite file in WAL mode, owned by one process.
///
/// Durability: `synchronous = FULL` by default, so a committed event survives power loss and
/// not only `kill -9`. That costs an fsync per commit, which ``GroupCommitter`` shares among every
/// write that arrives meanwhile. `.normal` (GRDB's WAL default) survives process crashes only.
///
/// ```swift
/// let store = try SQLiteOutboxStore(path: "data/outbox.sqlite")
/// let stored = try await store.append([draft], at: clock.now)
/// ```
public final class SQLiteOutboxStore: OutboxStore, OutboxReadModel {
    /// How hard each commit works to reach the disk.
    public enum Durability: String, Sendable {
        /// fsync on every commit: survives power loss.
        case full
        /// WAL with `synchronous = NORMAL`: survives a process crash, may lose the last commits on power loss.
        case normal
    }

    private let pool: DatabasePool
    private let committer: GroupCommitter
    private let checkpointer: WALCheckpointer
    private let jobs = JobCache()
    /// The database file.
    public let path: String
    /// This process's lease owner id: the data directory is locked by one process, so every
    /// claim is granted and leases never lapse.
    public let owner: String
    /// The file's identity when opened.
    private let fileIdentity: (device: UInt64, inode: UInt64)

    /// Opens (creating if needed) the outbox at `path` and brings its schema up to date.
    /// - Throws: ``OutboxError`` `.unavailable` when the file cannot be opened or migrated.
    public convenience init(
        path: String, durability: Durability = .full, metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws(OutboxError) {
        try self.init(path: path, durability: durability, metricsFactory: metricsFactory, checkpointer: WALCheckpointer(path: path))
    }

    /// Opens the outbox with a checkpointer of the caller's (tests set its thresholds).
    init(
        path: String, durability: Durability = .full, metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
        checkpointer: WALCheckpointer
    ) throws(OutboxError) {
        self.path = path
        self.checkpointer = checkpointer
        self.owner = "sqlite-" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.maximumReaderCount = 4
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        // The database holds callback URLs with their query secrets, and payloads: owner only.
        // SQLite gives the -wal and -shm files the main file's mode when it creates them, so the
        // main file is made 0600 first; files left by an earlier version are narrowed after opening.
        Self.restrictMode(of: path, create: true)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            for companion in ["-wal", "-shm", "-journal"] { Self.restrictMode(of: path + companion, create: false) }
            // GRDB sets synchronous = NORMAL when it enables WAL, after prepareDatabase: set ours after opening.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            }
            try OutboxSchema.migrator.migrate(pool)
            // Retention deletes rows; incremental auto-vacuum lets it give the space back. The
            // mode of an existing file changes only with a VACUUM: done once, at the first start
            // of this version.
            let mode = try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") ?? 0 }
            if mode != 2 {
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
        } catch {
            throw OutboxError(.unavailable, "cannot open the outbox at \(path): \(error)")
        }
        var opened = stat()
        guard stat(path, &opened) == 0 else { throw OutboxError(.unavailable, "cannot stat the outbox at \(path)") }
        fileIdentity = (UInt64(opened.st_dev), UInt64(opened.st_ino))
        let jobs = self.jobs
        committer = GroupCommitter(writer: pool, metricsFactory: metricsFactory, onRollback: { jobs.reset() })
        // Checkpoints leave the commit path (see WALCheckpointer). Its connection must reach the
        // file the pool opened: checked against the identity just taken.
        let identity = fileIdentity
        pool.writeWithoutTransaction { db in checkpointer.install(on: db, expecting: identity) }
    }

    /// Makes `path` mode 0600 (creating it empty when asked: SQLite takes an empty file for a new
    /// database). A failure here surfaces when SQLite opens the file.
    static func restrictMode(of path: String, create: Bool) {
        let descriptor = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0o600)
        guard descriptor >= 0 else { return }
        fchmod(descriptor, 0o600)
        _ = Glibc.close(descriptor)
    }

    /// Write transactions committed so far; with group commit, far fewer than the writes.
    public var committedTransactions: Int { committer.committedTransactions }

    /// CPU seconds the single writer spent in write transactions so far (statements, commits,
    /// inline checkpoints); with ``checkpointerCPUSeconds``, the store's share of the process's CPU.
    public var writerCPUSeconds: Double { committer.writerCPUSeconds }

    /// Waits for queued writes and refuses new ones.
    public func close() {
        committer.close()
        checkpointer.close()
    }

    /// Checkpoints of the write-ahead log so far: on the checkpointer's thread, and inline in a
    /// commit because the log outgrew its bound (see ``WALCheckpointer``).
    public var checkpoints: (background: Int, inline: Int) {
        let counts = checkpointer.counts
        return (counts.background, counts.inline)
    }

    /// Bytes SQLite holds now and at most so far, in this process (page caches, statements).
    public static var sqliteMemory: (current: Int64, highest: Int64) {
        (sqlite3_memory_used(), sqlite3_memory_highwater(0))
    }

    /// CPU seconds the checkpointer's thread spent in checkpoints so far.
    public var checkpointerCPUSeconds: Double { checkpointer.cpuSeconds }

    /// Why checkpoints cannot run beside the writer (they run inline then), or nil.
    public var checkpointTrouble: String? { checkpointer.lastFailure?.description }

    /// The `synchronous` setting in force (0 off, 1 normal, 2 full), for tests and diagnostics.
    public func synchronousSetting() async throws -> Int {
        try await pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> [OutboxEvent] {
        let appending = appender(for: drafts, at: time)
        return try await committer.write { db in try appending(db) }
    }

    /// The work of appending `drafts` inside a write transaction, for this store's ``append(_:at:)``
    /// and for a job store that commits a job's state with its events (a transactional outbox
    /// owned by the job side). Ids are made here, outside the single writer.
    func appender(for drafts: [EventDraft], at time: Timestamp) -> @Sendable (Database) throws -> [OutboxEvent] {
        let jobs = self.jobs
        let owner = self.owner
        let ids = drafts.map { _ in EventID.generate(at: time) }
        return { db in
            var stored = [OutboxEvent]()
            stored.reserveCapacity(drafts.count)
            let insert = try db.cachedStatement(sql: OutboxStatements.insertEvent)
            let upsertJob = try db.cachedStatement(sql: OutboxStatements.upsertJob)
            for (draft, id) in zip(drafts, ids) {
                let entry = try jobs.entry(for: draft.jobID, owner: owner, in: db)
                // After the terminal event, progress is an update coalesced away: no row, no sequence.
                if entry.terminalStored && !draft.kind.isTerminal { continue }
                let sequence = entry.nextSequence
                let body = draft.body(id: id, sequence: sequence)
                var event = OutboxEvent(
                    id: id, jobID: draft.jobID, sequence: sequence, kind: draft.kind, callbackURL: draft.callbackURL,
                    body: body, createdAt: time)
                event.trace = draft.trace
                var reason: String?
                if entry.gone {
                    event.state = draft.kind.isTerminal ? .failed : .dropped
                    reason = "callback gone (410)"
                }
                // (event_id, job_id, sequence, event_type, callback_url, body, state, created_at,
                //  series_started_at, next_attempt_at, final_reason, updated_at, trace)
                var direct = DirectStatement(insert, in: db)
                direct.bind(1, id)
                direct.bind(2, draft.jobID)
                direct.bind(3, sequence)
                direct.bind(4, draft.kind.rawValue)
                direct.bind(5, draft.callbackURL)
                direct.bind(7, event.state.rawValue)
                direct.bind(8, time.milliseconds)
                direct.bind(9, time.milliseconds)
                direct.bind(10, time.milliseconds)
                direct.bind(11, reason)
                direct.bind(12, time.milliseconds)
                direct.bind(13, draft.trace?.storedForm)
                try direct.run(binding: body, at: 6, sql: OutboxStatements.insertEvent)
                let terminal = entry.terminalStored || draft.kind.isTerminal
                // The process that appends a job's events holds the job (its runner's lease). The
                // row changes only when this process first appends for the job, or at its terminal
                // event: most appends write the event row alone.
                if !entry.owned || (draft.kind.isTerminal && !entry.terminalStored) {
                    try upsertJob.execute(arguments: [draft.jobID, terminal, owner])
                }
                jobs.advance(draft.jobID, to: sequence + 1, terminalStored: terminal)
                stored.append(event)
            }
            return stored
        }
    }

    /// Gives freed pages back to the file system (`auto_vacuum = INCREMENTAL`), a bounded step at
    /// a time so one sweep never holds the writer long.
    func reclaimSpace() async {
        _ = try? await committer.write { db in
            try db.execute(sql: "PRAGMA incremental_vacuum(2000)")
            return true
        }
    }

    /// The per-job cache, for a job store that deletes or changes job rows inside a write (it
    /// must ``JobCache/forget(_:)`` them there: the cache is touched only inside write transactions).
    var jobCache: JobCache { jobs }

    /// Runs `work` in the next shared write transaction (for stores sharing this database).
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws(OutboxError) -> T {
        try await committer.write(work)
    }

    /// Reads from the database (for stores sharing it).
    func read<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws(OutboxError) -> T {
        do {
            return try await pool.read(work)
        } catch {
            throw Self.readError(error)
        }
    }

    public func apply(_ changes: [OutboxChange]) async throws(OutboxError) {
        guard !changes.isEmpty else { return }
        let jobs = self.jobs
        _ = try await committer.write { db in
            let firstAttempted = try db.cachedStatement(sql: OutboxStatements.firstAttempted)
            let attempted = try db.cachedStatement(sql: OutboxStatements.attempted)
            let attempt = try db.cachedStatement(sql: OutboxStatements.insertAttempt)
            let finished = try db.cachedStatement(sql: OutboxStatements.finished)
            let restarted = try db.cachedStatement(sql: OutboxStatements.seriesRestarted)
            for change in changes {
                switch change {
                case .attempted(let id, let record, let next):
                    let reason = record.outcome == .delivered || record.outcome == .retrying ? nil : record.error
                    if record.attempt == 1 {
                        var direct = DirectStatement(firstAttempted, in: db)
                        direct.bind(1, record.outcome.state.rawValue)
                        direct.bind(2, next?.milliseconds)
                        direct.bind(3, record.statusCode)
                        direct.bind(4, reason)
                        direct.bind(5, record.startedAt.milliseconds + record.durationMs)
                        direct.bind(6, record.startedAt.milliseconds)
                        direct.bind(7, record.durationMs)
                        direct.bind(8, record.statusCode)
                        direct.bind(9, record.error)
                        direct.bind(10, record.outcome.rawValue)
                        direct.bind(11, id)
                        try direct.run(sql: OutboxStatements.firstAttempted)
                        continue
                    }
                    try attempted.execute(arguments: [
                        record.outcome.state.rawValue, record.attempt, next?.milliseconds, record.statusCode, reason,
                        record.startedAt.milliseconds + record.durationMs, id.description,
                    ])
                    try attempt.execute(arguments: [
                        id.description, record.attempt, record.startedAt.milliseconds, record.durationMs, record.statusCode,
                        record.error, record.outcome.rawValue,
                    ])
                case .finished(let id, let state, let reason, let time):
                    try finished.execute(arguments: [state.rawValue, reason, time.milliseconds, id.description])
                case .seriesRestarted(let id, let time):
                    try restarted.execute(arguments: [time.milliseconds, time.milliseconds, time.milliseconds, id.description])
                case .callbackGone(let jobID, let time):
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO webhook_gone_jobs (job_id, gone_at) VALUES (?, ?)",
                        arguments: [jobID, time.milliseconds])
                    try db.execute(
                        sql: """
                            INSERT INTO webhook_jobs (job_id, gone) VALUES (?, 1)
                            ON CONFLICT (job_id) DO UPDATE SET gone = 1
                            """,
                        arguments: [jobID])
                    jobs.markGone(jobID)
                }
            }
            return true
        }
    }

    public nonisolated var leaseDuration: Duration? { nil }

    public func claimJobs(limit: Int, at time: Timestamp) async throws(OutboxError) -> [ClaimedJob] {
        let owner = self.owner
        let cache = self.jobs
        let claimed = try await committer.write { db -> [(String, Int64)] in
            let jobIDs = try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT e.job_id FROM webhook_events e
                    JOIN webhook_jobs j ON j.job_id = e.job_id
                    WHERE e.state = 'pending' AND (j.lease_owner IS NULL OR j.lease_owner != ?)
                    LIMIT ?
                    """,
                arguments: [owner, limit])
            let claim = try db.cachedStatement(
                sql: """
                    UPDATE webhook_jobs SET lease_owner = ?, lease_epoch = lease_epoch + 1 WHERE job_id = ?
                    RETURNING lease_epoch
                    """)
            return try jobIDs.map { jobID in
                cache.forget(jobID)
                return (jobID, try Int64.fetchOne(claim, arguments: [owner, jobID]) ?? 0)
            }
        }
        guard !claimed.isEmpty else { return [] }
        let events = try await pendingEvents(ofJobs: claimed.map(\.0))
        return claimed.map { jobID, epoch in
            ClaimedJob(
                lease: JobLease(jobID: jobID, owner: owner, epoch: epoch, expiresAt: nil),
                events: events[jobID] ?? [])
        }
    }

    public func renewLeases(_ leases: [JobLease], at time: Timestamp) async throws(OutboxError) -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        return try await read { db in
            try leases.filter { lease in
                let row = try Row.fetchOne(
                    db, sql: "SELECT lease_owner, lease_epoch FROM webhook_jobs WHERE job_id = ?", arguments: [lease.jobID])
                return row?["lease_owner"] != lease.owner || row?["lease_epoch"] != lease.epoch
            }
        }
    }

    public func releaseLease(_ lease: JobLease) async throws(OutboxError) {
        let cache = self.jobs
        _ = try await committer.write { db in
            cache.forget(lease.jobID)
            try db.execute(
                sql: """
                    UPDATE webhook_jobs SET lease_owner = NULL
                    WHERE job_id = ? AND lease_owner = ? AND lease_epoch = ?
                        AND NOT EXISTS (SELECT 1 FROM webhook_events WHERE job_id = ? AND state = 'pending')
                    """,
                // A job that has pending events again (an append raced the release) stays held.
                arguments: [lease.jobID, lease.owner, lease.epoch, lease.jobID])
            return true
        }
    }

    /// The pending events of some jobs (no bodies), by job in sequence order, with each job's
    /// terminal-stored flag and highest attempted sequence. (One owner: every job is held.)
    public func pendingEvents(ofJobs jobIDs: [String]) async throws(OutboxError) -> [String: [OutboxEvent]] {
        try await read { db in
            var byJob = [String: [OutboxEvent]]()
            let statement = try db.cachedStatement(
                sql: """
                    SELECT \(OutboxSchema.eventColumns) FROM webhook_events
                    WHERE job_id = ? AND state = 'pending' ORDER BY sequence
                    """)
            // Once per job, not per event row.
            let terminal = try db.cachedStatement(sql: "SELECT terminal_stored FROM webhook_jobs WHERE job_id = ?")
            let highest = try db.cachedStatement(
                sql: """
                    SELECT MAX(sequence) FROM webhook_events
                    WHERE job_id = ? AND attempt_count > 0 AND redelivered = 0
                    """)
            for jobID in jobIDs {
                let terminalStored = try Bool.fetchOne(terminal, arguments: [jobID]) ?? false
                let highestAttempted = try Int64.fetchOne(highest, arguments: [jobID]) ?? 0
                for row in try Row.fetchAll(statement, arguments: [jobID]) {
                    var event = try Self.event(from: row, body: nil)
                    event.jobTerminalStored = terminalStored
                    event.jobHighestAttemptedSequence = highestAttempted
                    byJob[jobID, default: []].append(event)
                }
            }
            return byJob
        }
    }

    /// Every pending event without body, in (job, sequence) order within each job, one page at
    /// a time (for tools and tests; the dispatcher claims jobs instead).
    /// - Returns: the page and where the next page starts; an empty page ends the listing.
    public func pendingEvents(after cursor: PendingCursor, limit: Int) async throws(OutboxError)
        -> (events: [OutboxEvent], next: PendingCursor)
    {
        do {
            return try await pool.read { db in
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, \(OutboxSchema.eventColumns),
                            (SELECT terminal_stored FROM webhook_jobs j WHERE j.job_id = webhook_events.job_id)
                                AS job_terminal_stored,
                            (SELECT MAX(sequence) FROM webhook_events a
                                WHERE a.job_id = webhook_events.job_id AND a.attempt_count > 0 AND a.redelivered = 0)
                                AS job_highest_attempted
                        FROM webhook_events
                        WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?
                        """,
                    arguments: [cursor.position, limit])
                var events = [OutboxEvent]()
                var last = cursor.position
                for row in rows {
                    last = row["id"]
                    var event = try Self.event(from: row, body: nil)
                    event.jobTerminalStored = row["job_terminal_stored"] ?? false
                    event.jobHighestAttemptedSequence = row["job_highest_attempted"] ?? 0
                    events.append(event)
                }
                return (events, PendingCursor(position: last))
            }
        } catch {
            throw Self.readError(error)
        }
    }

    public func body(of id: EventID) async throws(OutboxError) -> [UInt8] {
        let found: Data?
        do {
            found = try await pool.read { db in
                try Data.fetchOne(db, sql: "SELECT body FROM webhook_events WHERE event_id = ?", arguments: [id.description])
            }
        } catch {
            throw Self.readError(error)
        }
        guard let found else { throw OutboxError(.notFound, "no event \(id)") }
        return Array(found)
    }

    public func redeliver(_ id: EventID, at time: Timestamp) async throws(OutboxError) -> OutboxEvent {
        let owner = self.owner
        let cache = self.jobs
        let history = try await committer.write { db -> EventHistory? in
            // Redelivered here, so delivered here: this process holds the job from now on.
            try db.execute(
                sql: """
                    UPDATE webhook_jobs SET lease_owner = ?
                    WHERE job_id = (SELECT job_id FROM webhook_events WHERE event_id = ?)
                    """,
                arguments: [owner, id.description])
            try db.execute(
                sql: """
                    UPDATE webhook_events SET state = 'pending', series_started_at = ?, series_attempts = 0,
                        next_attempt_at = ?, final_reason = NULL, updated_at = ?, redelivered = 1
                    WHERE event_id = ?
                    """,
                arguments: [time.milliseconds, time.milliseconds, time.milliseconds, id.description])
            guard db.changesCount > 0 else { return nil }
            let history = try Self.history(of: id, in: db)
            if let jobID = history?.event.jobID { cache.forget(jobID) }
            return history
        }
        guard let history else { throw OutboxError(.notFound, "no event \(id)") }
        return history.event
    }

    public func history(of id: EventID) async throws(OutboxError) -> EventHistory? {
        do {
            return try await pool.read { db in try Self.history(of: id, in: db) }
        } catch {
            throw Self.readError(error)
        }
    }

    /// The query behind ``newestEvent(ofJob:)``: one probe of the `(job_id, sequence)` index.
    public static let newestEventSQL = """
        SELECT \(OutboxSchema.eventColumns) FROM webhook_events WHERE job_id = ? ORDER BY sequence DESC LIMIT 1
        """

    public func newestEvent(ofJob jobID: String) async throws(OutboxError) -> EventHistory? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: Self.newestEventSQL, arguments: [jobID]) else { return nil }
            return EventHistory(
                event: try Self.event(from: row, body: nil), attempts: [], lastStatusCode: row["last_status_code"],
                finalReason: row["final_reason"])
        }
    }

    /// SQLite's plan for a query (for tests that hold reads to their indexes).
    public func queryPlan(_ sql: String, arguments: [String]) async throws(OutboxError) -> String {
        try await read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(arguments))
                .map { $0["detail"] as String }.joined(separator: "\n")
        }
    }

    /// The opcodes of SQLite's program for a statement (`EXPLAIN`), for tests that keep the
    /// statements of every delivery free of ephemeral tables (see ``OutboxStatements``).
    func opcodes(of sql: String) async throws(OutboxError) -> [String] {
        // On the writer: a reader connection (query-only) compiles writes without their CHECKs.
        try await write { db in
            let statement = try db.makeStatement(sql: "EXPLAIN " + sql)
            // Parameters left unbound read as NULL: the program is what is looked at.
            statement.setUncheckedArguments([])
            return try Row.fetchAll(statement).map { $0["opcode"] as String }
        }
    }

    public func histories(ofJob jobID: String) async throws(OutboxError) -> [EventHistory] {
        do {
            return try await pool.read { db in
                // Bodies stay in the database: listings show states and attempts, and a job can
                // have hundreds of events.
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT \(OutboxSchema.eventColumns) FROM webhook_events WHERE job_id = ? ORDER BY sequence",
                    arguments: [jobID])
                let attemptRows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT a.* FROM webhook_attempts a JOIN webhook_events e ON e.event_id = a.event_id
                        WHERE e.job_id = ? ORDER BY a.event_id, a.attempt
                        """,
                    arguments: [jobID])
                var attempts = [String: [AttemptRecord]]()
                for row in attemptRows {
                    attempts[row["event_id"], default: []].append(try Self.attempt(from: row))
                }
                return try rows.map { row in
                    let event = try Self.event(from: row, body: nil)
                    return EventHistory(
                        event: event, attempts: try Self.firstAttempt(in: row) + (attempts[event.id.description] ?? []),
                        lastStatusCode: row["last_status_code"], finalReason: row["final_reason"])
                }
            }
        } catch let error as OutboxError {
            throw error
        } catch {
            throw Self.readError(error)
        }
    }

    public func oldestPendingCreatedAt() async throws(OutboxError) -> Timestamp? {
        // The pending index is ordered by row id, which follows creation: one probe.
        try await read { db in
            try Int64.fetchOne(
                db, sql: "SELECT created_at FROM webhook_events WHERE state = 'pending' ORDER BY id LIMIT 1"
            ).map(Timestamp.init(milliseconds:))
        }
    }

    public func pendingCount() async throws(OutboxError) -> Int {
        do {
            return try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhook_events WHERE state = 'pending'") ?? 0
            }
        } catch {
            throw Self.readError(error)
        }
    }

    public func health() async -> StoreHealth {
        if let problem = fileProblem() { return .unavailable(problem) }
        let trouble = committer.storageTrouble
        do {
            // A real commit (with its fsync). After a failure of real work it must also need new
            // space: an in-place update of the probe row commits on a full disk (into WAL space
            // already there) while every append fails, which kept `/readyz` 200 on a full disk.
            _ = try await committer.write(probe: trouble == nil) { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO store_probe (id, checked_at) VALUES (1, CAST(strftime('%s', 'now') AS INTEGER))")
                if trouble != nil {
                    // A quarter MiB of overflow pages, then the row back to its integer.
                    try db.execute(sql: "UPDATE store_probe SET checked_at = zeroblob(262144) WHERE id = 1")
                    try db.execute(
                        sql: "UPDATE store_probe SET checked_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1")
                }
                return true
            }
            return .ready
        } catch {
            return .unavailable("the database cannot be written: \(committer.storageTrouble ?? error.details)")
        }
    }

    /// Nil while the file at ``path`` is the database this store has open; else why not. A
    /// deleted (or replaced) file would otherwise keep taking writes into an unlinked inode that
    /// the next start never sees.
    public func fileProblem() -> String? {
        var now = stat()
        guard stat(path, &now) == 0 else { return "the database file \(path) is gone" }
        guard UInt64(now.st_ino) == fileIdentity.inode, UInt64(now.st_dev) == fileIdentity.device else {
            return "the database file \(path) was replaced"
        }
        return nil
    }

    // MARK: - Rows

    private static func history(of id: EventID, in db: Database) throws -> EventHistory? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT \(OutboxSchema.eventColumns), body FROM webhook_events WHERE event_id = ?",
                arguments: [id.description])
        else { return nil }
        let attempts = try firstAttempt(in: row) + Row.fetchAll(
            db, sql: "SELECT * FROM webhook_attempts WHERE event_id = ? ORDER BY attempt", arguments: [id.description]
        ).map(attempt(from:))
        return EventHistory(
            event: try event(from: row, body: Array(row["body"] as Data)), attempts: attempts,
            lastStatusCode: row["last_status_code"], finalReason: row["final_reason"])
    }

    static func event(from row: Row, body: [UInt8]?) throws -> OutboxEvent {
        let idText: String = row["event_id"]
        guard let id = EventID(idText), let kind = EventKind(rawValue: row["event_type"]),
            let state = DeliveryState(rawValue: row["state"])
        else { throw OutboxError(.corrupt, "unreadable event row \(idText)") }
        var event = OutboxEvent(
            id: id, jobID: row["job_id"], sequence: row["sequence"], kind: kind, callbackURL: row["callback_url"],
            body: body, createdAt: Timestamp(milliseconds: row["created_at"]), state: state,
            attempts: row["attempt_count"], seriesStartedAt: Timestamp(milliseconds: row["series_started_at"]),
            seriesAttempts: row["series_attempts"], nextAttemptAt: Timestamp(milliseconds: row["next_attempt_at"]),
            redelivered: row["redelivered"] ?? false)
        event.trace = (row["trace"] as String?).flatMap(TraceContext.init(storedForm:))
        return event
    }

    /// The first attempt, kept in the event's row (empty before it).
    static func firstAttempt(in row: Row) throws -> [AttemptRecord] {
        guard let text: String = row["first_outcome"] else { return [] }
        guard let outcome = AttemptOutcome(rawValue: text) else { throw OutboxError(.corrupt, "unreadable attempt outcome") }
        return [
            AttemptRecord(
                attempt: 1, startedAt: Timestamp(milliseconds: row["first_started_at"]),
                durationMs: row["first_duration_ms"], statusCode: row["first_status_code"], error: row["first_error"],
                outcome: outcome)
        ]
    }

    static func attempt(from row: Row) throws -> AttemptRecord {
        guard let outcome = AttemptOutcome(rawValue: row["outcome"]) else {
            throw OutboxError(.corrupt, "unreadable attempt outcome")
        }
        return AttemptRecord(
            attempt: row["attempt"], startedAt: Timestamp(milliseconds: row["started_at"]),
            durationMs: row["duration_ms"], statusCode: row["status_code"], error: row["error"], outcome: outcome)
    }

    static func readError(_ error: any Error) -> OutboxError {
        if let error = error as? OutboxError { return error }
        return OutboxError(.readFailed, "\(error)")
    }
}
