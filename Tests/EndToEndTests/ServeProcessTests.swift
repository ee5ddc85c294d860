import CurlTransport
import Foundation
import Synchronization
import Testing
import WebhookCore
import WebhookSigning
import WebhookTestSupport

/// `clipping-worker serve` as a process, a real receiver, crashes and restarts.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServeProcessTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// A receiver that also serves the video; it answers `failing` (e.g. 503) while that is set.
    final class Receiver: Sendable {
        /// The status to answer webhooks with while set.
        final class Failing: Sendable {
            let code: Mutex<Int?>
            init(_ code: Int?) { self.code = Mutex(code) }
        }

        let server: ScriptedHTTPServer
        let failing: Failing

        init(failing code: Int? = nil) async throws {
            let failing = Failing(code)
            self.failing = failing
            server = try await ScriptedHTTPServer.start { request in
                if request.method == "GET" {
                    return request.uri == "/v.mp4" ? .status(200, body: Array(repeating: 3, count: 20_000)) : .status(404)
                }
                if let code = failing.code.withLock({ $0 }) { return .status(code) }
                return .noContent
            }
        }

        /// Events that got a 2xx, by type.
        func delivered(_ event: String) -> [ScriptedHTTPServer.Request] {
            // The receiver answers before recording the next; a request received while failing got that status.
            server.received.values.filter { $0.method == "POST" && $0.header("x-webhook-event") == event }
        }
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var values = [
            "WEBHOOK_SECRET": Self.secret, "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.05",
            "CLIPPING_WORKER_ENGINE": "simulated",
        ]
        values.merge(extra) { _, new in new }
        return values
    }

    func submit(_ base: String, _ body: String) async throws -> String {
        let response = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request("POST", url: base + "/ai-clipping/jobs", headers: ["Content-Type: application/json"], body: Array(body.utf8))
        }
        struct Submitted: Decodable { var job_id: String }
        return try JSONDecoder().decode(Submitted.self, from: Data(response.body)).job_id
    }

    func status(_ base: String, _ id: String) async throws -> String {
        let response = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request("GET", url: base + "/ai-clipping/jobs/\(id)")
        }
        struct Job: Decodable { var status: String }
        return try JSONDecoder().decode(Job.self, from: Data(response.body)).status
    }

    func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let began = ContinuousClock.now
        while ContinuousClock.now - began < timeout {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("timed out waiting for \(what)")
        throw WorkerProcessError(message: "timed out waiting for \(what)")
    }

    func jobIDs(in requests: [ScriptedHTTPServer.Request]) -> Set<String> {
        Set(requests.compactMap { request in
            struct Payload: Decodable { var job_id: String }
            return try? JSONDecoder().decode(Payload.self, from: Data(request.body)).job_id
        })
    }

    @Test func fullLifecycleThenSigtermExitsZero() async throws {
        let receiver = try await Receiver()
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let worker = try WorkerProcess(dataDirectory: data, environment: environment())
        try await worker.start()
        let good = try await submit(worker.base, #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))", "max_clips": 2}"#)
        let bad = try await submit(worker.base, #"{"video_url": "\#(receiver.server.url("/missing.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))"}"#)
        try await eventually("both terminal events") {
            receiver.delivered("job.completed").count == 1 && receiver.delivered("job.failed").count == 1
        }
        let verifier = try WebhookVerifier(secrets: [WebhookSecret(Self.secret)])
        for request in receiver.server.received.values where request.method == "POST" {
            let result = verifier.verify(
                id: request.header("webhook-id") ?? "", timestamp: request.header("webhook-timestamp") ?? "",
                body: request.body, signatureHeader: request.header("webhook-signature") ?? "")
            #expect((try? result.get()) != nil)
            #expect((try? verifier.verifyLegacy(body: request.body, hexSignature: request.header("x-webhook-signature") ?? "").get()) != nil)
        }
        let failed = try #require(receiver.delivered("job.failed").first)
        #expect(String(decoding: failed.body, as: UTF8.self).contains(#""error":"Failed to download video: HTTP 404""#))
        #expect(try await status(worker.base, good) == "completed")
        #expect(try await status(worker.base, bad) == "failed")
        #expect(try await worker.terminate() == 0)
        try await receiver.server.shutdown()
    }

    @Test(arguments: [true, false])
    func stoppingDuringJobsLosesNothing(killHard: Bool) async throws {
        let receiver = try await Receiver()
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        // Slow stages: the jobs are mid-pipeline when the process dies.
        // A short grace: SIGTERM interrupts the running jobs (a long grace would let them finish).
        let first = try WorkerProcess(
            dataDirectory: data,
            environment: environment([
                "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "2", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "4",
                "CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS": "0.5",
            ]))
        try await first.start()
        var ids = [String]()
        for _ in 0..<3 {
            ids.append(try await submit(first.base, #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))", "max_clips": 1}"#))
        }
        try await eventually("every job to start") { jobIDs(in: receiver.delivered("job.started")) == Set(ids) }
        if killHard {
            first.killHard()
        } else {
            // SIGTERM: a graceful stop, exit 0; the running jobs resume on the next start.
            #expect(try await first.terminate() == 0)
        }
        #expect(receiver.delivered("job.completed").isEmpty)
        let second = try WorkerProcess(dataDirectory: data, environment: environment())
        try await second.start()
        try await eventually("every job's terminal event after the restart") {
            jobIDs(in: receiver.delivered("job.completed")) == Set(ids)
        }
        for id in ids { #expect(try await status(second.base, id) == "completed") }
        #expect(try await second.terminate() == 0)
        try await receiver.server.shutdown()
    }

    @Test func killNineWithPendingDeliveriesLosesNothing() async throws {
        // The receiver fails: the jobs finish, their terminal events stay pending after the quick attempts.
        let receiver = try await Receiver(failing: 503)
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let first = try WorkerProcess(dataDirectory: data, environment: environment(["WEBHOOK_RETRY_SCHEDULE": "2s"]))
        try await first.start()
        var ids = [String]()
        for _ in 0..<2 {
            ids.append(try await submit(first.base, #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))", "max_clips": 1}"#))
        }
        // Both jobs are done; their terminal events are stored and undelivered (retrying, or
        // parked because the failing origin is paused).
        try await eventually("both jobs to complete") {
            var done = 0
            for id in ids where try await status(first.base, id) == "completed" { done += 1 }
            return done == ids.count
        }
        first.killHard()
        receiver.failing.code.withLock { $0 = nil }
        let before = receiver.delivered("job.completed").count
        let second = try WorkerProcess(dataDirectory: data, environment: environment(["WEBHOOK_RETRY_SCHEDULE": "2s"]))
        try await second.start()
        try await eventually("the pending terminal events to arrive") {
            jobIDs(in: Array(receiver.delivered("job.completed").dropFirst(before))) == Set(ids)
        }
        // Where a terminal event was attempted before the crash, it comes back with the same
        // webhook-id, so receivers can deduplicate.
        func idsByJob(_ requests: [ScriptedHTTPServer.Request]) -> [String: Set<String>] {
            var result = [String: Set<String>]()
            for request in requests {
                guard let job = jobIDs(in: [request]).first,
                    let id = request.header("webhook-id")
                else { continue }
                result[job, default: []].insert(id)
            }
            return result
        }
        let earlier = idsByJob(Array(receiver.delivered("job.completed").prefix(before)))
        let later = idsByJob(Array(receiver.delivered("job.completed").dropFirst(before)))
        for (job, ids) in later {
            if let previous = earlier[job] { #expect(ids == previous, "job \(job)") }
            #expect(ids.count == 1)
        }
        #expect(try await second.terminate() == 0)
        try await receiver.server.shutdown()
    }
}

/// The ffmpeg engine through the real binary: outputs over HTTP, and cancel kills ffmpeg.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct FFmpegServeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    func call(_ method: String, _ url: String, body: String? = nil) async throws -> HTTPClientResponse {
        try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request(
                method, url: url, headers: body == nil ? [] : ["Content-Type: application/json"], body: body.map { Array($0.utf8) },
                maxBodyBytes: 64 << 20)
        }
    }

    func job(_ base: String, _ id: String) async throws -> [String: Any] {
        let response = try await call("GET", base + "/ai-clipping/jobs/\(id)")
        return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
    }

    func worker() async throws -> WorkerProcess {
        let data = NSTemporaryDirectory() + "e2e-ffmpeg-\(UUID().uuidString)"
        let worker = try WorkerProcess(dataDirectory: data, environment: [
            "CLIPPING_WORKER_ENGINE": "ffmpeg", "CLIPPING_WORKER_LOCAL_MEDIA_DIR": Self.fixtures,
        ])
        try await worker.start()
        return worker
    }

    @Test func outputsAreReachableAtTheirURLs() async throws {
        let worker = try await worker()
        let submitted = try await call(
            "POST", worker.base + "/ai-clipping/jobs",
            body: #"{"video_url": "file://\#(Self.fixtures)/sample.mp4", "max_clips": 2, "min_clip_duration_seconds": 5, "max_clip_duration_seconds": 10}"#)
        let id = try #require((try JSONSerialization.jsonObject(with: Data(submitted.body)) as? [String: Any])?["job_id"] as? String)
        var state = [String: Any]()
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(90) {
            state = try await job(worker.base, id)
            if ["completed", "failed"].contains(state["status"] as? String ?? "") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(state["status"] as? String == "completed", "\(state["error"] ?? "")")
        let output = try #require(state["output"] as? [String: Any])
        // The URLs use the public URL (http://127.0.0.1:0 by default here); fetch them from the real port.
        func local(_ url: String) -> String { worker.base + String(url[url.range(of: "/media/")!.lowerBound...]) }
        let transcript = try await call("GET", local(try #require(output["transcript_url"] as? String)))
        #expect(transcript.status == 200 && transcript.header("Content-Type") == "application/json")
        #expect(String(decoding: transcript.body, as: UTF8.self).contains(#""source":"sidecar""#))
        let plan = try await call("GET", local(try #require(output["plan_url"] as? String)))
        #expect(plan.status == 200)
        let clips = try #require(output["clips"] as? [[String: Any]])
        #expect(clips.count == 2)
        let clip = try await call("GET", local(try #require(clips.first?["s3_url"] as? String)))
        #expect(clip.status == 200 && clip.header("Content-Type") == "video/mp4")
        #expect(clip.body.count > 10_000)
        #expect(Array(clip.body[4..<8]) == Array("ftyp".utf8))
        #expect(try await worker.terminate() == 0)
    }

    @Test func cancellingARenderKillsFFmpeg() async throws {
        let worker = try await worker()
        // Several long 16:9 renders: plenty of time to cancel one mid-way.
        let submitted = try await call(
            "POST", worker.base + "/ai-clipping/jobs",
            body: #"{"video_url": "file://\#(Self.fixtures)/sample.mp4", "max_clips": 3, "min_clip_duration_seconds": 10, "max_clip_duration_seconds": 13, "target_platform": "youtube"}"#)
        let id = try #require((try JSONSerialization.jsonObject(with: Data(submitted.body)) as? [String: Any])?["job_id"] as? String)
        let workPath = worker.dataDirectory + "/work/\(id)"
        func ffmpegRunning() -> Bool {
            // Any process whose command line names this job's work directory.
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.contains { pid in
                guard pid.allSatisfy(\.isNumber), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                return String(decoding: data, as: UTF8.self).contains(workPath + "/clip_")
            }
        }
        let began = ContinuousClock.now
        while !ffmpegRunning(), ContinuousClock.now - began < .seconds(60) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(ffmpegRunning(), "ffmpeg never started rendering")
        let cancelled = try await call("POST", worker.base + "/ai-clipping/jobs/\(id)/cancel")
        #expect(cancelled.status == 202)
        let stop = ContinuousClock.now
        while try await job(worker.base, id)["status"] as? String != "cancelled", ContinuousClock.now - stop < .seconds(10) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await job(worker.base, id)["status"] as? String == "cancelled")
        while ffmpegRunning(), ContinuousClock.now - stop < .seconds(5) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!ffmpegRunning(), "ffmpeg still running after the cancel")
        #expect(ContinuousClock.now - stop < .seconds(5))
        #expect(!FileManager.default.fileExists(atPath: workPath))
        #expect(try await worker.terminate() == 0)
    }
}

extension ServeProcessTests {
    /// SPEC section 6 "One owner": a second `serve` on a data directory in use exits 1 with one
    /// line naming the setting; once the first is gone (even killed), the directory is free.
    @Test func aSecondServeOnTheSameDataDirectoryExitsOne() async throws {
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let first = try WorkerProcess(dataDirectory: data, environment: environment())
        try await first.start()
        let second = try WorkerProcess(dataDirectory: data, environment: environment())
        try second.process.run()
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 1)
        let lines = second.log.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("CLIPPING_WORKER_DATA_DIR") == true)
        #expect(lines.first?.contains("in use by another clipping-worker") == true)
        first.killHard()
        let third = try WorkerProcess(dataDirectory: data, environment: environment())
        try await third.start()
        #expect(try await third.terminate() == 0)
    }
}

extension ServeProcessTests {
    /// SPEC section 6 "Shutdown", with a backlog: one slot, three jobs of long stages, SIGTERM
    /// while the first runs. The process exits 0 within grace + 5 s; the queued jobs never start
    /// before the restart; nothing is reported cancelled; after the restart every job completes,
    /// the interrupted one without a second `job.started`.
    @Test func sigtermWithABacklogExitsWithinTheGraceAndLosesNothing() async throws {
        let receiver = try await Receiver()
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let first = try WorkerProcess(
            dataDirectory: data,
            environment: environment([
                "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "1", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "30",
                "CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS": "3",
            ]))
        try await first.start()
        var ids = [String]()
        for _ in 0..<3 {
            ids.append(try await submit(first.base, #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))", "max_clips": 1}"#))
        }
        try await eventually("the first job to start") { jobIDs(in: receiver.delivered("job.started")) == [ids[0]] }
        let began = ContinuousClock.now
        kill(first.process.processIdentifier, SIGTERM)
        // While the running job has its grace, the API still answers: no new jobs, not ready.
        try await Task.sleep(for: .milliseconds(300))
        let refused = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request(
                "POST", url: first.base + "/ai-clipping/jobs", headers: ["Content-Type: application/json"],
                body: Array(#"{"video_url": "\#(receiver.server.url("/v.mp4"))"}"#.utf8))
        }
        #expect(refused.status == 503)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("shutting_down"))
        let ready = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request("GET", url: first.base + "/readyz")
        }
        #expect(ready.status == 503)
        #expect(try await first.terminate() == 0)
        let took = ContinuousClock.now - began
        #expect(took < .seconds(8), "exit took \(took) with a 3 s grace")
        #expect(jobIDs(in: receiver.delivered("job.started")) == [ids[0]])
        #expect(receiver.delivered("job.failed").isEmpty)

        let second = try WorkerProcess(dataDirectory: data, environment: environment())
        try await second.start()
        try await eventually("every job's terminal event after the restart") {
            jobIDs(in: receiver.delivered("job.completed")) == Set(ids)
        }
        for id in ids { #expect(try await status(second.base, id) == "completed") }
        let started = receiver.delivered("job.started").compactMap { request -> String? in
            struct Payload: Decodable { var job_id: String }
            return try? JSONDecoder().decode(Payload.self, from: Data(request.body)).job_id
        }
        #expect(started.sorted() == ids.sorted(), "one job.started per job: \(started)")
        #expect(try await second.terminate() == 0)
        try await receiver.server.shutdown()
    }
}

extension ServeProcessTests {
    /// `CLIPPING_WORKER_LOG_FORMAT=json`: every line of the process log is one JSON object with
    /// `ts`, `level`, `message`, and the metadata as fields.
    @Test func jsonLogFormatWritesOneObjectPerLine() async throws {
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let worker = try WorkerProcess(dataDirectory: data, environment: environment(["CLIPPING_WORKER_LOG_FORMAT": "json"]))
        try worker.process.run()
        var lines = [[String: String]]()
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(20) {
            lines = worker.log.split(separator: "\n").compactMap {
                try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
            }
            if lines.contains(where: { $0["message"] == "listening" }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let listening = try #require(lines.first { $0["message"] == "listening" })
        #expect(Int(listening["http.port"] ?? "") != nil)
        #expect(listening["level"] == "notice" && listening["ts"]?.hasSuffix("Z") == true)
        // Nothing else on standard error: every line parsed.
        #expect(worker.log.split(separator: "\n").count == lines.count)
        #expect(try await worker.terminate() == 0)
    }
}

extension ServeProcessTests {
    /// `/metrics` of `serve` carries the HTTP server's metrics (Hummingbird's, through the
    /// bootstrapped global factory) next to the worker's own.
    @Test func serveExportsHTTPServerMetrics() async throws {
        let data = NSTemporaryDirectory() + "e2e-\(UUID().uuidString)"
        let worker = try WorkerProcess(dataDirectory: data, environment: environment())
        try await worker.start()
        let text = try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            _ = try await client.request("GET", url: worker.base + "/healthz")
            return String(decoding: try await client.request("GET", url: worker.base + "/metrics").body, as: UTF8.self)
        }
        #expect(text.contains("http_server_request_duration"))
        #expect(text.contains("hb_requests"))
        #expect(text.contains("clipping_worker_webhook_outbox_pending"))
        #expect(try await worker.terminate() == 0)
    }
}
