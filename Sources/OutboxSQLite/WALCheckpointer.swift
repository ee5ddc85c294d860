import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Copies the write-ahead log back into the database file on a thread and connection of its
/// own, so that commits do not wait for it (until the log passes ``hardLimit``).
///
/// SQLite's default (`wal_autocheckpoint = 1000`) checkpoints inside the commit that takes the
/// log past 1000 frames: that commit, and every append queued behind it, waits while the pages
/// are copied and the database file is fsynced. With `synchronous = NORMAL` that wait is the
/// only fsync left and it set the tail: `delivery-bench --rate 1000 --durability normal` gave
/// p50 0.18 ms and p99 3.7–4.7 ms. Here the writer's WAL hook only looks at the log's length and,
/// while it is ``threshold`` frames or longer, keeps this checkpointer busy: one `PASSIVE`
/// checkpoint at a time. A run never makes the writer or a reader wait, but while it copies it
/// holds the checkpoint lock (an inline checkpoint meanwhile gets `SQLITE_BUSY`) and the log's
/// first read slot, and it adds fsyncs of the database file (about three per run that copied
/// something).
///
/// The log starts over from its beginning only when a write begins after every frame was copied
/// and no reader holds a place in it. So the runs go on while the log is long, one every 25 ms
/// while commits come, until a write finds it all copied and starts it over. A writer that commits
/// without pause (at 1000 events/s, or the benchmark at full speed) seldom gives it that moment, so
/// past ``hardLimit`` frames a commit checkpoints inline, as SQLite's default would have; the runs
/// have copied all but the newest frames by then, so that checkpoint is short (at 1000 events/s:
/// 12–20 in 10 s, against SQLite's own every 1000 frames that copied everything). If this
/// checkpointer has no connection, inline checkpoints past ``hardLimit`` are all there is; while
/// a run is under way, the inline one is refused and the next commit tries again.
final class WALCheckpointer: Sendable {
    /// The log's length, in frames, from which the checkpointer runs (SQLite's default automatic
    /// checkpoint point).
    let threshold: Int
    /// Frames in the log past which a commit checkpoints itself.
    let hardLimit: Int
    private let path: String
    /// How soon a run that could not copy everything (a busy run, a reader's place in the log) is
    /// followed by another; doubled up to ``maxRetryDelay`` while that lasts, so a reader that
    /// keeps its place for long is not polled 200 times a second.
    private let retryDelay = Duration.milliseconds(5)
    /// How soon a run follows one during which commits came. Each run that copies something
    /// costs about three fsyncs: right after each other, at 1000 events/s, runs made 2.0× the
    /// process's fsyncs with `synchronous = FULL` and 25× with NORMAL (strace, 10 s); 25 ms apart,
    /// 1.1× and 2.5×, for the same p99 (0.71 ms median of 5 against 0.76), with 12–20 inline
    /// checkpoints in 10 s that copied only the frames of the last 25 ms.
    private let spacing = Duration.milliseconds(25)
    private let maxRetryDelay = Duration.milliseconds(200)
    private let queue = DispatchQueue(label: "outbox.checkpoint")
    private let state = Mutex(State())
    /// The checkpointer's connection: opened by ``install(on:expecting:)``, used only on ``queue``.
    private let connection = ConnectionBox()

    private struct State {
        /// The checkpointer has its connection (else only inline checkpoints run).
        var connected = false
        /// A checkpoint is queued or running.
        var scheduled = false
        /// A commit came while one was: another run follows it.
        var missed = false
        /// The delay before the next retry of a run that could not copy everything.
        var retry: Duration = .zero
        var background = 0
        var inline = 0
        var cpuNanoseconds: UInt64 = 0
        /// The log's length after the last commit.
        var frames = 0
        var failure: CheckpointFailure?
        var closed = false
    }

    /// What the checkpointer has done, for the benchmark and tests.
    struct Counts: Sendable, Equatable {
        /// Checkpoints run on the checkpointer's thread.
        var background: Int
        /// Checkpoints a commit ran itself because the log passed ``hardLimit`` (those refused
        /// because a run held the lock are not counted).
        var inline: Int
        /// Frames in the log after the last commit.
        var frames: Int
        /// A background checkpoint is queued or running.
        var scheduled: Bool
    }

    /// CPU seconds this thread spent in checkpoints.
    var cpuSeconds: Double { state.withLock { Double($0.cpuNanoseconds) / 1e9 } }

    var counts: Counts {
        state.withLock { Counts(background: $0.background, inline: $0.inline, frames: $0.frames, scheduled: $0.scheduled) }
    }
    /// Why the checkpointer's own connection cannot be used or its last run failed; nil after a
    /// run succeeds. Inline checkpoints keep the log bounded meanwhile.
    var lastFailure: CheckpointFailure? { state.withLock { $0.failure } }

    /// - Parameters:
    ///   - threshold: the log's length from which the checkpointer runs; above `hardLimit`, it
    ///     never does.
    ///   - hardLimit: frames past which a commit checkpoints itself (16 MiB of 4 KiB pages by
    ///     default).
    init(path: String, threshold: Int = 1000, hardLimit: Int = 4000) {
        self.path = path
        self.threshold = threshold
        self.hardLimit = hardLimit
    }

    /// Opens the checkpointer's connection and takes over automatic checkpoints on `db`, the
    /// pool's writer connection.
    ///
    /// The connection is opened now, right after the pool opened the file, and only used if it
    /// reached the same file (`identity`, the device and inode the store saw): a connection
    /// opened later by path could reach a file moved over the database meanwhile, and a
    /// checkpoint there would copy the live log into that file, mark it copied, and let the
    /// writer start its log over on frames its own file never got (reproduced with SQLite 3.40:
    /// 200 committed rows gone).
    ///
    /// The hook's context is a box holding this checkpointer weakly, and the box is never freed:
    /// the writer connection may outlive the store by a moment while the pool closes, and a
    /// dangling context would then be read. One small object (and the checkpointer's weak
    /// reference table) per opened store.
    func install(on db: Database, expecting identity: (device: UInt64, inode: UInt64)) {
        let opened = queue.sync { connection.open(path, expecting: identity) }
        state.withLock { state in
            switch opened {
            case .success: state.connected = true
            case .failure(let failure): state.failure = failure
            }
        }
        let box = Unmanaged.passRetained(WeakCheckpointer(self)).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, writer, _, frames in
            guard let context,
                let checkpointer = Unmanaged<WeakCheckpointer>.fromOpaque(context).takeUnretainedValue().checkpointer
            else {
                // The store is gone: behave like SQLite's default.
                if frames >= 1000 { sqlite3_wal_checkpoint_v2(writer, "main", SQLITE_CHECKPOINT_PASSIVE, nil, nil) }
                return SQLITE_OK
            }
            checkpointer.committed(frames: Int(frames), writer: writer)
            return SQLITE_OK
        }, box)
    }

    /// Called by the writer after each commit with the number of frames in the log.
    private func committed(frames: Int, writer: OpaquePointer?) {
        if frames >= hardLimit {
            let code = sqlite3_wal_checkpoint_v2(writer, "main", SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            state.withLock { state in
                state.frames = frames
                if code == SQLITE_OK { state.inline += 1 }
            }
            return
        }
        let due = state.withLock { state -> Bool in
            state.frames = frames
            guard frames >= threshold, state.connected, !state.closed else { return false }
            guard !state.scheduled else {
                state.missed = true
                return false
            }
            state.scheduled = true
            return true
        }
        if due { queue.async { [weak self] in self?.checkpoint() } }
    }

    /// One `PASSIVE` checkpoint on the checkpointer's connection, and the next if one is due.
    private func checkpoint() {
        guard let db = connection.handle, !state.withLock({ $0.closed }) else {
            state.withLock { $0.scheduled = false }
            return
        }
        var log: Int32 = 0
        var done: Int32 = 0
        let cpuBefore = threadCPUNanoseconds()
        let code = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done)
        let spent = threadCPUNanoseconds() &- cpuBefore
        // SQLITE_BUSY: another connection holds the checkpoint lock (a commit checkpointing
        // inline); what is left is copied next time.
        let copied = code == SQLITE_OK && log >= 0
        let failure: CheckpointFailure? =
            copied || code == SQLITE_BUSY
            ? nil : code != SQLITE_OK ? .sqlite(code: code, message: String(cString: sqlite3_errmsg(db))) : .notInWALMode
        let next = state.withLock { state -> Next in
            state.background += 1
            state.cpuNanoseconds &+= spent
            state.failure = failure
            defer { state.missed = false }
            guard failure == nil, !state.closed else {
                state.scheduled = false
                return .idle
            }
            // A commit came meanwhile (the hook saw this run under way; compared under one lock,
            // so none slips between): another run after `spacing`. Frames left behind (a busy
            // run, a reader's place): after a delay that grows while that lasts.
            if state.missed {
                state.retry = .zero
                return .after(spacing)
            }
            if !copied || done < log {
                state.retry = state.retry == .zero ? retryDelay : min(state.retry * 2, maxRetryDelay)
                return .after(state.retry)
            }
            state.retry = .zero
            state.scheduled = false
            return .idle
        }
        switch next {
        case .idle: break
        case .after(let delay):
            let (seconds, attoseconds) = delay.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in self?.checkpoint() }
        }
    }


    /// When the next run is due after one ends.
    private enum Next {
        case idle
        case after(Duration)
    }

    /// Waits for a checkpoint under way and closes the connection; commits after this checkpoint
    /// inline past ``hardLimit`` only.
    func close() {
        state.withLock { state in
            state.closed = true
            state.connected = false
        }
        queue.sync { connection.close() }
        state.withLock { $0.scheduled = false }
    }
}

/// Why the checkpointer cannot do its work.
enum CheckpointFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database file could not be opened (a second time) or read.
    case cannotOpen(path: String, message: String)
    /// The path leads to another file than the store's (it was moved or replaced).
    case anotherFile(path: String)
    /// A checkpoint failed.
    case sqlite(code: Int32, message: String)
    /// The connection does not see the file in WAL mode.
    case notInWALMode

    var description: String {
        switch self {
        case .cannotOpen(let path, let message): "cannot open \(path) to checkpoint it: \(message)"
        case .anotherFile(let path): "\(path) is not the file the store opened; checkpoints stay inline"
        case .sqlite(let code, let message): "checkpoint failed (\(code)): \(message)"
        case .notInWALMode: "the database is not in WAL mode"
        }
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
    // @unchecked: opened, used and closed on the checkpointer's serial queue (deinit aside,
    // when nothing else can reach it).
    private(set) var handle: OpaquePointer?

    /// Opens `path` once; refuses a file other than `identity`.
    func open(_ path: String, expecting identity: (device: UInt64, inode: UInt64)) -> Result<Void, CheckpointFailure> {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            return .failure(.cannotOpen(path: path, message: message))
        }
        // A connection learns that the file is in WAL mode when it first reads it (until then a
        // checkpoint is a no-op that reports -1 frames); reading opens the log and its index too,
        // now, beside the pool's. The checkpoint's fsyncs are what make it safe to start the log
        // over: `synchronous` is set rather than left to the build's default.
        guard sqlite3_exec(db, "SELECT count(*) FROM sqlite_master; PRAGMA synchronous = FULL", nil, nil, nil) == SQLITE_OK
        else {
            let message = String(cString: sqlite3_errmsg(db))
            sqlite3_close_v2(db)
            return .failure(.cannotOpen(path: path, message: message))
        }
        var now = stat()
        guard stat(path, &now) == 0, UInt64(now.st_dev) == identity.device, UInt64(now.st_ino) == identity.inode else {
            sqlite3_close_v2(db)
            return .failure(.anotherFile(path: path))
        }
        handle = db
        return .success(())
    }

    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    deinit { if let handle { sqlite3_close_v2(handle) } }
}
