import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the write-ahead log back into the database file on a thread and connection of its
/// own, so that no commit waits for it.
///
/// SQLite's default (`wal_autocheckpoint = 1000`) checkpoints inside the commit that takes the
/// log past 1000 frames: that commit, and every append queued behind it, waits while the pages
/// are copied and the database file is fsynced. With `synchronous = NORMAL` that wait is the
/// only fsync left and it set the tail: `delivery-bench --rate 1000 --durability normal` gave
/// p50 0.18 ms and p99 3.7–3.9 ms. Here the writer's WAL hook only looks at the log's length and,
/// while it is ``threshold`` frames or longer, keeps this checkpointer busy: one `PASSIVE`
/// checkpoint at a time, beside the writer and the readers, blocking neither.
///
/// The log starts over from its beginning only when a write begins after every frame was copied
/// and no reader holds a place in it. So the runs go on while the log is long, one after another
/// as commits come, until a write finds it all copied and starts it over (at 1000 events/s: 40–75
/// runs a second, and the log started over every time before reaching 4000 frames). Runs only
/// when 1000 frames were uncopied were tried: the log then rarely started over (23 inline
/// checkpoints in 10 s). A writer that never pauses (the benchmark at full speed) never lets it start over, so
/// past ``hardLimit`` frames the commit checkpoints inline, as SQLite's default would have; the
/// runs have copied all but the newest frames by then, so that checkpoint is short. The same
/// bound holds if this thread falls behind or its connection fails.
final class WALCheckpointer: Sendable {
    /// The log's length, in frames, from which the checkpointer runs (SQLite's default automatic
    /// checkpoint point).
    let threshold: Int
    /// Frames in the log past which a commit checkpoints itself.
    let hardLimit: Int
    private let path: String
    /// How soon a run that could not copy everything (a busy or incomplete run) is followed by another.
    private let retryDelay = DispatchTimeInterval.milliseconds(5)
    private let queue = DispatchQueue(label: "outbox.checkpoint")
    private let state = Mutex(State())
    /// The checkpointer's connection; opened on first use, touched only on ``queue``.
    private let connection = ConnectionBox()

    private struct State {
        /// A checkpoint is queued or running.
        var scheduled = false
        /// A commit came while one was: another run follows it.
        var missed = false
        var background = 0
        var inline = 0
        /// The log's length after the last commit.
        var frames = 0
        var failure: String?
        var closed = false
    }

    /// What the checkpointer has done, for the benchmark and tests.
    struct Counts: Sendable, Equatable {
        /// Checkpoints run on the checkpointer's thread.
        var background: Int
        /// Checkpoints a commit ran itself because the log passed ``hardLimit``.
        var inline: Int
        /// Frames in the log after the last commit.
        var frames: Int
        /// A background checkpoint is queued or running.
        var scheduled: Bool
    }

    var counts: Counts {
        state.withLock { Counts(background: $0.background, inline: $0.inline, frames: $0.frames, scheduled: $0.scheduled) }
    }
    /// The last error of the checkpointer's own connection (it cannot open the file, a checkpoint
    /// failed); inline checkpoints keep the log bounded meanwhile.
    var lastFailure: String? { state.withLock { $0.failure } }

    /// - Parameters:
    ///   - threshold: the log's length from which the checkpointer runs.
    ///   - hardLimit: frames past which a commit checkpoints itself (16 MiB of 4 KiB pages by
    ///     default); below `threshold`, the checkpointer never runs.
    init(path: String, threshold: Int = 1000, hardLimit: Int = 4000) {
        self.path = path
        self.threshold = threshold
        self.hardLimit = hardLimit
    }

    /// Takes over automatic checkpoints on `db`, the pool's writer connection.
    ///
    /// The hook's context is a box holding this checkpointer weakly, and the box is never freed:
    /// the writer connection may outlive the store by a moment while the pool closes, and a
    /// dangling context would then be read. One box (16 bytes) per opened store.
    func install(on db: Database) {
        let box = Unmanaged.passRetained(WeakCheckpointer(self)).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, writer, _, frames in
            guard let context,
                let checkpointer = Unmanaged<WeakCheckpointer>.fromOpaque(context).takeUnretainedValue().checkpointer
            else {
                // The store is gone: behave like SQLite's default.
                if frames >= 1000 { sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) }
                return SQLITE_OK
            }
            checkpointer.committed(frames: Int(frames), writer: writer)
            return SQLITE_OK
        }, box)
    }

    /// Called by the writer after each commit with the number of frames in the log.
    private func committed(frames: Int, writer: OpaquePointer?) {
        if frames >= hardLimit {
            state.withLock { state in
                state.frames = frames
                state.inline += 1
            }
            sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            return
        }
        let due = state.withLock { state -> Bool in
            state.frames = frames
            guard frames >= threshold, !state.closed else { return false }
            guard !state.scheduled else {
                state.missed = true
                return false
            }
            state.scheduled = true
            return true
        }
        if due { queue.async { self.checkpoint() } }
    }

    /// One `PASSIVE` checkpoint on the checkpointer's connection, and the next if one is due.
    private func checkpoint() {
        guard !state.withLock({ $0.closed }) else { return }
        guard let db = connection.open(path) else {
            state.withLock { state in
                state.scheduled = false
                state.failure = "cannot open \(path) to checkpoint it"
            }
            return
        }
        var log: Int32 = 0
        var done: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
        // SQLITE_BUSY: a commit is checkpointing inline right now; what is left is copied next time.
        let copied = code == SQLITE_OK && log >= 0
        let message: String? =
            copied || code == SQLITE_BUSY
            ? nil : code != SQLITE_OK ? String(cString: sqlite3_errmsg(db)) : "the database is not in WAL mode"
        let next = state.withLock { state -> Next in
            state.background += 1
            state.failure = message
            defer { state.missed = false }
            guard message == nil, !state.closed else {
                state.scheduled = false
                return .none
            }
            // A commit came meanwhile (the hook saw this run under way; compared under one lock,
            // so none slips between): at once. Frames left behind (a busy run, a reader's place):
            // in a moment.
            if state.missed { return .now }
            if !copied || done < log { return .later }
            state.scheduled = false
            return .none
        }
        switch next {
        case .none: break
        case .now: queue.async { self.checkpoint() }
        case .later: queue.asyncAfter(deadline: .now() + retryDelay) { self.checkpoint() }
        }
    }

    /// When the next run is due after one ends.
    private enum Next {
        case none, now, later
    }

    /// Waits for a checkpoint under way and closes the connection; commits after this checkpoint
    /// inline past ``hardLimit`` only.
    func close() {
        state.withLock { $0.closed = true }
        queue.sync { connection.close() }
    }
}

/// The hook's view of the checkpointer.
private final class WeakCheckpointer: @unchecked Sendable {
    // @unchecked: set once at creation; `weak` reads are atomic.
    weak var checkpointer: WALCheckpointer?
    init(_ checkpointer: WALCheckpointer) { self.checkpointer = checkpointer }
}

/// The checkpointer's own connection to the database file.
private final class ConnectionBox: @unchecked Sendable {
    // @unchecked: used only on the checkpointer's serial queue.
    private var handle: OpaquePointer?
    private var closed = false

    func open(_ path: String) -> OpaquePointer? {
        if let handle { return handle }
        guard !closed else { return nil }
        var db: OpaquePointer?
        // A connection learns that the file is in WAL mode when it first reads it; until then a
        // checkpoint is a no-op that reports -1 frames.
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
            sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK
        else {
            sqlite3_close_v2(db)
            return nil
        }
        handle = db
        return db
    }

    func close() {
        closed = true
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    deinit { if let handle { sqlite3_close_v2(handle) } }
}
