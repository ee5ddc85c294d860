import Dispatch
import Foundation
import ChildProcess
import Synchronization
import WorkerCore
import WorkerPipeline

/// Runs a command and collects its output; cancelling the calling task kills it (SIGTERM, then
/// SIGKILL after a second), so cancelling a job stops its ffmpeg or helper promptly.
///
/// Output goes to files, not pipes, unless a line handler asks for it as it comes: a chatty
/// ffmpeg then cannot block on a full pipe buffer. Every run has a time limit (``Limit``
/// says how long each kind of work may take): past it the process ends the same way a cancel
/// ends it, and the run throws ``PipelineError`` with code `timeout`. A worker that runs for
/// months cannot afford one ffmpeg that never returns holding a job and its slot forever.
///
/// Nothing here waits without a bound: the processes are stopped at the limit, and the reader
/// of streamed output gives up shortly after they have exited even when something else still
/// holds the pipe's write end.
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
        _ executable: String, _ arguments: [String], limit: Int = 16 << 20, timeLimit: Duration,
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
        return Output(status: status, stdout: await stdout.finishAfterExit(), stderr: scratch.read("err", limit: limit))
    }

    /// Runs `producer | consumer`: the producer's stdout feeds the consumer's stdin through a pipe,
    /// so the data (raw video frames) streams through and is never held whole. Cancel and time
    /// limit stop both.
    /// - Returns: the producer's output (its stdout empty: it went to the consumer) and the consumer's.
    static func pipeline(
        _ producer: Command, into consumer: Command, limit: Int = 16 << 20, timeLimit: Duration,
        onLine: (@Sendable (Substring) -> Void)? = nil
    ) async throws -> (producer: Output, consumer: Output) {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let pipe = try PipeEnds()
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
                stdout: pipe.writeEnd, stderr: producerErr.fileDescriptor),
            SpawnPlan(
                executable: consumer.executable, arguments: consumer.arguments, stdin: pipe.readEnd,
                stdout: stdout.descriptor, stderr: consumerErr.fileDescriptor),
        ]
        let statuses: [Int32]
        do {
            statuses = try await supervise(
                plans, timeLimit: timeLimit, name: consumer.executable,
                afterLaunch: {
                    // The children have their ends; the consumer sees the end of the data only
                    // once no one else holds the pipe's write end.
                    pipe.closeBoth()
                    stdout.launched()
                })
        } catch {
            pipe.closeBoth()
            stdout.abandon()
            throw error
        }
        let consumerOutput = Output(
            status: statuses.last ?? -1, stdout: await stdout.finishAfterExit(), stderr: scratch.read("err", limit: limit))
        let producerOutput = Output(
            status: statuses.first ?? -1, stdout: Data(), stderr: scratch.read("producer-err", limit: limit))
        return (producerOutput, consumerOutput)
    }

    /// How long each kind of work may run before it is stopped. Generous: a limit is there to end
    /// a process that will never finish, not to judge a slow one (two jobs on two cores, a 4K
    /// source).
    enum Limit {
        /// Reading a file's container and stream headers (ffprobe).
        static let probe: Duration = .seconds(120)

        /// One decoding pass over `durationMs` of media (scene cuts, silences, subtitles): ffmpeg
        /// decodes far faster than real time; twice real time is a machine in trouble.
        static func pass(durationMs: Int) -> Duration { .seconds(120) + .milliseconds(durationMs) * 2 }

        /// Encoding a clip of `durationMs` (x264 `veryfast`, about real time on one busy core).
        static func render(durationMs: Int) -> Duration { .seconds(300) + .milliseconds(durationMs) * 10 }

        /// The operator's transcribe command over `durationMs` of media: speech-to-text on a CPU
        /// can run slower than real time.
        static func transcribeCommand(durationMs: Int) -> Duration { .seconds(600) + .milliseconds(durationMs) * 4 }
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
        _ plans: [SpawnPlan], timeLimit: Duration, name: String, afterLaunch: @Sendable () -> Void = {}
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
                        SpawnPlan.wait(for: pid) { status in exits.exited(index, status: status) }
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
                let (seconds, attoseconds) = timeLimit.components
                let delay = Double(seconds) + Double(attoseconds) / 1e18
                DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                    if exits.markTimedOut() { stop() }
                }
            }
        } onCancel: {
            stop()
        }
        try Task.checkCancellation()
        if exits.timedOut {
            throw PipelineError(
                .timeout, "A helper program took longer than its time limit",
                detail: "\(name) stopped after \(timeLimit)")
        }
        return statuses
    }
}

/// The processes a run started, for stopping them: SIGTERM to each one's process group, then
/// SIGKILL a second later (see `SpawnPlan.signal`, which is safe after a process was reaped).
private final class RunningProcesses: Sendable {
    private let pids = Mutex(Set<pid_t>())

    func add(_ pid: pid_t) { pids.withLock { _ = $0.insert(pid) } }

    func stop() {
        let started = pids.withLock { $0 }
        guard !started.isEmpty else { return }
        for pid in started { SpawnPlan.signal(pid, SIGTERM) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
            for pid in started { SpawnPlan.signal(pid, SIGKILL) }
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

/// Both ends of a pipe, opened close-on-exec.
///
/// Foundation's `Pipe` is not: a process that another part of this program starts at the same
/// moment (Foundation's `Process` closes the descriptors it saw open a little before it spawns)
/// would inherit the write end, and the reader would not see the end of the output until that
/// unrelated process exited. A child that should have an end gets it through `dup2`, which
/// clears the flag on the copy.
final class PipeEnds: Sendable {
    let readEnd: Int32
    let writeEnd: Int32
    private let open = Mutex((read: true, write: true))

    init() throws {
        var ends: [Int32] = [-1, -1]
        let made: Int32
        if let pipe2 = Self.pipe2 {
            made = unsafeBitCast(pipe2, to: Pipe2.self)(&ends, O_CLOEXEC)
        } else {
            // No pipe2 (not glibc): the flag is set just after, a window only a spawn from
            // another thread in that instant can see.
            made = pipe(&ends)
            for end in ends where made == 0 { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        }
        guard made == 0 else { throw SpawnError(reason: "pipe: \(String(cString: strerror(errno)))") }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    // Swift's Glibc module does not declare pipe2 (it is behind _GNU_SOURCE), hence the lookup.
    nonisolated(unsafe) private static let pipe2: UnsafeMutableRawPointer? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")

    func closeWrite() {
        if open.withLock({ ends in defer { ends.write = false }; return ends.write }) { close(writeEnd) }
    }

    /// Writes one byte and closes the write end; the first call only (a second would write to a
    /// descriptor number that may belong to another file by then). The read end must still be
    /// open, or the write raises SIGPIPE.
    func signalOnce() {
        open.withLock { ends in
            guard ends.write else { return }
            ends.write = false
            var byte: UInt8 = 1
            _ = write(writeEnd, &byte, 1)
            close(writeEnd)
        }
    }

    func closeRead() {
        if open.withLock({ ends in defer { ends.read = false }; return ends.read }) { close(readEnd) }
    }

    func closeBoth() {
        closeWrite()
        closeRead()
    }

    deinit { closeBoth() }
}

/// Where a process's stdout goes: a file, or a pipe read line by line on a thread of its own
/// (a blocking read, kept off the cooperative pool) when a line handler wants it as it comes.
///
/// The reader ends at the end of the output, or ``exitGrace`` after the processes have exited
/// (or never ran) when the end does not come: by then everything they printed is in the pipe
/// and has been read, and only a process that should not hold the write end (a grandchild left
/// running) keeps it open. Waiting for that process could take forever.
private final class StdoutSink: Sendable {
    /// How long the reader keeps waiting for the end of the output once the processes are gone.
    static let exitGrace: Duration = .seconds(2)

    private let file: FileHandle?
    private let pipe: PipeEnds?
    /// Written to when the processes have exited: wakes the reader to start its grace period.
    private let exited: PipeEnds?
    private let scratch: Scratch
    private let limit: Int
    private let reader: Task<Data, Never>?

    /// The descriptor the child writes to.
    var descriptor: Int32 { file?.fileDescriptor ?? pipe?.writeEnd ?? -1 }

    init(onLine: (@Sendable (Substring) -> Void)?, scratch: Scratch, limit: Int) throws {
        self.scratch = scratch
        self.limit = limit
        guard let onLine else {
            file = try scratch.writer("out")
            pipe = nil
            exited = nil
            reader = nil
            return
        }
        file = nil
        let pipe = try PipeEnds()
        let exited = try PipeEnds()
        self.pipe = pipe
        self.exited = exited
        reader = Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
                Thread.detachNewThread {
                    let kept = Self.read(pipe.readEnd, until: exited.readEnd, limit: limit, onLine: onLine)
                    // `exited` stays open until the sink goes: a late signal must find a reader.
                    pipe.closeRead()
                    continuation.resume(returning: kept)
                }
            }
        }
    }

    /// Reads `descriptor` to its end, handing over each line; after `wake` becomes readable, for
    /// at most ``exitGrace`` more without data.
    private static func read(
        _ descriptor: Int32, until wake: Int32, limit: Int, onLine: @Sendable (Substring) -> Void
    ) -> Data {
        var kept = Data()
        var pending = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var graceEnds: ContinuousClock.Instant?
        var poller = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while true {
            // One grace period from the wake-up, not one per chunk: a process left behind that
            // keeps printing must not keep the reader forever.
            var timeout: Int32 = -1
            if let graceEnds {
                let left = graceEnds - .now
                guard left > .zero else { break }
                let (seconds, attoseconds) = left.components
                timeout = Int32(seconds * 1000 + attoseconds / 1_000_000_000_000_000) + 1
            }
            let ready = poll(&poller, graceEnds == nil ? 2 : 1, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }  // the deadline check above ends the loop
            if graceEnds == nil, poller[1].revents != 0 { graceEnds = .now + exitGrace }
            guard poller[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if count == 0 { break }
            let chunk = buffer[0..<count]
            if kept.count < limit { kept.append(contentsOf: chunk.prefix(limit - kept.count)) }
            pending.append(contentsOf: chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                onLine(Substring(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)))
                pending.removeSubrange(pending.startIndex...newline)
            }
            // Output without line breaks is handed over in pieces rather than held without bound.
            if pending.count >= limit {
                onLine(Substring(String(decoding: pending, as: UTF8.self)))
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty { onLine(Substring(String(decoding: pending, as: UTF8.self))) }
        return kept
    }

    /// The child has its copy: this process lets go of the write end (the reader then sees the
    /// end of the output when the child exits) and of the file.
    func launched() {
        pipe?.closeWrite()
        try? file?.close()
    }

    /// Ends the reader when the processes never ran or were stopped: they are gone, so only the
    /// grace period is left.
    func abandon() {
        launched()
        signalExit()
    }

    /// Everything printed (up to the limit), after the last line was handed over. Call once the
    /// processes have exited.
    func finishAfterExit() async -> Data {
        signalExit()
        if let reader { return await reader.value }
        return scratch.read("out", limit: limit)
    }

    private func signalExit() {
        exited?.signalOnce()
    }
}
