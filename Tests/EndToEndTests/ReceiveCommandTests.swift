import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookSigning
import WebhookTestSupport

/// `clipping-worker receive` as a process (SPEC section 2): POSTs on any path, signatures checked
/// before a `webhook-id` counts as seen.
@Suite(.timeLimit(.minutes(1)))
struct ReceiveCommandTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// A running `receive` whose stdout lines are recorded as they come.
    final class Receiver: @unchecked Sendable {
        // @unchecked: `process` is touched by the owning test task only; `lines` is Sendable.
        let process = Process()
        let lines = AsyncRecorder<String>()
        private(set) var port = 0

        init(arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: WorkerProcess.binary)
            process.arguments = ["receive", "--port", "0"] + arguments
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WEBHOOK_") }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            let pending = LineBuffer()
            let lines = lines
            output.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    return
                }
                for line in pending.append(data) { lines.record(line) }
            }
            try process.run()
        }

        /// Waits for the "receiving webhooks on http://127.0.0.1:PORT/" line.
        func waitUntilListening() async throws {
            let first = try await lines.wait(count: 1, timeout: .seconds(20))[0]
            guard let range = first.range(of: "http://127.0.0.1:") else {
                throw WorkerProcessError(message: "unexpected first line: \(first)")
            }
            port = Int(first[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }

        /// The line printed for the n-th request (1-based; the first line is the banner).
        func line(forRequest number: Int) async throws -> String {
            try await lines.wait(count: number + 1)[number]
        }

        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    /// Splits a byte stream into lines. Used from the pipe's reader thread only.
    final class LineBuffer: @unchecked Sendable {
        // @unchecked: the pipe's readability handler calls it serially.
        private var bytes: [UInt8] = []

        func append(_ data: Data) -> [String] {
            bytes.append(contentsOf: data)
            var lines = [String]()
            while let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: bytes[..<newline], as: UTF8.self))
                bytes.removeSubrange(...newline)
            }
            return lines
        }
    }

    func payload(_ sequence: Int) -> [UInt8] {
        Array(#"{"event":"job.progress","sequence":\#(sequence),"job_id":"job_r","status":"processing"}"#.utf8)
    }

    /// POSTs a webhook; `forged` signs it with a secret the receiver does not know.
    func deliver(to url: String, id: String, body: [UInt8], forged: Bool = false) async throws -> Int {
        let key = forged ? WebhookSecret.generate().text : Self.secret
        let signer = WebhookSigner(secrets: [try WebhookSecret(key)], legacySignature: false)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let headers = [
            "Content-Type: application/json", "webhook-id: \(id)", "webhook-timestamp: \(timestamp)",
            "webhook-signature: \(signer.signature(id: id, timestamp: timestamp, body: body))", "X-Webhook-Attempt: 1",
        ]
        return try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request("POST", url: url, headers: headers, body: body).status
        }
    }

    @Test func acceptsPostsOnEveryPathIncludingTheRoot() async throws {
        let receiver = try Receiver(arguments: ["--secret", Self.secret])
        try await receiver.waitUntilListening()
        let base = "http://127.0.0.1:\(receiver.port)"
        #expect(try await deliver(to: base + "/", id: "evt_root", body: payload(1)) == 204)
        #expect(try await receiver.line(forRequest: 1).contains("signature valid"))
        #expect(try await deliver(to: base, id: "evt_bare", body: payload(2)) == 204)
        #expect(try await receiver.line(forRequest: 2).contains("evt_bare"))
        #expect(try await deliver(to: base + "/x/y", id: "evt_deep", body: payload(3)) == 204)
        let deep = try await receiver.line(forRequest: 3)
        #expect(deep.contains("job.progress #3") && deep.contains("signature valid") && deep.contains("evt_deep"))
    }

    @Test func aForgedRequestDoesNotMakeTheRealOneADuplicate() async throws {
        let receiver = try Receiver(arguments: ["--secret", Self.secret])
        try await receiver.waitUntilListening()
        let url = "http://127.0.0.1:\(receiver.port)/hooks/clips"
        // Someone without the secret guesses the next id first.
        #expect(try await deliver(to: url, id: "evt_next", body: payload(4), forged: true) == 400)
        let forged = try await receiver.line(forRequest: 1)
        #expect(forged.contains("SIGNATURE INVALID") && !forged.contains("duplicate"))
        // The real delivery is new, not a duplicate.
        #expect(try await deliver(to: url, id: "evt_next", body: payload(4)) == 204)
        let real = try await receiver.line(forRequest: 2)
        #expect(real.contains("signature valid") && !real.contains("duplicate"), "\(real)")
        // A retry of it is.
        #expect(try await deliver(to: url, id: "evt_next", body: payload(4)) == 204)
        #expect(try await receiver.line(forRequest: 3).contains("(duplicate webhook-id)"))
    }
}
