import ChildProcess
import Foundation
import Synchronization

/// Runs a program to its end for a test, without blocking a thread while it runs.
///
/// Not Foundation's `Process`, for three reasons seen here:
/// - its `waitUntilExit()` and a pipe's `readDataToEndOfFile()` hold a thread of the cooperative
///   pool (one per core) for the program's whole run;
/// - it learns of the exit through a socket the child inherits, so a process the program leaves
///   behind (`sleep 300 &`) keeps it "running" until that process ends too;
/// - a pipe's end never comes while another process (started elsewhere at the same moment, or
///   left behind) still holds the write end.
///
/// So: `SpawnPlan` (only the three descriptors, no blocked signal), input and output in files,
/// the exit from `waitpid`, and a time limit or a cancelled test killing it.
public enum TestProgram {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    public struct TimedOut: Error, CustomStringConvertible {
        public let command: String
        public let limit: Duration
        public let output: String
        public var description: String { "\(command) ran past \(limit) and was killed; it printed:\n\(output.suffix(2000))" }
    }

    /// Runs `executable` with `arguments` until it exits.
    /// - Parameters:
    ///   - input: what it reads on stdin (nothing: `/dev/null`).
    ///   - environment: its whole environment (nil: this process's).
    ///   - mergeOutput: stderr goes to the same file as stdout (`error` is then empty).
    /// - Throws: ``TimedOut`` past `timeLimit`; `CancellationError` when the test was cancelled.
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
        mergeOutput: Bool = false, timeLimit: Duration = .seconds(60)
    ) async throws -> Result {
        let directory = NSTemporaryDirectory() + "program-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outPath = directory + "/out"
        let errPath = directory + "/err"
        let inPath = directory + "/in"
        for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        _ = FileManager.default.createFile(atPath: inPath, contents: Data((input ?? "").utf8))
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let stdin = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        defer {
            try? out.close()
            try? err.close()
            try? stdin.close()
        }

        // The environment is the child's whole environment: set it around the spawn is not an
        // option with tests in parallel, so a program with its own environment runs under env(1).
        var command = (executable, arguments)
        if let environment {
            command = ("/usr/bin/env", ["-i"] + environment.map { "\($0.key)=\($0.value)" } + [executable] + arguments)
        }
        let plan = SpawnPlan(
            executable: command.0, arguments: command.1, stdin: stdin.fileDescriptor, stdout: out.fileDescriptor,
            stderr: mergeOutput ? out.fileDescriptor : err.fileDescriptor)
        let pid = try plan.spawn()
        let exit = ExitWaiter(pid: pid)
        SpawnPlan.wait(for: pid) { status in exit.exited(status) }
        let status: Int32 = await withTaskCancellationHandler {
            let timer = Task {
                try await Task.sleep(for: timeLimit)
                exit.kill(timedOut: true)
            }
            defer { timer.cancel() }
            return await exit.status()
        } onCancel: {
            exit.kill(timedOut: false)
        }
        let output = String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self)
        let error = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
        try Task.checkCancellation()
        if exit.timedOut {
            throw TimedOut(command: ([executable] + arguments).joined(separator: " "), limit: timeLimit, output: output + error)
        }
        return Result(status: status, output: output, error: error)
    }

    /// The exit status, handed from the `waitpid` thread to the waiting task whichever comes
    /// first; and the kill, only while the process has not been reported exited.
    private final class ExitWaiter: Sendable {
        private enum Phase {
            case running
            case waiting(CheckedContinuation<Int32, Never>)
            case exited(Int32)
        }
        private struct State {
            var phase = Phase.running
            var timedOut = false
        }
        private let pid: pid_t
        private let state = Mutex(State())

        init(pid: pid_t) { self.pid = pid }

        func exited(_ status: Int32) {
            let waiter: CheckedContinuation<Int32, Never>? = state.withLock { state in
                defer { state.phase = .exited(status) }
                if case .waiting(let continuation) = state.phase { return continuation }
                return nil
            }
            waiter?.resume(returning: status)
        }

        func kill(timedOut: Bool) {
            state.withLock { state in
                if case .exited = state.phase { return }
                if timedOut { state.timedOut = true }
                SpawnPlan.signal(pid, SIGKILL)  // its group: what it left behind too
            }
        }

        var timedOut: Bool { state.withLock { $0.timedOut } }

        func status() async -> Int32 {
            await withCheckedContinuation { continuation in
                let done: Int32? = state.withLock { state in
                    if case .exited(let status) = state.phase { return status }
                    state.phase = .waiting(continuation)
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }
}
