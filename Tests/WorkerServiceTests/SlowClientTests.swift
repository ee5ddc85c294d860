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
    /// Runs a blocking socket call on a thread of its own: the cooperative pool has one thread
    /// a core, and a test blocked in `poll` there starves the server it is waiting for.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }

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

    /// Sends one request on a raw connection and reads its whole answer (head and
    /// `Content-Length` body, which may arrive in several segments): once it answered, the server
    /// has admitted the connection.
    static func answered(_ fd: Int32) -> Bool {
        let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var received = [UInt8]()
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { return false }
            if poller.revents == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            received += buffer.prefix(count)
            let text = String(decoding: received, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let length = text[..<headEnd.lowerBound].split(separator: "\r\n")
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text[..<headEnd.upperBound].utf8.count >= length {
                return text.hasPrefix("HTTP/1.1 200")
            }
        }
        return false
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
            #expect(await Self.blocking { Self.closedByServer(fd, within: 5) })
        }
    }

    /// Reads what the server sends until it closes (or `seconds` pass).
    static func readUntilClosed(_ fd: Int32, within seconds: Double) -> String {
        var received = [UInt8]()
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { break }
            if poller.revents == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer.prefix(count)
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// A client that sends a head and then drips its body (busy enough for the idle timeout)
    /// gets a 408 and a closed connection once the read limit passes; a connection that sends
    /// nothing between requests is governed by the idle timeout, not by the read limit.
    @Test func aRequestReadTooSlowlyGets408() async throws {
        try await WorkerHarness.run(configure: {
            $0.apiRequestReadTimeout = .milliseconds(1500)
            $0.apiIdleTimeout = .seconds(30)
        }) { h in
            let port = Int(h.base.split(separator: ":").last!)!
            let fd = try Self.connect(port)
            defer { close(fd) }
            let head = Array("POST /ai-clipping/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{".utf8)
            #expect(send(fd, head, head.count, 0) == head.count)
            // One byte every 100 ms: the idle timeout (30 s) never fires; the read limit does.
            let answer = await Self.blocking {
                for _ in 0..<80 {
                    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&poller, 1, 100) > 0 { return Self.readUntilClosed(fd, within: 2) }
                    _ = send(fd, " ", 1, Int32(MSG_NOSIGNAL))
                }
                return ""
            }
            #expect(answer.hasPrefix("HTTP/1.1 408"))

            // A keep-alive connection idle between requests for longer than the read limit stays.
            let idle = try Self.connect(port)
            defer { close(idle) }
            #expect(await Self.blocking { Self.answered(idle) })
            #expect(await Self.blocking { !Self.closedByServer(idle, within: 2.5) })
            #expect(await Self.blocking { Self.answered(idle) })
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
                #expect(await Self.blocking { Self.answered(fd) })
                held.append(fd)
            }
            // The fourth connection is closed at once…
            let refused = try Self.connect(port)
            #expect(await Self.blocking { Self.closedByServer(refused, within: 5) })
            close(refused)
            // …while the connection already open keeps being served.
            #expect(try await h.call("GET", "/healthz").status == 200)
            // One closes: a new one is admitted.
            close(held[0])
            try await Task.sleep(for: .milliseconds(200))
            let admitted = try Self.connect(port)
            #expect(await Self.blocking { !Self.closedByServer(admitted, within: 0.5) })
            close(admitted)
            close(held[1])
        }
    }
}
