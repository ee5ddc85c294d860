import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WebhookCore
import WorkerCore

/// The operations page and its sign-in (SPEC section 9): `GET /ops/`, `POST /ops/login`,
/// `POST /ops/logout`, and the read-only `GET /ops/api/status`.
struct OpsRoutes: Sendable {
    let services: APIServices
    let operations: OperationsServices
    let sessions: OpsSessions?

    /// Head-of-line rows shown at most.
    static let headOfLineLimit = 50

    func page() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                // Everything is inline and same-origin; nothing may load from elsewhere, and no
                // other site may frame the page (clickjacking the Redeliver button).
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Frame-Options")!: "DENY",
                .cacheControl: "no-store",
                // Not `no-referrer`: with it the browser sends `Origin: null` on the page's own form posts.
                HTTPField.Name("Referrer-Policy")!: "same-origin",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: OpsPage.html)))
    }

    func login(_ request: Request) async throws -> Response {
        guard let token = services.apiToken, let sessions else {
            // Nothing to sign in to: the page works without.
            return Response(status: .seeOther, headers: [.location: "/ops/"])
        }
        var request = request
        let buffer = try await request.collectBody(upTo: 4096)
        let given = Self.formField("token", in: String(decoding: buffer.readableBytesView, as: UTF8.self)) ?? ""
        guard TokenCheck.constantTimeEqual(Array(given.utf8), Array(token.utf8)) else {
            throw APIError(status: 401, code: "unauthorized", message: "wrong token")
        }
        let value = sessions.issue(now: services.clock.now.unixSeconds)
        return Response(
            status: .seeOther,
            headers: [
                .location: "/ops/", .setCookie: OpsSessions.setCookie(value, secure: AccessMiddleware<BasicRequestContext>.isSecure(request)),
                .cacheControl: "no-store",
            ])
    }

    func logout(_ request: Request) -> Response {
        if let sessions, let value = OpsSessions.cookie(OpsSessions.cookieName, in: request.headers[.cookie]) {
            sessions.revoke(value, now: services.clock.now.unixSeconds)
        }
        return Response(
            status: .seeOther,
            headers: [
                .location: "/ops/", .setCookie: OpsSessions.setCookie(nil, secure: AccessMiddleware<BasicRequestContext>.isSecure(request)),
            ])
    }

    func status() async throws -> Response {
        let now = services.clock.now
        let store = try await Self.unavailableAs503 { () async throws -> OpsStatusResponse.Store in
            let depth = try await operations.deliveries.depthByState()
            let oldest = try await services.outbox.oldestPendingCreatedAt()
            let blocked = try await operations.deliveries.headOfLine(limit: Self.headOfLineLimit)
            return OpsStatusResponse.Store(
                depth: Dictionary(uniqueKeysWithValues: depth.map { ($0.key.rawValue, $0.value) }),
                oldest_pending_at: oldest?.iso8601,
                oldest_pending_age_seconds: oldest.map { Double(max(0, now.milliseconds - $0.milliseconds)) / 1000 },
                head_of_line: blocked.map { entry in
                    let event = entry.blocking.event
                    return OpsStatusResponse.HeadOfLine(
                        job_id: event.jobID, event_id: event.id.description, event: event.kind.rawValue, sequence: event.sequence,
                        state: event.state.rawValue, attempts: event.attempts, last_status_code: entry.blocking.lastStatusCode,
                        last_error: entry.blocking.attempts.last?.error, next_attempt_at: event.nextAttemptAt.iso8601,
                        waiting: entry.waiting, callback_url: URLRedaction.redact(event.callbackURL))
                })
        }
        let figures = await operations.processFigures()
        let process = OpsStatusResponse.Process(
            window_seconds: figures.windowSeconds, attempts: figures.attempts, failures: figures.failures,
            attempts_per_second: Double(figures.attempts) / Double(max(1, figures.windowSeconds)),
            failure_rate: figures.attempts == 0 ? nil : Double(figures.failures) / Double(figures.attempts),
            attempts_in_flight: figures.attemptsInFlight, paused_origins: figures.pausedOrigins,
            pending_tracked: figures.pendingTracked,
            origins: figures.origins.map { origin in
                OpsStatusResponse.OriginRow(
                    origin: origin.origin, breaker: origin.breaker,
                    success_rate: origin.attempts == 0 ? nil : Double(origin.attempts - origin.failures) / Double(origin.attempts),
                    attempts: origin.attempts, in_flight: origin.inFlight, waiting_jobs: origin.waitingJobs,
                    parked_jobs: origin.parkedJobs, next_probe_at: origin.nextProbeAt?.iso8601, last_error: origin.lastError,
                    last_error_at: origin.lastErrorAt?.iso8601)
            })
        return JSONResponse.make(
            status: .ok,
            OpsStatusResponse(generated_at: now.iso8601, token_required: services.apiToken != nil, store: store, process: process),
            headers: [.cacheControl: "no-store"])
    }

    /// Runs `work`, turning an unreachable store into the contract's 503.
    static func unavailableAs503<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as OutboxError where error.code == .unavailable {
            throw APIError(status: 503, code: "store_unavailable", message: "the store cannot be read now; retry later")
        }
    }

    /// A field of an `application/x-www-form-urlencoded` body (`+` is a space).
    static func formField(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }
}
