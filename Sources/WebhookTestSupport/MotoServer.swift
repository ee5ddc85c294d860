import Foundation

/// A real S3-compatible server on loopback: moto's `moto.server` (PyPI `moto[server]`),
/// started on a free port for one test and stopped afterwards.
public final class MotoServer: @unchecked Sendable {
    // @unchecked: the process handle is only touched by the test that owns the server.
    private let process = Process()
    /// `http://127.0.0.1:<port>`.
    public let endpoint: String

    private init(port: Int) {
        endpoint = "http://127.0.0.1:\(port)"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
    }

    /// Starts moto and waits until it answers.
    public static func start() async throws -> MotoServer {
        let finder = try await TestProgram.run(
            "/usr/bin/env", ["python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        guard let port = Int(finder.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw RecorderTimeout(expected: 1, got: 0)
        }
        let server = MotoServer(port: port)
        try server.process.run()
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(20) {
            if server.answers() { return server }
            if !server.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw RecorderTimeout(expected: 1, got: 0)
    }

    private func answers() -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.split(separator: ":").last.flatMap { Int($0) } ?? 0)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL after 2 s (moto's server does not always exit on SIGTERM).
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
