@testable import FFmpegEngine
import Foundation
import Synchronization
import Testing
import WorkerCore
import WorkerPipeline

/// `Subprocess` never waits without a bound: not on a process past its limit, and not on a pipe
/// whose write end something other than the process still holds. Real processes throughout.
@Suite(.timeLimit(.minutes(2)))
struct SubprocessTests {
    /// A shell that leaves a grandchild (`sleep`) holding its stdout and exits: the pipe never
    /// reaches its end while the grandchild lives. The run still returns, with every line the
    /// shell printed, once the grace period after its exit has passed.
    @Test func aGrandchildHoldingTheOutputDoesNotHoldTheRun() async throws {
        let lines = Mutex<[String]>([])
        let began = ContinuousClock.now
        let output = try await Subprocess.run(
            "/bin/sh", ["-c", "sleep 300 & echo $!; echo done"], timeLimit: .seconds(60),
            onLine: { line in lines.withLock { $0.append(String(line)) } })
        let elapsed = ContinuousClock.now - began
        let printed = lines.withLock { $0 }
        // The grandchild is ours to stop.
        if let pid = printed.first.flatMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        #expect(output.status == 0)
        #expect(printed.count == 2 && printed.last == "done", "lines: \(printed)")
        #expect(String(decoding: output.stdout, as: UTF8.self).hasSuffix("done\n"))
        // Bounded by the grace period (2 s), not by the grandchild's 300 s; the bound is wide
        // enough for a loaded machine and far below the sleep.
        #expect(elapsed < .seconds(60), "took \(elapsed)")
    }

    /// The same for a pipeline's streamed output.
    @Test func aPipelineWhoseConsumerLeavesAGrandchildStillReturns() async throws {
        let lines = Mutex<[String]>([])
        let result = try await Subprocess.pipeline(
            .init(executable: "/bin/echo", arguments: ["hello"]),
            into: .init(executable: "/bin/sh", arguments: ["-c", "sleep 300 & echo $!; cat"]), timeLimit: .seconds(60),
            onLine: { line in lines.withLock { $0.append(String(line)) } })
        let printed = lines.withLock { $0 }
        if let pid = printed.first.flatMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        #expect(result.producer.status == 0 && result.consumer.status == 0)
        #expect(printed.last == "hello", "lines: \(printed)")
    }

    /// A streamed run past its limit is stopped and throws `timeout`; its reader ends too.
    @Test func aStreamedRunPastItsLimitIsStopped() async throws {
        let lines = Mutex<[String]>([])
        do {
            _ = try await Subprocess.run(
                "/bin/sh", ["-c", "echo started; exec sleep 300"], timeLimit: .milliseconds(500),
                onLine: { line in lines.withLock { $0.append(String(line)) } })
            Issue.record("no time limit")
        } catch let error as PipelineError {
            #expect(error.code == .timeout)
        }
        #expect(lines.withLock { $0 } == ["started"])
    }

    /// Both ends of the pipes it makes are close-on-exec: a process started elsewhere in this
    /// program at the same moment cannot inherit them (Foundation's `Pipe` does not set the flag).
    @Test func itsPipesAreCloseOnExec() throws {
        let pipe = try PipeEnds()
        #expect(fcntl(pipe.readEnd, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.writeEnd, F_GETFD) & FD_CLOEXEC != 0)
        let foundation = Pipe()
        // What the test guards against: were Foundation's pipe close-on-exec, this test would
        // no longer say why PipeEnds exists.
        #expect(fcntl(foundation.fileHandleForWriting.fileDescriptor, F_GETFD) & FD_CLOEXEC == 0)
    }

    /// A pipe end a process gets is usable in it, flag or not (`dup2` clears it on the copy).
    @Test func aChildStillReadsItsInputThroughTheFlaggedPipe() async throws {
        let result = try await Subprocess.pipeline(
            .init(executable: "/usr/bin/seq", arguments: ["1", "5"]),
            into: .init(executable: "/usr/bin/wc", arguments: ["-l"]), timeLimit: .seconds(30))
        #expect(String(decoding: result.consumer.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "5")
    }
}

extension SubprocessTests {
    /// A child starts with no signal blocked and SIGTERM at its default action, whatever the
    /// spawning thread blocks (the cooperative pool's threads block nearly all): so a stop's
    /// SIGTERM ends it, and an operator's `kill` works on a worker's ffmpeg.
    @Test func aChildStartsWithNoSignalBlocked() async throws {
        let output = try await Subprocess.run("/bin/grep", ["-E", "^Sig(Blk|Ign)", "/proc/self/status"], timeLimit: .seconds(30))
        let fields = Dictionary(
            uniqueKeysWithValues: String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").compactMap { line in
                let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                return parts.count == 2 ? (parts[0], UInt64(parts[1], radix: 16) ?? .max) : nil
            })
        #expect(fields["SigBlk"] == 0, "\(fields)")
        let term: UInt64 = 1 << (UInt64(SIGTERM) - 1)
        let pipe: UInt64 = 1 << (UInt64(SIGPIPE) - 1)
        #expect((fields["SigIgn"] ?? .max) & (term | pipe) == 0, "\(fields)")
    }
}

extension SubprocessTests {
    /// Whether `pid` is gone or a zombie (an orphan here may wait for a reaper that never comes).
    static func isDead(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let state = stat.split(separator: ")").last?.split(separator: " ").first
        else { return true }
        return state == "Z" || state == "X"
    }

    /// Ends the process group of `pid` (a shell's background loop runs in the shell's group).
    static func killGroup(of pid: pid_t) {
        let group = getpgid(pid)
        if group > 0 { kill(-group, SIGKILL) } else { kill(pid, SIGKILL) }
    }

    /// A stop reaches what the program started: the time limit of a wrapper script ends the
    /// script's background job too (its process group), not only the script.
    @Test func aStopEndsWhatTheProgramStarted() async throws {
        let lines = Mutex<[String]>([])
        await #expect(throws: PipelineError.self) {
            _ = try await Subprocess.run(
                "/bin/sh", ["-c", "sleep 300 & echo $!; wait"], timeLimit: .milliseconds(500),
                onLine: { line in lines.withLock { $0.append(String(line)) } })
        }
        let pid = try #require(lines.withLock { $0.first }.flatMap { pid_t($0) })
        let began = ContinuousClock.now
        while !Self.isDead(pid), ContinuousClock.now - began < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
        let dead = Self.isDead(pid)
        if !dead { kill(pid, SIGKILL) }
        #expect(dead, "the background sleep outlived the stop")
    }

    /// The grace period after the exit is one period, not one per chunk: a process left behind
    /// that keeps printing does not keep the run.
    @Test func aChattyGrandchildDoesNotHoldTheRun() async throws {
        let lines = Mutex<[String]>([])
        let began = ContinuousClock.now
        _ = try await Subprocess.run(
            "/bin/sh", ["-c", "(while true; do echo tick; sleep 0.3; done) & echo $!"], timeLimit: .seconds(60),
            onLine: { line in lines.withLock { $0.append(String(line)) } })
        let elapsed = ContinuousClock.now - began
        if let pid = lines.withLock({ $0.first }).flatMap({ pid_t($0) }) { Self.killGroup(of: pid) }
        #expect(elapsed < .seconds(30), "took \(elapsed)")
    }
}
