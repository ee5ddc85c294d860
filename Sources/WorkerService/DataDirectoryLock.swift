#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<data dir>/clipping-worker.lock`, held for the life of `serve`
/// (SPEC section 6, "One owner"): the embedded store assumes one process owns the data
/// directory — its job claims, sequences and delivery log — so a second `serve` on the same
/// directory must stop at start instead of delivering the same events twice.
///
/// The kernel releases a `flock` when its process dies, `kill -9` included, so a crash never
/// leaves a stale lock behind (unlike a PID file).
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    /// The lock file.
    let path: String

    /// Takes the lock or fails at once.
    /// - Throws: ``ConfigurationError`` naming `CLIPPING_WORKER_DATA_DIR` when another process holds it.
    init(directory: String) throws(ConfigurationError) {
        path = directory + "/clipping-worker.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConfigurationError(
                "CLIPPING_WORKER_DATA_DIR", "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw ConfigurationError(
                    "CLIPPING_WORKER_DATA_DIR",
                    "\(directory) is in use by another clipping-worker serve (it holds \(path)); one process per data directory")
            }
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}
