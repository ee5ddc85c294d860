public import Glibc
import Foundation

/// One process to start with `posix_spawn`: its program, arguments and three descriptors.
///
/// Not Foundation's `Process`: its `run()` was seen to crash (a `memcpy` from a bad pointer) when
/// several processes start at once, which a worker running two jobs does all the time. The child
/// gets exactly stdin, stdout and stderr: every other descriptor is closed in it
/// (`posix_spawn_file_actions_addclosefrom_np`), so no socket, database file or pipe end leaks
/// into ffmpeg or a helper (a leaked pipe write end would keep a consumer from seeing its input end).
public struct SpawnPlan: Sendable {
    public let executable: String
    public let arguments: [String]
    /// nil: `/dev/null`.
    public let stdin: Int32?
    public let stdout: Int32
    public let stderr: Int32

    public init(executable: String, arguments: [String], stdin: Int32?, stdout: Int32, stderr: Int32) {
        self.executable = executable
        self.arguments = arguments
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Starts the process; returns its pid.
    /// - Throws: ``SpawnError`` with `strerror` of posix_spawn's result.
    public func spawn() throws -> pid_t {
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
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Self.freshSignals(&attributes)
        // A group of its own (pgid = pid): a stop reaches what it starts too (a wrapper script's
        // python, a shell's background job), through ``signal(_:_:)``.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(reason: String(cString: strerror(result))) }
        return pid
    }

    /// The child starts with no signal blocked and the usual ones at their default action.
    ///
    /// A child inherits its spawner's signal mask, and the threads that spawn here (the
    /// cooperative pool's, libdispatch's) block nearly every signal: without this, ffmpeg would
    /// ignore the SIGTERM that stops it (only the SIGKILL a second later would), and a write to a
    /// closed pipe would not end it.
    private static func freshSignals(_ attributes: inout posix_spawnattr_t) {
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
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

    /// Sends `signal` to the process group `spawn()` made for `pid`: the process and everything
    /// it started that did not leave the group.
    ///
    /// Safe after the process was reaped: its number stays reserved while any member of its group
    /// lives, and with none left the call finds no group (ESRCH) and does nothing.
    public static func signal(_ pid: pid_t, _ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// Calls `exited` with the process's status (its exit code, or 128 + the signal that ended
    /// it) from a thread of its own that waits for it.
    public static func wait(for pid: pid_t, exited: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread {
            var status: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
            // Not ours to wait for (reaped elsewhere): no status to report.
            guard reaped == pid else { return exited(-1) }
            let signal = status & 0x7f
            exited(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
        thread.start()
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

