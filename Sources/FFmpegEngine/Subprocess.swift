import Dispatch
import Foundation
import Synchronization
import WorkerCore
import WorkerPipeline

/// Runs a command and collects its output; cancelling the calling task kills it (SIGTERM, then
/// SIGKILL after a second), so cancelling a job stops its ffmpeg or helper promptly.
///
/// Output goes to files, not pipes, unless a line handler asks for it as it comes: a chatty
/// ffmpeg then cannot block on a full pipe buffer. A time limit ends the process the same way a
/// cancel does and throws ``PipelineError`` with code `timeout`.
enum Subprocess {
    struct Output: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: Data

        var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// One program and its arguments.
    struct Command: Sendable {
        var executable: String
        var arguments: [String]
    }

    /// Runs `executable` with `arguments`; stdout/stderr are kept up to `limit` bytes each.
    /// - Parameters:
    ///   - timeLimit: ends the process (SIGTERM, then SIGKILL) when it runs longer.
    ///   - onLine: called with each stdout line as the process prints it (streamed through a pipe).
    /// - Throws: ``PipelineError`` `internal` when it cannot start, `timeout` past the limit;
    ///   `CancellationError` when the task was cancelled (the process is then stopped).
    static func run(
        _ executable: String, _ arguments: [String], limit: Int = 16 << 20, timeLimit: Duration? = nil,
        onLine: (@Sendable (Substring) -> Void)? = nil
    ) async throws -> Output {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let stderr = try scratch.writer("err")
        defer { try? stderr.close() }
        let stdout = try StdoutSink(onLine: onLine, scratch: scratch, limit: limit)
        let plan = SpawnPlan(
            executable: executable, arguments: arguments, stdin: nil, stdout: stdout.descriptor, stderr: stderr.fileDescriptor)
        let status: Int32
        do {
            status = try await supervise([plan], timeLimit: timeLimit, name: executable, afterLaunch: { stdout.launched() })
                .first ?? -1
        } catch {
            stdout.abandon()
            throw error
        }
        return Output(status: status, stdout: await stdout.finish(), stderr: scratch.read("err", limit: limit))
    }

    /// Runs `producer | consumer`: the producer's stdout feeds the consumer's stdin through a pipe,
    /// so the data (raw video frames) streams through and is never held whole. Cancel and time
    /// limit stop both.
    /// - Returns: the producer's output (its stdout empty: it went to the consumer) and the consumer's.
    static func pipeline(
        _ producer: Command, into consumer: Command, limit: Int = 16 << 20, timeLimit: Duration? = nil,
        onLine: (@Sendable (Substring) -> Void)? = nil
    ) async throws -> (producer: Output, consumer: Output) {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let pipe = Pipe()
        let producerErr = try scratch.writer("producer-err")
        let consumerErr = try scratch.writer("err")
        defer {
            try? producerErr.close()
            try? consumerErr.close()
        }
        let stdout = try StdoutSink(onLine: onLine, scratch: scratch, limit: limit)
        let plans = [
            SpawnPlan(
                executable: producer.executable, arguments: producer.arguments, stdin: nil,
                stdout: pipe.fileHandleForWriting.fileDescriptor, stderr: producerErr.fileDescriptor),
            SpawnPlan(
                executable: consumer.executable, arguments: consumer.arguments, stdin: pipe.fileHandleForReading.fileDescriptor,
                stdout: stdout.descriptor, stderr: consumerErr.fileDescriptor),
        ]
        let statuses: [Int32]
        do {
            statuses = try await supervise(
                plans, timeLimit: timeLimit, name: consumer.executable,
                afterLaunch: {
                    // The children have their ends; the consumer sees the end of the data only
                    // once no one else holds the pipe's write end.
                    try? pipe.fileHandleForWriting.close()
                    try? pipe.fileHandleForReading.close()
                    stdout.launched()
                })
        } catch {
            try? pipe.fileHandleForWriting.close()
            try? pipe.fileHandleForReading.close()
            stdout.abandon()
            throw error
        }
        let consumerOutput = Output(
            status: statuses.last ?? -1, stdout: await stdout.finish(), stderr: scratch.read("err", limit: limit))
        let producerOutput = Output(
            status: statuses.first ?? -1, stdout: Data(), stderr: scratch.read("producer-err", limit: limit))
        return (producerOutput, consumerOutput)
    }

    /// The full path of a command on PATH, or nil.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Launches `plans` in order and waits until every process has exited.
    ///
    /// A cancel that lands before a launch is noticed right after it (nothing was running to stop
    /// then); one that lands later stops them through the cancellation handler.
    private static func supervise(
        _ plans: [SpawnPlan], timeLimit: Duration?, name: String, afterLaunch: @Sendable () -> Void = {}
    ) async throws -> [Int32] {
        let exits = ExitCollector(count: plans.count)
        let running = RunningProcesses()
        let stop: @Sendable () -> Void = { running.stop() }
        let statuses: [Int32] = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Int32], any Error>) in
                exits.start(continuation)
                for (index, plan) in plans.enumerated() {
                    do {
                        let pid = try plan.spawn()
                        running.add(pid)
                        SpawnPlan.wait(for: pid) { status in
                            running.remove(pid)
                            exits.exited(index, status: status)
                        }
                    } catch {
                        let failure = PipelineError(
                            .internal, "A helper program could not be started", detail: "cannot run \(plan.executable): \(error)")
                        // The ones launched are stopped; the rest never ran.
                        for later in index..<plans.count { exits.exited(later, status: -1, failure: failure) }
                        stop()
                        break
                    }
                }
                afterLaunch()
                if Task.isCancelled { stop() }
                if let timeLimit {
                    let (seconds, attoseconds) = timeLimit.components
                    let delay = Double(seconds) + Double(attoseconds) / 1e18
                    DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                        if exits.markTimedOut() { stop() }
                    }
                }
            }
        } onCancel: {
            stop()
        }
        try Task.checkCancellation()
        if exits.timedOut, let timeLimit {
            throw PipelineError(
                .timeout, "A helper program took longer than its time limit",
                detail: "\(name) stopped after \(timeLimit)")
        }
        return statuses
    }
}

/// One process to start with `posix_spawn`: its program, arguments and three descriptors.
///
/// Not Foundation's `Process`: its `run()` was seen to crash (a `memcpy` from a bad pointer) when
/// several processes start at once, which a worker running two jobs does all the time. The child
/// gets exactly stdin, stdout and stderr: every other descriptor is closed in it
/// (`posix_spawn_file_actions_addclosefrom_np`), so no socket, database file or pipe end leaks
/// into ffmpeg or a helper (a leaked pipe write end would keep a consumer from seeing its input end).
private struct SpawnPlan: Sendable {
    let executable: String
    let arguments: [String]
    /// nil: `/dev/null`.
    let stdin: Int32?
    let stdout: Int32
    let stderr: Int32

    /// Starts the process; returns its pid.
    /// - Throws: ``SpawnError`` with `strerror` of posix_spawn's result.
    func spawn() throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        Self.closeTheRest(&actions)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw SpawnError(reason: String(cString: strerror(result))) }
        return pid
    }

    /// `posix_spawn_file_actions_addclosefrom_np(actions, 3)` (glibc 2.34+; Swift's Glibc module
    /// does not declare it, hence the lookup), else a close for every descriptor open now above 2.
    private static func closeTheRest(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let symbol = closeFrom {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap(Int32.init) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }

    // Read once; a function address never changes.
    nonisolated(unsafe) private static let closeFrom: UnsafeMutableRawPointer? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")

    /// Calls `exited` with the process's status (its exit code, or 128 + the signal that ended
    /// it) from a thread of its own that waits for it.
    static func wait(for pid: pid_t, exited: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            exited(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
        thread.start()
    }
}

private struct SpawnError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// The pids still running, for stopping them: SIGTERM, then SIGKILL a second later.
private final class RunningProcesses: Sendable {
    private let pids = Mutex(Set<pid_t>())

    func add(_ pid: pid_t) { pids.withLock { _ = $0.insert(pid) } }
    func remove(_ pid: pid_t) { pids.withLock { _ = $0.remove(pid) } }

    func stop() {
        let running = pids.withLock { $0 }
        for pid in running { kill(pid, SIGTERM) }
        guard !running.isEmpty else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
            // Only those still not reaped: a reaped pid may belong to another process by now.
            let left = self.pids.withLock { $0 }
            for pid in left where running.contains(pid) { kill(pid, SIGKILL) }
        }
    }
}

/// Collects the exit statuses of a group of processes and resumes the waiting task once, when
/// the last one has exited.
private final class ExitCollector: Sendable {
    private struct State {
        var statuses: [Int32?]
        var failure: (any Error)?
        var continuation: CheckedContinuation<[Int32], any Error>?
        var timedOut = false
        var finished = false
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(statuses: Array(repeating: nil, count: count))) }

    func start(_ continuation: CheckedContinuation<[Int32], any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func exited(_ index: Int, status: Int32, failure: (any Error)? = nil) {
        let resume: (CheckedContinuation<[Int32], any Error>, Result<[Int32], any Error>)? = state.withLock { state in
            state.statuses[index] = status
            if let failure, state.failure == nil { state.failure = failure }
            guard !state.finished, state.statuses.allSatisfy({ $0 != nil }), let continuation = state.continuation else {
                return nil
            }
            state.finished = true
            state.continuation = nil
            if let failure = state.failure { return (continuation, .failure(failure)) }
            return (continuation, .success(state.statuses.map { $0 ?? -1 }))
        }
        if let (continuation, result) = resume { continuation.resume(with: result) }
    }

    /// Marks the group timed out; false when it had already finished.
    func markTimedOut() -> Bool {
        state.withLock { state in
            guard !state.finished else { return false }
            state.timedOut = true
            return true
        }
    }

    var timedOut: Bool { state.withLock { $0.timedOut } }
}

/// A private directory for one run's output files.
private struct Scratch: Sendable {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("subprocess-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func writer(_ name: String) throws -> FileHandle {
        let url = directory.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        return try FileHandle(forWritingTo: url)
    }

    func read(_ name: String, limit: Int) -> Data {
        guard let handle = try? FileHandle(forReadingFrom: directory.appendingPathComponent(name)) else { return Data() }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: limit)) ?? Data()
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// Where a process's stdout goes: a file, or a pipe read line by line on a thread of its own
/// (a blocking read, kept off the cooperative pool) when a line handler wants it as it comes.
private final class StdoutSink: Sendable {
    private let file: FileHandle?
    private let pipe: Pipe?
    private let scratch: Scratch
    private let limit: Int
    private let reader: Task<Data, Never>?

    /// The descriptor the child writes to.
    var descriptor: Int32 { file?.fileDescriptor ?? pipe?.fileHandleForWriting.fileDescriptor ?? -1 }

    init(onLine: (@Sendable (Substring) -> Void)?, scratch: Scratch, limit: Int) throws {
        self.scratch = scratch
        self.limit = limit
        guard let onLine else {
            file = try scratch.writer("out")
            pipe = nil
            reader = nil
            return
        }
        file = nil
        let pipe = Pipe()
        self.pipe = pipe
        let handle = pipe.fileHandleForReading
        reader = Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
                Thread.detachNewThread {
                    var kept = Data()
                    var pending = Data()
                    while true {
                        let chunk = handle.availableData
                        if chunk.isEmpty { break }
                        if kept.count < limit { kept.append(chunk.prefix(limit - kept.count)) }
                        pending.append(chunk)
                        while let newline = pending.firstIndex(of: 0x0A) {
                            onLine(Substring(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)))
                            pending.removeSubrange(pending.startIndex...newline)
                        }
                    }
                    if !pending.isEmpty { onLine(Substring(String(decoding: pending, as: UTF8.self))) }
                    try? handle.close()
                    continuation.resume(returning: kept)
                }
            }
        }
    }

    /// The child has its copy: this process lets go of the write end (the reader then sees the
    /// end of the output when the child exits) and of the file.
    func launched() {
        try? pipe?.fileHandleForWriting.close()
        try? file?.close()
    }

    /// Ends the reader when the process never ran; harmless when it did.
    func abandon() {
        try? pipe?.fileHandleForWriting.close()
        try? file?.close()
    }

    /// Everything printed (up to the limit), after the last line was handed over.
    func finish() async -> Data {
        if let reader { return await reader.value }
        return scratch.read("out", limit: limit)
    }
}
