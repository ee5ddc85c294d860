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
/// p50 0.18 ms and p99 3.7–3.9 ms. Here the writer's WAL hook only counts frames and, past
/// ``threshold`` frames not yet copied, wakes this checkpointer, whose `PASSIVE` checkpoint runs
/// beside the writer and the readers without blocking either.
///
/// The log starts over from its beginning only when a write begins after every frame was copied.
/// A writer with gaps between its commits (the worker almost always) gives the checkpointer those
/// moments; a writer that never pauses (the benchmark at full speed) does not, and the log would
/// grow for ever. So past ``hardLimit`` frames the commit checkpoints inline, as SQLite's default
/// would have: by then the checkpointer has copied all but the newest frames, so that inline
/// checkpoint is short, and the next write starts the log over. The same bound holds if this
/// thread falls behind or its connection fails.
final class WALCheckpointer: Sendable {
    /// Frames appended since the last checkpoint that wake the checkpointer (SQLite's default
    /// automatic checkpoint point).
    let threshold: Int
    /// Frames in the log past which a commit checkpoints itself.
    let hardLimit: Int
    private let path: String
    /// How soon a run that left frames behind (they were committed while it ran) is followed by
    /// another.
    private let followUp = DispatchTimeInterval.milliseconds(5)
    private let queue = DispatchQueue(label: "outbox.checkpoint")
    private let state = Mutex(State())
    /// The checkpointer's connection; opened on first use, touched only on ``queue``.
    private let connection = ConnectionBox()

    private struct State {
        /// A checkpoint is queued or running.
        var scheduled = false
        /// Frames of the current log already copied into the database.
        var copied = 0
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
    ///   - threshold: frames not yet copied that wake the checkpointer.
    ///   - hardLimit: frames past which a commit checkpoints itself (16 MiB of 4 KiB pages by
    ///     default); below `threshold`, the checkpointer never wakes.
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
        state.withLock { $0.frames = frames }
        if frames >= hardLimit {
            var done: Int32 = 0
            var log: Int32 = 0
            let code = sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
            state.withLock { state in
                state.inline += 1
                if code == SQLITE_OK && log >= 0 { state.copied = Int(done) }
            }
            return
        }
        let due = state.withLock { state -> Bool in
            // Fewer frames than were copied: the log started over from its beginning.
            if frames < state.copied { state.copied = 0 }
            guard !state.scheduled, !state.closed, frames - state.copied >= threshold else { return false }
            state.scheduled = true
            return true
        }
        if due { queue.async { self.checkpoint() } }
    }

    /// One `PASSIVE` checkpoint on the checkpointer's connection.
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
        let again = state.withLock { state -> Bool in
            state.background += 1
            state.failure = message
            // All copied, the next write starts the log over (unless a reader still uses it).
            if copied { state.copied = Int(done) }
            // Frames committed while this ran (the hook counted them: compared under the same
            // lock, so none slips between) or left by a busy run are copied in a moment, so that
            // a writer that pauses finds the whole log copied and starts it over. A writer that
            // never pauses gets one run per `followUp` at most (the hard limit bounds the log then).
            let again = message == nil && (!copied || Int(done) < state.frames) && !state.closed
            state.scheduled = again
            return again
        }
        if again { queue.asyncAfter(deadline: .now() + followUp) { self.checkpoint() } }
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
