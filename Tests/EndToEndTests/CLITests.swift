import DeliveryLog
import Foundation
import Synchronization
import Testing
import WebhookTestSupport
import WebhookCore

/// The `clipping-worker` binary: exit codes and the commands that need no server.
@Suite(.timeLimit(.minutes(1)))
struct CLITests {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs the built binary to its end (through `TestProgram`: no pool thread blocked meanwhile).
    func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) async throws -> Run {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLIPPING_WORKER_") && !$0.key.hasPrefix("WEBHOOK_") }
        env.merge(environment) { _, new in new }
        let result = try await TestProgram.run(WorkerProcess.binary, arguments, input: input, environment: env)
        return Run(status: result.status, output: result.output, error: result.error)
    }

    @Test func verifyExitsZeroWhenValidAndOneWhenNot() async throws {
        let args = ["verify", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--id", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                    "--timestamp", "1614265330", "--signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="]
        let valid = try await run(args, input: #"{"test": 2432232314}"#)
        #expect(valid.status == 0 && valid.output == "valid\n")
        let tampered = try await run(args, input: #"{"test": 2432232315}"#)
        #expect(tampered.status == 1 && tampered.output.hasPrefix("invalid"))
        let badSecret = try await run(["verify", "--secret", "nope", "--id", "x", "--timestamp", "1", "--signature", "v1,x"], input: "")
        #expect(badSecret.status == 64)
    }

    @Test func usageErrorsExit64() async throws {
        #expect(try await run(["serve", "--no-such-flag"]).status == 64)
        #expect(try await run(["frobnicate"]).status == 64)
        #expect(try await run(["submit"]).status == 64)
        let help = try await run(["--help"])
        #expect(help.status == 0 && help.output.contains("deliveries"))
        for command in [["serve"], ["submit"], ["jobs", "show"], ["deliveries", "tail"], ["deliveries", "list"],
                        ["deliveries", "redeliver"], ["receive"], ["verify"]] {
            #expect(try await run(command + ["--help"]).status == 0, "\(command)")
        }
    }

    @Test func badConfigurationExitsOneWithOneLine() async throws {
        let data = NSTemporaryDirectory() + "cli-\(UUID().uuidString)"
        let port = try await run(["serve", "--port", "http", "--data-dir", data])
        #expect(port.status == 1)
        #expect(port.error == "clipping-worker: bad configuration: CLIPPING_WORKER_PORT (--port): must be an integer from 0 to 65535, got \"http\"\n")
        let exposed = try await run(["serve", "--data-dir", data], environment: ["CLIPPING_WORKER_HOST": "0.0.0.0"])
        #expect(exposed.status == 1 && exposed.error.contains("CLIPPING_WORKER_API_TOKEN"))
        // Flags win over the environment.
        let flagWins = try await run(["serve", "--max-concurrent-jobs", "99", "--data-dir", data], environment: ["CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "2"])
        #expect(flagWins.status == 1 && flagWins.error.contains("got \"99\""))
    }

    /// `serve`'s flags and help come from the settings table, which `--print-settings-markdown` prints.
    @Test func serveHelpListsEverySettingOfTheTable() async throws {
        let table = try await run(["serve", "--print-settings-markdown"])
        #expect(table.status == 0)
        let rows = table.output.split(separator: "\n").dropFirst(2).map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        #expect(rows.count >= 25)
        let help = try await run(["serve", "--help"])
        #expect(help.status == 0)
        for row in rows {
            let variable = row[0].trimmingCharacters(in: ["`"])
            let flag = row[1].trimmingCharacters(in: ["`"])
            // SPEC section 3: the variable without CLIPPING_WORKER_, lower-case, _ → -.
            let derived = "--" + variable.replacingOccurrences(of: "CLIPPING_WORKER_", with: "").lowercased()
                .replacingOccurrences(of: "_", with: "-")
            #expect(flag == derived)
            #expect(help.output.contains("  \(flag) <value>\n") && help.output.contains("env \(variable), default"), "\(variable)")
        }
    }

    @Test func serveFlagsTakeBothSpellingsAndRefuseUnknownOnes() async throws {
        let data = NSTemporaryDirectory() + "cli-\(UUID().uuidString)"
        let joined = try await run(["serve", "--port=http", "--data-dir=\(data)"])
        #expect(joined.status == 1)
        #expect(joined.error == "clipping-worker: bad configuration: CLIPPING_WORKER_PORT (--port): must be an integer from 0 to 65535, got \"http\"\n")
        #expect(try await run(["serve", "--port"]).status == 64)
        #expect(try await run(["serve", "--no-such-flag=1"]).status == 64)
        #expect(try await run(["serve", "--port", "0", "stray"]).status == 64)
        #expect(try await run(["serve", "--CLIPPING_WORKER_PORT", "0"]).status == 64)
    }

    /// Each bad value, given by flag over a good environment value, stops `serve` with exit 1 and
    /// one line naming the variable.
    @Test(arguments: [
        ("--port", "CLIPPING_WORKER_PORT", "8081", "70000"),
        ("--api-token", "CLIPPING_WORKER_API_TOKEN", "0123456789abcdef", "short"),
        ("--webhook-secret", "WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not-a-secret"),
        ("--webhook-legacy-signature", "WEBHOOK_LEGACY_SIGNATURE", "true", "maybe"),
        ("--webhook-timeout-seconds", "WEBHOOK_TIMEOUT_SECONDS", "3", "0"),
        ("--webhook-retry-schedule", "WEBHOOK_RETRY_SCHEDULE", "1s", "5x"),
        ("--webhook-max-age-hours", "WEBHOOK_MAX_AGE_HOURS", "1", "-1"),
        ("--allowed-networks", "CLIPPING_WORKER_ALLOWED_NETWORKS", "10.0.0.0/8", "banana"),
        ("--engine", "CLIPPING_WORKER_ENGINE", "simulated", "gpu"),
        ("--public-url", "CLIPPING_WORKER_PUBLIC_URL", "http://x", "ftp://x"),
        ("--max-concurrent-jobs", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS", "2", "65"),
        ("--webhook-proxy", "WEBHOOK_PROXY", "http://127.0.0.1:3128", "https://127.0.0.1:3128"),
        ("--webhook-proxy", "WEBHOOK_PROXY", "http://127.0.0.1:3128", "http://user:pw@127.0.0.1:3128"),
        ("--webhook-ca-file", "WEBHOOK_CA_FILE", "/etc/ssl/certs/ca-certificates.crt", "/nonexistent/ca.pem"),
        ("--webhook-ca-file", "WEBHOOK_CA_FILE", "/etc/ssl/certs/ca-certificates.crt", "/etc/hostname"),
    ])
    func badFlagValueExitsOneWithOneLineNamingTheVariable(flag: String, variable: String, good: String, bad: String) async throws {
        let data = NSTemporaryDirectory() + "cli-\(UUID().uuidString)"
        let result = try await run(["serve", "--data-dir", data, flag, bad], environment: [variable: good])
        #expect(result.status == 1)
        #expect(result.error.hasPrefix("clipping-worker: bad configuration: \(variable) (\(flag)): "), "\(result.error)")
        #expect(result.error.hasSuffix("\n") && result.error.dropLast().split(separator: "\n").count == 1, "\(result.error)")
        if variable.contains("TOKEN") || variable.contains("SECRET") { #expect(!result.error.contains(bad)) }
    }

    /// The TLS and proxy settings that only make sense together, or only with an allowed address.
    @Test func callbackNetworkSettingsAreCheckedTogetherAtStart() async throws {
        let data = NSTemporaryDirectory() + "cli-\(UUID().uuidString)"
        let certificates = try TestCertificates.make()
        func line(_ environment: [String: String]) async throws -> String {
            let result = try await run(["serve", "--data-dir", data, "--port", "0"], environment: environment)
            #expect(result.status == 1)
            #expect(result.error.dropLast().split(separator: "\n").count == 1, "\(result.error)")
            return result.error
        }
        #expect(try await line(["WEBHOOK_CLIENT_CERT": certificates.client.certificate]).contains("WEBHOOK_CLIENT_KEY (--webhook-client-key): is required"))
        #expect(try await line(["WEBHOOK_CLIENT_KEY": certificates.client.key]).contains("WEBHOOK_CLIENT_CERT (--webhook-client-cert): is required"))
        // A key where the certificate belongs, and the reverse.
        #expect(try await line(["WEBHOOK_CLIENT_CERT": certificates.client.key, "WEBHOOK_CLIENT_KEY": certificates.client.key]).contains("holds no PEM certificate"))
        #expect(try await line(["WEBHOOK_CLIENT_CERT": certificates.client.certificate, "WEBHOOK_CLIENT_KEY": certificates.client.certificate]).contains("holds no PEM private key"))
        // The proxy's own address must be allowed.
        #expect(try await line(["WEBHOOK_PROXY": "http://10.1.2.3:3128"]).contains("WEBHOOK_PROXY (--webhook-proxy): the proxy's address is not allowed"))
    }

    @Test func clientCommandsReportAnUnreachableServer() async throws {
        let result = try await run(["jobs", "show", "job_x", "--server", "http://127.0.0.1:9"])
        #expect(result.status == 1 && result.error.contains("cannot reach http://127.0.0.1:9"))
    }

    func line(_ index: Int, job: String, outcome: AttemptOutcome) -> DeliveryRecord {
        DeliveryRecord(
            time: Timestamp(milliseconds: 1_736_937_060_000 + Int64(index)), eventID: EventID(high: 1, low: UInt64(index)),
            jobID: job, kind: .progress, sequence: Int64(index), attempt: 1, url: "https://h.example.com/x?token=t",
            statusCode: outcome == .delivered ? 204 : 503, outcome: outcome, durationMs: 3,
            error: outcome == .delivered ? nil : "HTTP 503", nextAttemptAt: nil)
    }

    @Test func tailFiltersAndLimits() async throws {
        let data = NSTemporaryDirectory() + "tail-\(UUID().uuidString)"
        let writer = try DeliveryLogWriter(directory: data + "/logs")
        for index in 1...6 { writer.record(line(index, job: index % 2 == 0 ? "job_a" : "job_b", outcome: index == 5 ? .retrying : .delivered)) }
        writer.close()
        let all = try await run(["deliveries", "tail", "--data-dir", data])
        #expect(all.status == 0 && all.output.split(separator: "\n").count == 6)
        #expect(!all.output.contains("\u{1B}["))  // no colour when not a terminal
        let jobA = try await run(["deliveries", "tail", "--data-dir", data, "--job", "job_a", "-n", "2", "--json"])
        let lines = jobA.output.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try lines.map { try JSONDecoder().decode(DeliveryLogLine.self, from: Data($0.utf8)).sequence } == [4, 6])
        let retrying = try await run(["deliveries", "tail", "--data-dir", data, "--outcome", "retrying"])
        #expect(retrying.output.contains("#5") && retrying.output.split(separator: "\n").count == 1)
        #expect(try await run(["deliveries", "tail", "--data-dir", data, "--outcome", "maybe"]).status == 64)
        #expect(try await run(["deliveries", "tail", "--data-dir", data + "/missing"]).status == 1)
    }

    @Test func tailFollowsAcrossRotation() async throws {
        let data = NSTemporaryDirectory() + "follow-\(UUID().uuidString)"
        let writer = try DeliveryLogWriter(directory: data + "/logs", maxFileBytes: 4096, keepFiles: 20)
        writer.record(line(0, job: "job_f", outcome: .delivered))
        writer.flush()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: WorkerProcess.binary)
        process.arguments = ["deliveries", "tail", "-f", "--json", "--data-dir", data]
        let output = Pipe()
        process.standardOutput = output
        let printed = Mutex([UInt8]())
        output.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            printed.withLock { $0 += chunk }
        }
        func sequences() -> [Int64] {
            let text = printed.withLock { String(decoding: $0, as: UTF8.self) }
            return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(DeliveryLogLine.self, from: Data($0.utf8)).sequence }
        }
        /// Waits (bounded) until the follower has printed through `last`.
        func waitForOutput(through last: Int64) async throws {
            let began = ContinuousClock.now
            while sequences().last != last {
                guard ContinuousClock.now - began < .seconds(15) else { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try process.run()
        // Following has begun once the existing line is printed.
        try await waitForOutput(through: 0)
        // Enough lines to rotate the file several times while it is followed; each batch is
        // seen before the next is written, so the rotations happen under the follower.
        for index in 1...60 {
            writer.record(line(index, job: "job_f", outcome: .delivered))
            if index % 10 == 0 {
                writer.flush()
                try await waitForOutput(through: Int64(index))
            }
        }
        writer.close()
        process.terminate()
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        #expect(FileManager.default.fileExists(atPath: data + "/logs/deliveries.jsonl.2"))
        #expect(sequences() == Array(0...60))
    }
}

extension CLITests {
    /// A torn write (`kill -9` mid-line) leaves bytes that are not UTF-8: `tail` skips that line,
    /// says so on standard error, and prints every other line, across rotated files.
    @Test func tailSkipsUnreadableLinesAndReadsRotatedFiles() async throws {
        let data = NSTemporaryDirectory() + "tail-\(UUID().uuidString)"
        let writer = try DeliveryLogWriter(directory: data + "/logs")
        for index in 1...3 { writer.record(line(index, job: "job_a", outcome: .delivered)) }
        writer.close()
        let path = data + "/logs/deliveries.jsonl"
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        var bytes = Array("{\"ts\":\"2025-01-15T10:31:00.000Z\",\"event_id\":\"e".utf8)
        bytes += [0xFF, 0xFE, 0x0A]
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let more = try DeliveryLogWriter(directory: data + "/logs")
        for index in 4...5 { more.record(line(index, job: "job_a", outcome: .delivered)) }
        more.close()
        let result = try await run(["deliveries", "tail", "--data-dir", data, "--json"])
        #expect(result.status == 0)
        let sequences = result.output.split(separator: "\n").compactMap {
            try? JSONDecoder().decode(DeliveryLogLine.self, from: Data($0.utf8)).sequence
        }
        #expect(sequences == [1, 2, 3, 4, 5])
        #expect(result.error.contains("skipped 1 unreadable line"))
        let lastTwo = try await run(["deliveries", "tail", "--data-dir", data, "--json", "-n", "2"])
        #expect(lastTwo.output.split(separator: "\n").count == 2)
    }
}
