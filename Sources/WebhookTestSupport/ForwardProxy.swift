import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP forward proxy on 127.0.0.1 for the egress-proxy tests: absolute-form requests
/// (`POST http://host:port/path`) are forwarded, one upstream connection each, and `CONNECT
/// host:port` opens a tunnel (HTTPS through the proxy). It records what it forwarded, and
/// forwards only to loopback: test traffic stays on this machine.
///
/// Blocking sockets, a thread per client connection: a test helper, not a server.
public final class ForwardProxy: Sendable {
    /// What went through: `"CONNECT 127.0.0.1:443"` or `"POST http://127.0.0.1:8080/hook"`.
    public var forwarded: [String] { log.withLock { $0 } }
    public let port: Int
    /// `http://127.0.0.1:<port>`: the value of `WEBHOOK_PROXY`.
    public var url: String { "http://127.0.0.1:\(port)" }

    private let listener: Int32
    private let log = Mutex<[String]>([])
    private let stopped = Mutex(false)

    /// Starts listening on an ephemeral loopback port.
    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ForwardProxyError(message: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw ForwardProxyError(message: "bind/listen: \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting (connections in progress end with their peers).
    public func stop() {
        stopped.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8]()
        while let head = Self.readHead(client, buffer: &buffer) {
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            let requestLine = lines.first.map(String.init) ?? ""
            let parts = requestLine.split(separator: " ")
            guard parts.count == 3 else { return }
            let method = String(parts[0])
            let target = String(parts[1])
            if method == "CONNECT" {
                log.withLock { $0.append("CONNECT \(target)") }
                guard let upstream = Self.connectLoopback(target) else {
                    Self.send(client, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".utf8))
                    return
                }
                defer { close(upstream) }
                Self.send(client, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
                if !buffer.isEmpty { Self.send(upstream, buffer) }
                Self.relay(client, upstream)
                return
            }
            guard let components = URLComponents(string: target), let host = components.host, components.scheme == "http" else {
                Self.send(client, Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))
                return
            }
            let headers = lines.dropFirst().filter { !$0.isEmpty }.map(String.init)
            let length = headers.first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            while buffer.count < length {
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let count = read(client, &chunk, chunk.count)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let body = Array(buffer.prefix(length))
            buffer.removeFirst(length)
            log.withLock { $0.append("\(method) \(target)") }
            let port = components.port ?? 80
            guard let upstream = Self.connectLoopback("\(host):\(port)") else {
                Self.send(client, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".utf8))
                return
            }
            var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            if let query = components.percentEncodedQuery { path += "?" + query }
            var forwarded = "\(method) \(path) HTTP/1.1\r\n"
            for header in headers {
                let name = header.split(separator: ":").first.map { $0.lowercased() } ?? ""
                if name == "connection" || name.hasPrefix("proxy-") || name == "keep-alive" { continue }
                forwarded += header + "\r\n"
            }
            forwarded += "Connection: close\r\n\r\n"
            Self.send(upstream, Array(forwarded.utf8) + body)
            // The answer ends when the upstream closes (we asked it to).
            var response = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(upstream, &chunk, chunk.count)
                if count <= 0 { break }
                response.append(contentsOf: chunk[0..<count])
            }
            close(upstream)
            // Hand it on, keeping the client's connection: say how long the body is.
            guard let end = Self.headEnd(response) else { return }
            let responseHead = String(decoding: response[..<end], as: UTF8.self)
            let responseBody = response[(end + 4)...]
            var rewritten = responseHead.split(separator: "\r\n").filter {
                let name = $0.split(separator: ":").first.map { $0.lowercased() } ?? ""
                return name != "connection" && name != "content-length" && name != "transfer-encoding"
            }.joined(separator: "\r\n")
            rewritten += "\r\nContent-Length: \(responseBody.count)\r\n\r\n"
            Self.send(client, Array(rewritten.utf8) + Array(responseBody))
        }
    }

    /// Reads up to the end of a request head; what came after it stays in `buffer`.
    private static func readHead(_ descriptor: Int32, buffer: inout [UInt8]) -> String? {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while headEnd(buffer) == nil {
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 || buffer.count > 65_536 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
        let end = headEnd(buffer)!
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        return head
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// Connects to `host:port` when the host is a loopback name or address (127.x, localhost).
    private static func connectLoopback(_ target: String) -> Int32? {
        let parts = target.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        guard host.hasPrefix("127.") else { return nil }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    private static func send(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written <= 0 {
                if written < 0 && errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    /// Copies bytes both ways until either side closes.
    private static func relay(_ a: Int32, _ b: Int32) {
        var descriptors = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let ready = poll(&descriptors, 2, 30_000)
            if ready <= 0 { return }
            for (index, entry) in descriptors.enumerated() where entry.revents != 0 {
                let count = read(entry.fd, &chunk, chunk.count)
                if count <= 0 { return }
                send(index == 0 ? b : a, Array(chunk[0..<count]))
            }
        }
    }
}

public struct ForwardProxyError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
