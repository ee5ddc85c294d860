import CurlTransport
import Foundation
import Synchronization
import Testing
import WebhookCore
import WebhookTestSupport
import WorkerService

/// `GET /deliveries`, `GET /ai-clipping/jobs`, the bulk routes, the operations page's status and
/// sign-in, and the browser-safety checks (SPEC sections 4 and 9), against a whole worker.
@Suite(.timeLimit(.minutes(1)))
struct OpsAPITests {
    typealias H = WorkerHarness

    /// Serves the video, and answers callbacks by path: `/bad…` 400 until healed, `/gone…` 410,
    /// `/down…` 503, anything else 204.
    final class Receiver: Sendable {
        /// Whether the receiver was healed (every callback answered 204 from then on).
        final class Health: Sendable {
            let healed = Mutex(false)
        }

        let server: ScriptedHTTPServer
        private let health: Health

        init() async throws {
            let health = Health()
            self.health = health
            server = try await ScriptedHTTPServer.start { request in
                if request.method == "GET" { return request.uri == "/v.mp4" ? .status(200, body: Array(repeating: 1, count: 2000)) : .status(404) }
                if health.healed.withLock({ $0 }) { return .noContent }
                if request.uri.hasPrefix("/bad") { return .status(400) }
                if request.uri.hasPrefix("/gone") { return .status(410) }
                if request.uri.hasPrefix("/down") { return .status(503) }
                return .noContent
            }
        }

        func heal() { health.healed.withLock { $0 = true } }
        func posts(of eventID: String) -> Int {
            server.received.values.filter { $0.method == "POST" && $0.header("webhook-id") == eventID }.count
        }
    }

    /// Submits a job and waits until its terminal event reached `state`.
    static func job(_ h: H, _ receiver: Receiver, callback: String, external: String, until state: String) async throws -> String {
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url(callback))", "external_job_id": "\#(external)", "owner_user_id": "owner-1", "max_clips": 1}"#
        let id = try #require(try h.object(try await h.call("POST", "/ai-clipping/jobs", json: body))["job_id"] as? String)
        _ = try await h.waitForJob(id) { job in
            let last = job["last_delivery"] as? [String: Any]
            return ["completed", "failed"].contains(job["status"] as? String ?? "")
                && ["job.completed", "job.failed"].contains(last?["event"] as? String ?? "") && last?["state"] as? String == state
        }
        return id
    }

    static func events(_ h: H, _ query: String) async throws -> (events: [[String: Any]], next: String?) {
        let response = try await h.call("GET", "/deliveries?" + query)
        #expect(response.status == 200, "\(query): \(String(decoding: response.body, as: UTF8.self))")
        let object = try h.object(response)
        return (object["events"] as? [[String: Any]] ?? [], object["next_cursor"] as? String)
    }

    /// Event ids of every page of a listing, following `next_cursor` (20 pages at most).
    static func everyPage(_ h: H, _ query: String) async throws -> [String] {
        var all = [String]()
        var suffix = ""
        for _ in 0..<20 {
            let page = try await events(h, query + suffix)
            all += page.events.compactMap { $0["event_id"] as? String }
            guard let next = page.next else { break }
            suffix = "&cursor=" + next
        }
        return all
    }

    @Test func listsDeliveriesAcrossJobsWithFiltersAndPages() async throws {
        let receiver = try await Receiver()
        try await H.run { h in
            let bad1 = try await Self.job(h, receiver, callback: "/bad/1?token=s3cret", external: "ext-a", until: "failed")
            let bad2 = try await Self.job(h, receiver, callback: "/bad/2", external: "ext-b", until: "failed")
            let good = try await Self.job(h, receiver, callback: "/ok", external: "ext-a", until: "delivered")
            // A 400 is final for every event of these jobs: their terminal events are the ones to look at.
            let failed = try await Self.events(h, "state=failed&event=job.completed")
            #expect(failed.events.map { $0["job_id"] as? String } == [bad2, bad1])
            #expect(failed.events.allSatisfy { $0["event"] as? String == "job.completed" && $0["state"] as? String == "failed" })
            // Redacted as in the delivery log; attempts as in a job's deliveries.
            #expect(failed.events.last?["callback_url"] as? String == receiver.server.url("/bad/1?token=REDACTED"))
            let attempts = try #require(failed.events.last?["attempts"] as? [[String: Any]])
            #expect(attempts.first?["status_code"] as? Int == 400 && attempts.first?["outcome"] as? String == "failed")
            #expect(failed.next == nil)
            // Pages: one at a time, newest first, then no cursor.
            let first = try await Self.events(h, "state=failed&event=job.completed&limit=1")
            #expect(first.events.map { $0["job_id"] as? String } == [bad2])
            let cursor = try #require(first.next)
            let second = try await Self.events(h, "state=failed&event=job.completed&limit=1&cursor=\(cursor)")
            #expect(second.events.map { $0["job_id"] as? String } == [bad1] && second.next == nil)
            // Every other filter.
            // The good job's events: every one delivered, but progress that was still waiting when
            // the terminal event was stored, superseded (SPEC section 6); none of another job.
            let goodEvents = try await Self.events(h, "job_id=\(good)").events
            #expect(!goodEvents.isEmpty && goodEvents.allSatisfy { $0["job_id"] as? String == good })
            #expect(goodEvents.allSatisfy { ["delivered", "superseded"].contains($0["state"] as? String ?? "") })
            #expect(goodEvents.contains { $0["event"] as? String == "job.completed" && $0["state"] as? String == "delivered" })
            #expect(try await Self.events(h, "event=job.started").events.count == 3)
            let origin = "http://127.0.0.1:\(receiver.server.port)"
            #expect(try await Self.events(h, "origin=\(origin)&event=job.completed").events.count == 3)
            #expect(try await Self.events(h, "origin=http://127.0.0.1:1&event=job.completed").events.isEmpty)
            #expect(try await Self.events(h, "since=1h&event=job.completed").events.count == 3)
            #expect(try await Self.events(h, "until=1h").events.isEmpty)
            #expect(try await Self.events(h, "since=2020-01-01T00:00:00Z&state=failed&event=job.started").events.count == 2)
            // Every event of the failed jobs, across pages of 5, each once.
            let all = try await Self.everyPage(h, "state=failed&limit=5")
            let everyFailed = try await Self.events(h, "state=failed&limit=1000").events.count
            #expect(all.count == Set(all).count && all.count == everyFailed && everyFailed > 5)
            // Bad values: 400 naming the field.
            for (query, field) in [("state=nope", "state"), ("limit=0", "limit"), ("limit=1001", "limit"), ("cursor=xyz", "cursor"),
                                   ("since=yesterday", "since"), ("event=job.bogus", "event"), ("origin=ftp://x", "origin")] {
                let response = try await h.call("GET", "/deliveries?" + query)
                let field400 = try h.error(response).field
                #expect(response.status == 400 && field400 == field, "\(query)")
            }
            // Jobs, newest first, by external id, owner and status, in pages.
            let jobs = try h.object(try await h.call("GET", "/ai-clipping/jobs?external_job_id=ext-a"))["jobs"] as? [[String: Any]] ?? []
            #expect(jobs.map { $0["job_id"] as? String } == [good, bad1])
            #expect(jobs.first?["progress_percent"] as? Int == 100)
            let page = try h.object(try await h.call("GET", "/ai-clipping/jobs?owner_user_id=owner-1&status=completed&limit=2"))
            #expect((page["jobs"] as? [[String: Any]])?.count == 2)
            let next = try #require(page["next_cursor"] as? String)
            let rest = try h.object(try await h.call("GET", "/ai-clipping/jobs?owner_user_id=owner-1&status=completed&limit=2&cursor=\(next)"))
            #expect((rest["jobs"] as? [[String: Any]])?.map { $0["job_id"] as? String } == [bad1])
            #expect(rest["next_cursor"] is NSNull)
            #expect(try await h.call("GET", "/ai-clipping/jobs?status=nope").status == 400)
        }
        try await receiver.server.shutdown()
    }

    @Test func bulkRedeliveryCountsFirstThenSendsTheSameIDsAndSkipsGoneCallbacks() async throws {
        let receiver = try await Receiver()
        try await H.run { h in
            let bad1 = try await Self.job(h, receiver, callback: "/bad/1", external: "a", until: "failed")
            let bad2 = try await Self.job(h, receiver, callback: "/bad/2", external: "b", until: "failed")
            let gone = try await Self.job(h, receiver, callback: "/gone", external: "c", until: "failed")
            let failedIDs = try await Self.events(h, "state=failed&event=job.completed").events.compactMap { $0["event_id"] as? String }
            #expect(failedIDs.count == 3)
            // State is required and must be one a redelivery can start from.
            #expect(try await h.call("POST", "/deliveries/redeliver", json: #"{"dry_run": true}"#).status == 400)
            #expect(try h.error(try await h.call("POST", "/deliveries/redeliver", json: #"{"state": "pending"}"#)).field == "state")
            receiver.heal()
            let dry = try h.object(try await h.call("POST", "/deliveries/redeliver", json: #"{"state": "failed", "event": "job.completed", "since": "1h", "dry_run": true}"#))
            #expect(dry["matched"] as? Int == 3 && dry["redelivered"] as? Int == 0 && dry["skipped_gone"] as? Int == 1)
            // Before: one attempt each for the 400s; none for the gone job's terminal event (stored
            // failed at once, its callback having answered 410 to job.started).
            let before = Dictionary(uniqueKeysWithValues: failedIDs.map { ($0, receiver.posts(of: $0)) })
            #expect(before.values.sorted() == [0, 1, 1])
            let sent = try h.object(try await h.call("POST", "/deliveries/redeliver", json: #"{"state": "failed", "event": "job.completed"}"#))
            #expect(sent["matched"] as? Int == 3 && sent["redelivered"] as? Int == 2 && sent["skipped_gone"] as? Int == 1)
            for id in [bad1, bad2] {
                _ = try await h.waitForJob(id) { ($0["last_delivery"] as? [String: Any])?["state"] as? String == "delivered" }
            }
            let goneEvent = try #require(try await Self.events(h, "job_id=\(gone)&state=failed&event=job.completed").events.first?["event_id"] as? String)
            #expect(receiver.posts(of: goneEvent) == 0, "the gone callback was not called")
            // Naming the job redelivers its event although its callback is gone.
            let named = try h.object(try await h.call("POST", "/deliveries/redeliver", json: #"{"state": "failed", "event": "job.completed", "job_id": "\#(gone)"}"#))
            #expect(named["redelivered"] as? Int == 1 && named["skipped_gone"] as? Int == 0)
            let start = ContinuousClock.now
            while receiver.posts(of: goneEvent) < 1, ContinuousClock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
            // Same webhook-id on the redelivery: one more post of each failed event.
            for id in failedIDs { #expect(receiver.posts(of: id) == (before[id] ?? 0) + 1, "\(id)") }
        }
        try await receiver.server.shutdown()
    }

    @Test(.timeLimit(.minutes(1))) func discardEndsPendingEventsOfAReceiverGoneForGood() async throws {
        let receiver = try await Receiver()
        try await H.run { h in
            let id = try await Self.job(h, receiver, callback: "/down", external: "d", until: "pending")
            let origin = "http://127.0.0.1:\(receiver.server.port)"
            #expect(try await h.call("POST", "/deliveries/discard", json: #"{"state": "failed"}"#).status == 400)
            let dry = try h.object(try await h.call("POST", "/deliveries/discard", json: #"{"state": "pending", "origin": "\#(origin)", "dry_run": true}"#))
            #expect(dry["matched"] as? Int == 1 && dry["discarded"] as? Int == 0)
            // An event whose attempt is in flight is left to that attempt (a 503 here: it stays
            // pending), so a discard that lands during a retry ends nothing; the next one does.
            var discarded = 0
            let began = ContinuousClock.now
            while discarded == 0, ContinuousClock.now - began < .seconds(20) {
                let done = try h.object(try await h.call("POST", "/deliveries/discard", json: #"{"state": "pending", "origin": "\#(origin)"}"#))
                #expect(done["matched"] as? Int == 1)
                discarded = done["discarded"] as? Int ?? -1
                if discarded == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(discarded == 1)
            let job = try await h.waitForJob(id) { ($0["last_delivery"] as? [String: Any])?["state"] as? String == "failed" }
            #expect((job["last_delivery"] as? [String: Any])?["event"] as? String == "job.completed")
            #expect(try await Self.events(h, "state=pending").events.isEmpty)
            let status = try h.object(try await h.call("GET", "/ops/api/status"))
            #expect((status["store"] as? [String: Any]).flatMap { $0["depth"] as? [String: Int] }?["pending"] == 0)
        }
        try await receiver.server.shutdown()
    }

    @Test func statusSeparatesStoreWideFromThisProcess() async throws {
        let receiver = try await Receiver()
        try await H.run { h in
            _ = try await Self.job(h, receiver, callback: "/bad/x", external: "s", until: "failed")
            let status = try h.object(try await h.call("GET", "/ops/api/status"))
            let store = try #require(status["store"] as? [String: Any])
            let depth = try #require(store["depth"] as? [String: Int])
            #expect(Set(depth.keys) == ["pending", "delivered", "failed", "dropped", "superseded"])
            let failedCount = try await Self.events(h, "state=failed&limit=1000").events.count
            #expect(depth["failed"] == failedCount)
            #expect(depth["failed"] ?? 0 >= 1)
            #expect(store["head_of_line"] is [Any])
            let process = try #require(status["process"] as? [String: Any])
            #expect(process["window_seconds"] as? Int == 300)
            #expect((process["attempts"] as? Int ?? 0) >= 2)
            #expect((process["failure_rate"] as? Double ?? 0) == 1)
            let origins = try #require(process["origins"] as? [[String: Any]])
            let row = try #require(origins.first { $0["origin"] as? String == "http://127.0.0.1:\(receiver.server.port)" })
            #expect(row["breaker"] as? String == "closed" && row["last_error"] as? String == "HTTP 400")
            #expect(row["success_rate"] as? Double == 0)
            let page = try await h.call("GET", "/ops/")
            #expect(page.status == 200 && page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains("store-wide") && html.contains("this process") && !html.contains("localStorage"))
            #expect(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external resources")
        }
        try await receiver.server.shutdown()
    }

    @Test func crossOriginPostsAndForeignHostsAreRefused() async throws {
        try await H.run { h in
            let body = #"{"state": "failed", "dry_run": true}"#
            let own = "Origin: \(h.base)"
            #expect(try await h.call("POST", "/deliveries/redeliver", json: body, headers: [own]).status == 200)
            #expect(try await h.call("POST", "/deliveries/redeliver", json: body).status == 200)
            for origin in ["http://evil.example", "null", "http://127.0.0.1:1", h.base.replacingOccurrences(of: "http:", with: "https:")] {
                let refused = try await h.call("POST", "/deliveries/redeliver", json: body, headers: ["Origin: \(origin)"])
                let code = try h.error(refused).code
                #expect(refused.status == 403 && code == "cross_origin", "\(origin)")
            }
            let cancel = try await h.call("POST", "/ai-clipping/jobs/job_x/cancel", headers: ["Origin: http://evil.example"])
            #expect(cancel.status == 403)
            // DNS rebinding: a foreign name pointing at loopback.
            let port = h.base.split(separator: ":").last.map(String.init) ?? ""
            let rebound = try await h.call("GET", "/deliveries", headers: ["Host: evil.example:\(port)"])
            let reboundCode = try h.error(rebound).code
            #expect(rebound.status == 403 && reboundCode == "forbidden_host")
            #expect(try await h.call("GET", "/ops/", headers: ["Host: attacker.test"]).status == 403)
            #expect(try await h.call("GET", "/deliveries", headers: ["Host: localhost:\(port)"]).status == 200)
            #expect(try await h.call("GET", "/healthz", headers: ["Host: [::1]:\(port)"]).status == 200)
        }
        // The public URL's host is allowed.
        try await H.run(["CLIPPING_WORKER_PUBLIC_URL": "https://worker.example.com"], configure: { _ in }) { h in
            let allowed = try await h.call("GET", "/deliveries", headers: ["Host: worker.example.com"])
            #expect(allowed.status == 200)
            #expect(try await h.call("GET", "/deliveries", headers: ["Host: other.example.com"]).status == 403)
        }
    }

    @Test func signInKeepsASessionCookieThatCannotBeUsedCrossSite() async throws {
        let token = "ops-test-token-0123456789"
        try await H.run(["CLIPPING_WORKER_API_TOKEN": token]) { h in
            // The page asks for the token; its data needs it.
            #expect(try await h.call("GET", "/ops/").status == 200)
            #expect(try await h.call("GET", "/ops/api/status").status == 401)
            let form = "application/x-www-form-urlencoded"
            #expect(try await h.call("POST", "/ops/login", json: "token=wrong", contentType: form).status == 401)
            let login = try await h.call("POST", "/ops/login", json: "token=\(token)", contentType: form)
            #expect(login.status == 303 && login.header("Location") == "/ops/")
            let setCookie = try #require(login.header("Set-Cookie"))
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Max-Age=43200"))
            #expect(!setCookie.contains("Secure") && !setCookie.contains(token))
            let secure = try await h.call("POST", "/ops/login", json: "token=\(token)", headers: ["X-Forwarded-Proto: https"], contentType: form)
            #expect(secure.header("Set-Cookie")?.contains("; Secure") == true)
            let cookie = "Cookie: " + (setCookie.split(separator: ";").first.map(String.init) ?? "")
            #expect(try await h.call("GET", "/ops/api/status", headers: [cookie]).status == 200)
            #expect(try await h.call("GET", "/deliveries", headers: [cookie]).status == 200)
            let body = #"{"state": "failed", "dry_run": true}"#
            // A change with the cookie must come from this origin.
            #expect(try await h.call("POST", "/deliveries/redeliver", json: body, headers: [cookie]).status == 403)
            #expect(try await h.call("POST", "/deliveries/redeliver", json: body, headers: [cookie, "Origin: http://evil.example"]).status == 403)
            #expect(try await h.call("POST", "/deliveries/redeliver", json: body, headers: [cookie, "Origin: \(h.base)"]).status == 200)
            // The bearer header still works, and a forged cookie does not.
            #expect(try await h.call("GET", "/deliveries", headers: ["Authorization: Bearer \(token)"]).status == 200)
            #expect(try await h.call("GET", "/deliveries", headers: ["Cookie: cw_ops_session=9999999999.00.00"]).status == 401)
            // Signing out ends the session.
            let logout = try await h.call("POST", "/ops/logout", headers: [cookie, "Origin: \(h.base)"])
            #expect(logout.status == 303 && logout.header("Set-Cookie")?.contains("Max-Age=0") == true)
            #expect(try await h.call("GET", "/ops/api/status", headers: [cookie]).status == 401)
        }
    }
}
