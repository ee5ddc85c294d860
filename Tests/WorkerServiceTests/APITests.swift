import CurlTransport
import Foundation
import Logging
import Synchronization
import Testing
import WebhookCore
import WebhookSigning
import WebhookTestSupport
import WorkerService

/// Every route of SPEC section 4 against a running worker.
@Suite(.timeLimit(.minutes(1)))
struct APITests {
    typealias H = WorkerHarness

    static func videoServer() async throws -> ScriptedHTTPServer {
        try await ScriptedHTTPServer.start { request in
            request.method == "GET" && request.uri == "/v.mp4" ? .status(200, body: Array(repeating: 1, count: 5000)) : (request.method == "POST" ? .noContent : .status(404))
        }
    }

    @Test func submitShowListAndServeOutputs() async throws {
        let server = try await Self.videoServer()
        try await H.run { h in
            let body = #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))", "external_job_id": "ext-7", "max_clips": 2}"#
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: body)
            #expect(submitted.status == 202)
            let created = try h.object(submitted)
            let id = try #require(created["job_id"] as? String)
            #expect(created["status"] as? String == "queued")
            #expect(created["external_job_id"] as? String == "ext-7")
            #expect(submitted.header("Location") == "/ai-clipping/jobs/\(id)")
            _ = try await h.waitForStatus(id, ["completed"])
            // The job turns final when its terminal event is stored; the delivery follows.
            let job = try await h.waitForJob(id) { ($0["last_delivery"] as? [String: Any])?["state"] as? String == "delivered" }
            for key in ["job_id", "external_job_id", "owner_user_id", "status", "progress_percent", "current_step", "clips_completed",
                        "total_clips", "error", "output", "created_at", "updated_at", "last_delivery"] {
                #expect(job.keys.contains(key), "missing \(key)")
            }
            #expect(job["progress_percent"] as? Int == 100)
            let last = try #require(job["last_delivery"] as? [String: Any])
            #expect(last["event"] as? String == "job.completed" && last["state"] as? String == "delivered")
            #expect(last["last_status_code"] as? Int == 204)
            let output = try #require(job["output"] as? [String: Any])
            #expect(output["engine"] as? String == "simulated")
            // Outputs are served under /media.
            let planURL = try #require(output["plan_url"] as? String)
            let plan = try await h.client.request("GET", url: planURL.replacingOccurrences(of: "http://127.0.0.1:0", with: h.base))
            #expect(plan.status == 200 && plan.header("Content-Type") == "application/json")
            // Deliveries with attempts.
            let deliveries = try h.object(try await h.call("GET", "/ai-clipping/jobs/\(id)/deliveries"))
            let events = try #require(deliveries["events"] as? [[String: Any]])
            #expect(events.first?["event"] as? String == "job.started")
            #expect(events.map { $0["sequence"] as? Int ?? 0 } == Array(1...events.count))
            let attempts = try #require(events.last?["attempts"] as? [[String: Any]])
            #expect(attempts.first?["outcome"] as? String == "delivered")
            #expect(Set(attempts.first?.keys.map { $0 } ?? []) == ["attempt", "started_at", "duration_ms", "status_code", "error", "outcome"])
            // Redeliver the terminal event: same id, a new attempt.
            let eventID = try #require(events.last?["event_id"] as? String)
            let redelivered = try await h.call("POST", "/deliveries/\(eventID)/redeliver")
            #expect(redelivered.status == 202)
            let start = ContinuousClock.now
            while server.received.values.filter({ $0.header("webhook-id") == eventID }).count < 2,
                ContinuousClock.now - start < .seconds(10)
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            let copies = server.received.values.filter { $0.header("webhook-id") == eventID }
            #expect(copies.count == 2)
            #expect(copies.first?.body == copies.last?.body)
        }
        try await server.shutdown()
    }

    @Test func rejectsBadRequestsWithTheErrorShape() async throws {
        try await H.run { h in
            let invalid = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "http://10.1.1.1/v.mp4"}"#)
            #expect(invalid.status == 400)
            #expect(try h.error(invalid).field == "video_url")
            #expect(try h.error(invalid).code == "invalid_request")
            let notJSON = try await h.call("POST", "/ai-clipping/jobs", json: "{nope")
            #expect(notJSON.status == 400)
            #expect(try h.error(notJSON).code == "invalid_json")
            let wrongType = try await h.call("POST", "/ai-clipping/jobs", json: "{}", contentType: "text/plain")
            #expect(wrongType.status == 415)
            #expect(try h.error(wrongType).code == "unsupported_media_type")
            let huge = #"{"video_url": "https://e.com/a", "pad": "\#(String(repeating: "x", count: 70_000))"}"#
            let tooLarge = try await h.call("POST", "/ai-clipping/jobs", json: huge)
            #expect(tooLarge.status == 413)
            #expect(try h.error(tooLarge).code == "payload_too_large")
            let unknown = try await h.call("GET", "/ai-clipping/jobs/job_nope")
            #expect(unknown.status == 404)
            #expect(try h.error(unknown).code == "not_found")
            let route = try await h.call("GET", "/nowhere")
            #expect(route.status == 404)
            #expect(try h.error(route).code == "not_found")
            #expect(try await h.call("POST", "/ai-clipping/jobs/job_nope/cancel").status == 404)
            #expect(try await h.call("GET", "/ai-clipping/jobs/job_nope/deliveries").status == 404)
            #expect(try await h.call("POST", "/deliveries/evt_nope/redeliver").status == 404)
            #expect(try await h.call("POST", "/deliveries/evt_01M829BNFZBW8YKQDG2WJ12PWC/redeliver").status == 404)
            for path in ["/media/job_x/..%2Fclipping-worker.sqlite", "/media/..%2F..%2Fetc/passwd", "/media/job_x/.hidden",
                         "/media/job_01M829BNFZBW8YKQDG2WJ12PWC/plan.json"] {
                #expect(try await h.call("GET", path).status == 404, "\(path)")
            }
        }
    }

    @Test func idempotencyKeyReplaysOrConflicts() async throws {
        try await H.run { h in
            let body = #"{"video_url": "https://e.com/a.mp4"}"#
            let first = try await h.call("POST", "/ai-clipping/jobs", json: body, headers: ["Idempotency-Key: k1"])
            let again = try await h.call("POST", "/ai-clipping/jobs", json: body, headers: ["Idempotency-Key: k1"])
            #expect(first.status == 202 && again.status == 202)
            #expect(try h.object(first)["job_id"] as? String == h.object(again)["job_id"] as? String)
            let other = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/b.mp4"}"#, headers: ["Idempotency-Key: k1"])
            #expect(other.status == 409)
            #expect(try h.error(other).code == "idempotency_conflict")
        }
    }

    @Test func cancelEndsARunningJob() async throws {
        let server = try await Self.videoServer()
        try await H.run(["CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "30"]) { h in
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))"}"#)
            let id = try #require(try h.object(submitted)["job_id"] as? String)
            _ = try await h.waitForStatus(id, ["transcribing"])
            #expect(try await h.call("POST", "/ai-clipping/jobs/\(id)/cancel").status == 202)
            let job = try await h.waitForStatus(id, ["cancelled"])
            #expect(job["error"] as? String == "cancelled")
            #expect(try await h.call("POST", "/ai-clipping/jobs/\(id)/cancel").status == 409)
            // The job turns final when its terminal event is stored; the delivery follows.
            _ = try await h.waitForJob(id) { ($0["last_delivery"] as? [String: Any])?["state"] as? String == "delivered" }
            let last = try #require(server.received.values.last { $0.method == "POST" })
            #expect(last.header("x-webhook-event") == "job.failed")
            #expect(String(decoding: last.body, as: UTF8.self).contains(#""error":"cancelled""#))
            #expect(String(decoding: last.body, as: UTF8.self).contains(#""status":"failed""#))
        }
        try await server.shutdown()
    }

    @Test func healthReadinessAndMetrics() async throws {
        try await H.run { h in
            #expect(try await h.call("GET", "/healthz").status == 200)
            #expect(try await h.call("GET", "/readyz").status == 200)
            // The database file deleted under the running worker: it must not keep accepting jobs
            // into an unlinked file that the next start never sees (SPEC section 4: 503).
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: h.dataDirectory + "/clipping-worker.sqlite" + suffix)
            }
            let ready = try await h.call("GET", "/readyz")
            #expect(ready.status == 503)
            #expect(String(decoding: ready.body, as: UTF8.self).contains("is gone"))
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a"}"#)
            #expect(submitted.status == 503)
            #expect(try h.error(submitted).code == "store_unavailable")
            #expect(try await h.call("GET", "/healthz").status == 200)
            let metrics = try await h.call("GET", "/metrics")
            #expect(metrics.status == 200)
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("clipping_worker_webhook_attempts_total"))
            #expect(text.contains("clipping_worker_webhook_origins_paused"))
        }
    }

    @Test func tokenGuardsEveryRouteButHealth() async throws {
        let token = "a-long-enough-test-token"
        try await H.run(["CLIPPING_WORKER_API_TOKEN": token]) { h in
            let missing = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a"}"#)
            #expect(missing.status == 401 && missing.header("WWW-Authenticate") == "Bearer")
            #expect(try h.error(missing).code == "unauthorized")
            #expect(try await h.call("GET", "/metrics", headers: ["Authorization: Bearer wrong-token-wrong-token"]).status == 401)
            #expect(try await h.call("GET", "/ai-clipping/jobs/job_x").status == 401)
            #expect(try await h.call("GET", "/healthz").status == 200)
            #expect(try await h.call("GET", "/readyz").status == 200)
            let ok = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://e.com/a"}"#, headers: ["Authorization: Bearer \(token)"])
            #expect(ok.status == 202)
        }
    }

    @Test func generatedSecretIsKeptPrivately() async throws {
        var path = ""
        try await H.run { h in path = h.dataDirectory + "/webhook_secret" }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((try? WebhookSecret(text)) != nil)
    }
}

extension APITests {
    /// SPEC section 6: a job waiting for its terminal event's attempts does not hold a processing
    /// slot. Two jobs whose callback accepts the connection and never answers (30 s per attempt,
    /// three quick attempts) must not hold up a third job on the default two slots.
    @Test func jobsAwaitingTheirTerminalAttemptsDoNotHoldSlots() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            switch (request.method, request.uri) {
            case ("GET", _): .status(200, body: Array(repeating: 7, count: 2_000))
            case (_, "/hang") where request.header("x-webhook-event") == "job.completed": .hang
            default: .noContent
            }
        }
        try await H.run(["WEBHOOK_TIMEOUT_SECONDS": "30"]) { h in
            for _ in 0..<2 {
                let hung = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hang"))"}"#)
                #expect(hung.status == 202)
            }
            // Both are past their processing once their terminal attempts reach the receiver.
            let began = ContinuousClock.now
            while server.received.values.filter({ $0.uri == "/hang" && $0.header("x-webhook-event") == "job.completed" }).count < 2 {
                guard ContinuousClock.now - began < .seconds(20) else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let healthy = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/ok"))"}"#)
            let id = try #require(try h.object(healthy)["job_id"] as? String)
            // Held slots would delay it by the hung jobs' attempts (at least 30 s).
            let done = try await h.waitForStatus(id, ["completed", "failed"])
            #expect(done["status"] as? String == "completed")
            #expect(server.received.values.filter { $0.uri == "/hang" && $0.header("x-webhook-event") == "job.completed" }.count == 2)
        }
        try await server.shutdown()
    }
}

extension APITests {
    /// SPEC section 6: a queued job that is cancelled becomes `cancelled` at once, without
    /// waiting for a processing slot, and its `job.failed` says so.
    @Test func cancellingAQueuedJobEndsItAtOnce() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(200, body: Array(repeating: 7, count: 2_000)) : .noContent
        }
        // One slot, taken by a job that needs ~30 s.
        try await H.run(["CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "1", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "6"]) { h in
            let busy = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))"}"#)
            let busyID = try #require(try h.object(busy)["job_id"] as? String)
            _ = try await h.waitForStatus(busyID, ["downloading", "transcribing", "planning"])
            let queued = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))"}"#)
            let id = try #require(try h.object(queued)["job_id"] as? String)
            #expect(try await h.call("POST", "/ai-clipping/jobs/\(id)/cancel").status == 202)
            let done = try await h.waitForStatus(id, ["cancelled"])
            #expect(done["status"] as? String == "cancelled")
            // The busy job still runs: the cancelled one did not wait for its slot.
            #expect(try h.object(try await h.call("GET", "/ai-clipping/jobs/\(busyID)"))["status"] as? String != "completed")
            let failed = try await server.received.wait(count: 1).first { $0.header("x-webhook-event") == "job.failed" }
            let body = String(decoding: try #require(failed).body, as: UTF8.self)
            #expect(body.contains(#""error":"cancelled""#) && body.contains(#""error_code":"cancelled""#))
        }
        try await server.shutdown()
    }
}

extension APITests {
    /// The names dashboards and alerts use (Prometheus conventions; dots become underscores),
    /// with buckets that resolve sub-millisecond attempts and store-wide figures from the store.
    @Test func metricsNameWhatTheyMeasure() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(200, body: Array(repeating: 7, count: 2_000)) : .noContent
        }
        try await H.run { h in
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url("/hook"))"}"#)
            let id = try #require(try h.object(submitted)["job_id"] as? String)
            _ = try await h.waitForStatus(id, ["completed"])
            try await server.received.wait(count: 2)
            let began = ContinuousClock.now
            var text = ""
            // The terminal event is counted once its attempt is recorded.
            // The pending gauge follows the delivered counter by a moment: wait for both.
            while !text.contains(#"clipping_worker_webhook_events_finished_total{event="job.completed",state="delivered"} 1"#)
                || !text.contains("clipping_worker_webhook_outbox_pending 0")
            {
                guard ContinuousClock.now - began < .seconds(10) else { break }
                text = String(decoding: try await h.call("GET", "/metrics").body, as: UTF8.self)
                try await Task.sleep(for: .milliseconds(20))
            }
            for name in [
                "clipping_worker_webhook_attempts_total", "clipping_worker_webhook_events_finished_total",
                "clipping_worker_webhook_attempt_duration_seconds_bucket", "clipping_worker_webhook_outbox_pending",
                "clipping_worker_webhook_oldest_pending_age_seconds", "clipping_worker_store_commit_duration_seconds_bucket",
                "clipping_worker_store_commit_batch_size", "clipping_worker_store_commit_failures_total",
                "clipping_worker_jobs_finished_total", "clipping_worker_jobs_running",
            ] {
                #expect(text.contains(name), "missing \(name)")
            }
            #expect(text.contains(#"clipping_worker_webhook_events_finished_total{event="job.completed",state="delivered"} 1"#))
            #expect(text.contains(#"clipping_worker_jobs_finished_total{status="completed"} 1"#))
            #expect(text.contains(#"le="0.00025""#), "sub-millisecond buckets")
            #expect(text.contains("clipping_worker_webhook_outbox_pending 0"))
            #expect(!text.contains("clipping_worker_webhook_deliveries_total"))
            // Each stage of the one job recorded once, in buckets sized for minutes.
            for stage in ["downloading", "transcribing", "planning", "detecting", "rendering", "uploading"] {
                #expect(text.contains(#"clipping_worker_job_stage_duration_seconds_count{stage="\#(stage)"} 1"#), "stage \(stage)")
            }
            #expect(text.contains(#"clipping_worker_job_stage_duration_seconds_bucket{stage="rendering",le="1800"#))
            // The job is over: nothing queued or running (the gauges once lagged one event behind).
            #expect(gauge("clipping_worker_jobs_queued", in: text) == 0)
            #expect(gauge("clipping_worker_jobs_running", in: text) == 0)
        }
        try await server.shutdown()
    }
}

extension APITests {
    /// The job gauges say what is happening now: one job running, nothing waiting (recorded
    /// before the slots were filled, the queue gauge kept showing the job that had just started).
    @Test func jobGaugesShowTheRunningJob() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(200, body: Array(repeating: 7, count: 2_000)) }
        try await H.run(["CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "2"]) { h in
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))"}"#)
            let id = try #require(try h.object(submitted)["job_id"] as? String)
            _ = try await h.waitForJob(id) { ($0["status"] as? String) == "transcribing" }
            let text = String(decoding: try await h.call("GET", "/metrics").body, as: UTF8.self)
            #expect(gauge("clipping_worker_jobs_running", in: text) == 1)
            #expect(gauge("clipping_worker_jobs_queued", in: text) == 0)
        }
        try await server.shutdown()
    }
}

extension APITests {
    /// SPEC section 4: submissions beyond `CLIPPING_WORKER_MAX_QUEUED_JOBS` get 429 with
    /// `Retry-After`; a retried idempotent submission still gets its job.
    @Test func aFullQueueAnswers429WithRetryAfter() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(200, body: Array(repeating: 7, count: 2_000)) : .noContent
        }
        try await H.run([
            "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "1", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "5",
            "CLIPPING_WORKER_MAX_QUEUED_JOBS": "2",
        ]) { h in
            let body = #"{"video_url": "\#(server.url("/v.mp4"))"}"#
            let running = try await h.call("POST", "/ai-clipping/jobs", json: body)
            let runningID = try #require(try h.object(running)["job_id"] as? String)
            _ = try await h.waitForStatus(runningID, ["downloading", "transcribing", "planning"])
            let keyed = try await h.call("POST", "/ai-clipping/jobs", json: body, headers: ["Idempotency-Key: k1"])
            #expect(keyed.status == 202)
            #expect(try await h.call("POST", "/ai-clipping/jobs", json: body).status == 202)
            let refused = try await h.call("POST", "/ai-clipping/jobs", json: body)
            #expect(refused.status == 429)
            #expect(refused.header("Retry-After") == "30")
            #expect(try h.error(refused).code == "queue_full")
            let again = try await h.call("POST", "/ai-clipping/jobs", json: body, headers: ["Idempotency-Key: k1"])
            #expect(again.status == 202)
            #expect(try h.object(again)["job_id"] as? String == (try h.object(keyed)["job_id"] as? String))
        }
        try await server.shutdown()
    }
}

extension APITests {
    /// Retention end to end: a finished job past the retention period is gone from the API and
    /// its local outputs from the disk; the sweep repeats by itself (here every second).
    @Test func retentionRemovesFinishedJobsAndTheirOutputs() async throws {
        let server = try await ScriptedHTTPServer.start { request in
            request.method == "GET" ? .status(200, body: Array(repeating: 7, count: 2_000)) : .noContent
        }
        // 3 s of retention: sweeps every second.
        try await H.run(["CLIPPING_WORKER_RETENTION_DAYS": String(3.0 / 86_400)]) { h in
            // Outputs of a job the store does not have (deleted by another worker's sweeper, on a
            // shared database) go at the next sweep.
            let orphan = h.dataDirectory + "/media/job_01M8QHZZZZZZZZZZZZZZZZZZZZ"
            try FileManager.default.createDirectory(atPath: orphan, withIntermediateDirectories: true)
            let submitted = try await h.call("POST", "/ai-clipping/jobs", json: #"{"video_url": "\#(server.url("/v.mp4"))"}"#)
            let id = try #require(try h.object(submitted)["job_id"] as? String)
            _ = try await h.waitForStatus(id, ["completed"])
            #expect(FileManager.default.fileExists(atPath: h.dataDirectory + "/media/\(id)"))
            let began = ContinuousClock.now
            while try await h.call("GET", "/ai-clipping/jobs/\(id)").status != 404 {
                guard ContinuousClock.now - began < .seconds(15) else { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await h.call("GET", "/ai-clipping/jobs/\(id)").status == 404)
            #expect(!FileManager.default.fileExists(atPath: h.dataDirectory + "/media/\(id)"))
            #expect(!FileManager.default.fileExists(atPath: orphan))
        }
        try await server.shutdown()
    }
}

/// The value of an unlabelled Prometheus sample in `/metrics` text.
func gauge(_ name: String, in text: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
}

extension APITests {
    /// SPEC sections 4 and 5: a submission's valid `traceparent` reaches every attempt of every
    /// webhook of the job with the same trace id and flags and a new span id, `tracestate` as
    /// submitted; a malformed one is ignored (202, no header); without one, none is sent.
    @Test func theSubmittersTraceIsCarriedOnEveryAttempt() async throws {
        let failedOnce = Mutex(Set<String>())
        let server = try await ScriptedHTTPServer.start { request in
            if request.method == "GET" { return .status(200, body: Array(repeating: 1, count: 5000)) }
            // The first attempt of each traced event fails: two attempts to compare. Only the
            // traced job's: failing every job's first attempts could make five failures in a row,
            // which pauses the origin (its probe, a first attempt too, fails again: 15 s or more).
            guard request.uri == "/traced" else { return .noContent }
            let id = request.headers["webhook-id"] ?? ""
            return failedOnce.withLock { $0.insert(id).inserted } ? .status(503) : .noContent
        }
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let lines = LogLines()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }
        try await H.run(["WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0"], logger: logger) { h in
            func submit(_ hook: String, _ headers: [String]) async throws -> String {
                let response = try await h.call(
                    "POST", "/ai-clipping/jobs",
                    json: #"{"video_url": "\#(server.url("/v.mp4"))", "callback_url": "\#(server.url(hook))"}"#, headers: headers)
                #expect(response.status == 202)
                return try #require(try h.object(response)["job_id"] as? String)
            }
            let traced = try await submit("/traced", ["traceparent: 00-\(traceID)-00f067aa0ba902b7-01", "tracestate: rojo=00f067aa0ba902b7"])
            let malformed = try await submit("/malformed", ["traceparent: 00-\(traceID)-zz"])
            let plain = try await submit("/plain", [])
            for id in [traced, malformed, plain] {
                _ = try await h.waitForJob(id) { ($0["last_delivery"] as? [String: Any])?["state"] as? String == "delivered" }
            }
            let requests = server.received.values.filter { $0.method == "POST" }
            let tracedRequests = requests.filter { $0.uri == "/traced" }
            #expect(tracedRequests.count >= 3, "at least one event attempted twice (its first attempt is answered 503)")
            var spans = Set<String>()
            for request in tracedRequests {
                let header = try #require(request.headers["traceparent"], "an attempt without traceparent")
                let parts = header.split(separator: "-")
                #expect(parts.count == 4 && parts[0] == "00" && parts[1] == traceID && parts[3] == "01", "\(header)")
                #expect(parts.count == 4 && parts[2] != "00f067aa0ba902b7" && parts[2].count == 16)
                if parts.count == 4 { spans.insert(String(parts[2])) }
                #expect(request.headers["tracestate"] == "rojo=00f067aa0ba902b7")
            }
            #expect(spans.count == tracedRequests.count, "a new span id per attempt")
            for request in requests where request.uri != "/traced" {
                #expect(request.headers["traceparent"] == nil && request.headers["tracestate"] == nil)
            }
            // The job's log lines carry the trace id.
            #expect(lines.all.contains { $0.contains("trace.id=\(traceID)") }, "no log line with the trace id")
        }
        try await server.shutdown()
    }
}

/// Log lines kept for a test to read (`message key=value …`).
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct RecordingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        lines.append("\(event.message) " + all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))
    }
}

