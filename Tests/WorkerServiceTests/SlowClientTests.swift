#if canImport(Glibc)
import Glibc
#endif
import CurlTransport
import Foundation
import Testing
import WorkerService

/// The API under slow clients (SPEC section 4): idle connections are closed, and beyond the
/// connection cap a new connection is closed at once while the API keeps answering the others.
@Suite(.timeLimit(.minutes(1)))
struct SlowClientTests {
    /// A raw TCP connection to 127.0.0.1:`port` that sends nothing.
    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
        return fd
    }

    /// Sends one request on a raw connection and reads the start of its answer: once it
    /// answered, the server has admitted the connection.
    static func answered(_ fd: Int32) -> Bool {
        let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return false }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 && String(decoding: buffer.prefix(count), as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    /// True when the server closed the connection within `seconds` (a read returns 0 or fails).
    static func closedByServer(_ fd: Int32, within seconds: Double) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) <= 0
    }

    @Test func idleConnectionsAreClosed() async throws {
        try await WorkerHarness.run(configure: { $0.apiIdleTimeout = .milliseconds(500) }) { h in
            let port = Int(h.base.split(separator: ":").last!)!
            let fd = try Self.connect(port)
            defer { close(fd) }
            #expect(Self.closedByServer(fd, within: 5))
        }
    }

    @Test func beyondTheCapNewConnectionsAreClosedAtOnce() async throws {
        try await WorkerHarness.run(configure: { $0.apiMaxConnections = 3 }) { h in
            let port = Int(h.base.split(separator: ":").last!)!
            // The harness's client holds one keep-alive connection once it has made a request.
            #expect(try await h.call("GET", "/healthz").status == 200)
            // Two more, each admitted (answered) before the next: the cap of three is reached.
            var held = [Int32]()
            for _ in 0..<2 {
                let fd = try Self.connect(port)
                #expect(Self.answered(fd))
                held.append(fd)
            }
            // The fourth connection is closed at once…
            let refused = try Self.connect(port)
            #expect(Self.closedByServer(refused, within: 5))
            close(refused)
            // …while the connection already open keeps being served.
            #expect(try await h.call("GET", "/healthz").status == 200)
            // One closes: a new one is admitted.
            close(held[0])
            try await Task.sleep(for: .milliseconds(200))
            let admitted = try Self.connect(port)
            #expect(!Self.closedByServer(admitted, within: 0.5))
            close(admitted)
            close(held[1])
        }
    }
}
