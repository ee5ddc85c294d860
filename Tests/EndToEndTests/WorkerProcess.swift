import Foundation
import WebhookTestSupport

/// The built `clipping-worker serve`, run as a real process on port 0 with its own data directory.
final class WorkerProcess: @unchecked Sendable {
    // @unchecked: used from one test task at a time.
    let process = Process()
    let dataDirectory: String
    let logPath: String
    private(set) var port = 0

    static var binary: String {
        // The test bundle sits in the build's bin directory, next to the executable.
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("clipping-worker")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside.path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/clipping-worker").path
    }

    init(dataDirectory: String, environment: [String: String]) throws {
        self.dataDirectory = dataDirectory
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        logPath = dataDirectory + "/worker-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDirectory]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLIPPING_WORKER_") && !$0.key.hasPrefix("WEBHOOK_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
    }

    /// Starts it and waits until it listens.
    func start() async throws {
        try process.run()
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(20) {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening") && $0.contains("http.port=") }),
                let range = line.range(of: "http.port=")
            {
                port = Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
                return
            }
            // CLIPPING_WORKER_LOG_FORMAT=json
            if let line = text.split(separator: "\n").first(where: { $0.contains(#""message":"listening""#) }),
                let fields = try? JSONDecoder().decode([String: String].self, from: Data(line.utf8)),
                let number = fields["http.port"].flatMap(Int.init)
            {
                port = number
                return
            }
            if !process.isRunning { throw WorkerProcessError(message: "serve exited early:\n\(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw WorkerProcessError(message: "serve did not start listening")
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// A test that fails before stopping its worker must not leave the process behind.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// SIGKILL: no chance to clean up.
    func killHard() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then the exit status.
    func terminate() async throws -> Int32 {
        process.terminate()
        let began = ContinuousClock.now
        while process.isRunning {
            if ContinuousClock.now - began > .seconds(20) {
                killHard()
                throw WorkerProcessError(message: "serve did not stop within 20 s of SIGTERM")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

struct WorkerProcessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
