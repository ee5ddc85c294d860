#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port that refuses connections and stays this test's for as long as it is held.
///
/// "Start a server, note its port, stop it" leaves a port nobody listens on only until another
/// test (they run in parallel) binds it: a connection meant to be refused then reached some other
/// test's server and got its answer (seen: a 403 from the worker API in a full-suite run). A
/// socket bound to the port but never listening keeps it taken, and a connection to it is refused.
public final class ClosedPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    /// Binds a socket to 127.0.0.1 on a port the system picks.
    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClosedPortError(step: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw ClosedPortError(step: "bind", code: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            close(descriptor)
            throw ClosedPortError(step: "getsockname", code: code)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String = "/hook") -> String { "http://127.0.0.1:\(port)\(path)" }

    deinit { close(descriptor) }
}

public struct ClosedPortError: Error, CustomStringConvertible {
    public let step: String
    public let code: Int32
    public var description: String { "\(step) failed: \(String(cString: strerror(code)))" }
}
