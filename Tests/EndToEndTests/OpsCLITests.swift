import Foundation
import Testing
import WebhookTestSupport

/// `clipping-worker jobs list`, `deliveries redeliver --state …` and `deliveries discard` against
/// a running `serve` (issue #12, SPEC section 2).
@Suite(.timeLimit(.minutes(1)))
struct OpsCLITests {
    let cli = CLITests()

    @Test func listsJobsAndRedeliversOrDiscardsInBulk() async throws {
        // Serves the video; every callback gets 400 (final), so each terminal event ends failed.
        let receiver = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(200, body: Array(repeating: 1, count: 2000)) : .status(400)
        }
        let data = NSTemporaryDirectory() + "ops-cli-\(UUID().uuidString)"
        let worker = try WorkerProcess(
            dataDirectory: data,
            environment: [
                "CLIPPING_WORKER_ENGINE": "simulated", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.01",
                "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8", "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0",
            ])
        try await worker.start()
        let server = ["--server", worker.base]
        for external in ["cli-a", "cli-b"] {
            let submitted = try await cli.run(
                ["submit", "--video-url", receiver.url("/v.mp4"), "--callback-url", receiver.url("/hook"), "--external-job-id", external,
                 "--max-clips", "1"] + server)
            #expect(submitted.status == 0, "\(submitted.error)")
        }
        // Bounded wait until both terminal events failed (the dry run counts them).
        let bulk = ["deliveries", "redeliver", "--state", "failed", "--event", "job.completed"] + server
        var dry = try await cli.run(bulk + ["--dry-run"])
        let began = ContinuousClock.now
        while !dry.output.hasPrefix("matched 2;"), ContinuousClock.now - began < .seconds(20) {
            try await Task.sleep(for: .milliseconds(50))
            dry = try await cli.run(bulk + ["--dry-run"])
        }
        #expect(dry.status == 0 && dry.output.hasPrefix("matched 2; would redeliver 2, skip 0"), "\(dry.output)")
        #expect(dry.output.contains("dry run, nothing sent"))
        // Jobs, newest first, in a table or as JSON, following pages.
        let table = try await cli.run(["jobs", "list"] + server)
        let lines = table.output.split(separator: "\n")
        #expect(table.status == 0 && lines.count == 3 && lines[0].hasPrefix("JOB"), "\(table.output)")
        #expect(lines[1].hasSuffix("cli-b") && lines[2].hasSuffix("cli-a"))
        let one = try await cli.run(["jobs", "list", "-n", "1", "--json", "--external-job-id", "cli-a"] + server)
        let jobs = try JSONSerialization.jsonObject(with: Data(one.output.utf8)) as? [[String: Any]]
        #expect(jobs?.count == 1 && jobs?.first?["external_job_id"] as? String == "cli-a" && jobs?.first?["status"] as? String == "completed")
        #expect(try await cli.run(["jobs", "list", "--status", "queued"] + server).output.isEmpty)
        #expect(try await cli.run(["jobs", "list", "--status", "nope"] + server).status == 1)
        // The bulk redelivery itself.
        let sent = try await cli.run(bulk)
        #expect(sent.status == 0 && sent.output.hasPrefix("matched 2; redelivered 2; skipped 0"), "\(sent.output) \(sent.error)")
        let discard = try await cli.run(["deliveries", "discard", "--origin", "http://127.0.0.1:1", "--dry-run"] + server)
        #expect(discard.status == 0 && discard.output.hasPrefix("matched 0 pending events"), "\(discard.output)")
        // Usage errors: exit 64.
        #expect(try await cli.run(["deliveries", "redeliver"] + server).status == 64)
        #expect(try await cli.run(["deliveries", "redeliver", "--state", "pending"] + server).status == 64)
        #expect(try await cli.run(["deliveries", "redeliver", "evt_x", "--state", "failed"] + server).status == 64)
        #expect(try await cli.run(["deliveries", "redeliver", "evt_x", "--dry-run"] + server).status == 64)
        #expect(try await cli.run(["jobs", "list", "-n", "0"] + server).status == 64)
        #expect(try await worker.terminate() == 0)
        try await receiver.shutdown()
    }
}
