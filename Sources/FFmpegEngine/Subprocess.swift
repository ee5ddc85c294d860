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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardError = try scratch.writer("err")
        let stdout = try StdoutSink(onLine: onLine, scratch: scratch, limit: limit)
        process.standardOutput = stdout.target
        let status: Int32
        do {
            status = try await supervise([process], timeLimit: timeLimit, name: executable).first ?? -1
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
        let first = Process()
        first.executableURL = URL(fileURLWithPath: producer.executable)
        first.arguments = producer.arguments
        first.standardInput = FileHandle.nullDevice
        // Handles, not the Pipe: Foundation closes a Pipe's other end in the parent at launch,
        // which the second launch still needs. Both ends are closed here once both run.
        first.standardOutput = pipe.fileHandleForWriting
        first.standardError = try scratch.writer("producer-err")
        let second = Process()
        second.executableURL = URL(fileURLWithPath: consumer.executable)
        second.arguments = consumer.arguments
        second.standardInput = pipe.fileHandleForReading
        second.standardError = try scratch.writer("err")
        let stdout = try StdoutSink(onLine: onLine, scratch: scratch, limit: limit)
        second.standardOutput = stdout.target
        let statuses: [Int32]
        do {
            statuses = try await supervise(
                [first, second], timeLimit: timeLimit, name: consumer.executable,
                afterLaunch: {
                    try? pipe.fileHandleForWriting.close()
                    try? pipe.fileHandleForReading.close()
                })
        } catch {
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

    /// Launches `processes` in order and waits until every one has exited.
    ///
    /// A cancel that lands before a launch is noticed right after it (nothing was running to stop
    /// then); one that lands later stops them through the cancellation handler.
    private static func supervise(
        _ processes: [Process], timeLimit: Duration?, name: String, afterLaunch: @Sendable () -> Void = {}
    ) async throws -> [Int32] {
        let exits = ExitCollector(count: processes.count)
        let stop: @Sendable () -> Void = {
            for process in processes where process.isRunning {
                process.terminate()
                let pid = process.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
                    if process.isRunning { kill(pid, SIGKILL) }
                }
            }
        }
        let statuses: [Int32] = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Int32], any Error>) in
                exits.start(continuation)
                for (index, process) in processes.enumerated() {
                    process.terminationHandler = { exits.exited(index, status: $0.terminationStatus) }
                    do {
                        try process.run()
                    } catch {
                        process.terminationHandler = nil
                        let failure = PipelineError(
                            .internal, "A helper program could not be started",
                            detail: "cannot run \(process.executableURL?.path ?? name): \(error)")
                        // The ones launched are stopped; the rest never ran.
                        for later in index..<processes.count { exits.exited(later, status: -1, failure: failure) }
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
    let target: any Sendable
    private let pipe: Pipe?
    private let scratch: Scratch
    private let limit: Int
    private let reader: Task<Data, Never>?

    init(onLine: (@Sendable (Substring) -> Void)?, scratch: Scratch, limit: Int) throws {
        self.scratch = scratch
        self.limit = limit
        guard let onLine else {
            target = try scratch.writer("out")
            pipe = nil
            reader = nil
            return
        }
        let pipe = Pipe()
        target = pipe
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

    /// Ends the reader when the process never ran (Foundation closes the pipe's write end in
    /// this process only after a successful launch); harmless when it did.
    func abandon() {
        try? pipe?.fileHandleForWriting.close()
    }

    /// Everything printed (up to the limit), after the last line was handed over.
    func finish() async -> Data {
        if let reader { return await reader.value }
        return scratch.read("out", limit: limit)
    }
}
