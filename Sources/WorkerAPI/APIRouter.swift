import Crypto
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import WebhookCore
import WorkerCore

/// The routes of SPEC section 4.
///
/// ```swift
/// let router = buildAPIRouter(services)
/// let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)))
/// ```
public func buildAPIRouter(_ services: APIServices) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    // HTTP server metrics (OpenTelemetry names; `http.route` is the route template), through the
    // global metrics factory that `serve` bootstraps.
    router.middlewares.add(MetricsMiddleware())
    router.middlewares.add(ErrorMiddleware())
    let sessions = services.apiToken.map { OpsSessions(token: $0) }
    let clock = services.clock
    router.middlewares.add(
        AccessMiddleware(
            token: services.apiToken, sessions: sessions, publicHost: services.operations?.publicHost,
            now: { clock.now.unixSeconds }))
    let routes = APIRoutes(services: services)
    if let operations = services.operations {
        let listing = ListingRoutes(services: services, operations: operations)
        router.get("/ai-clipping/jobs") { request, _ in try await listing.jobs(request) }
        router.get("/deliveries") { request, _ in try await listing.deliveries(request) }
        router.post("/deliveries/redeliver") { request, _ in try await listing.bulkRedeliver(request) }
        router.post("/deliveries/discard") { request, _ in try await listing.bulkDiscard(request) }
        let ops = OpsRoutes(services: services, operations: operations, sessions: sessions)
        // The trie router treats `/ops` and `/ops/` as one path.
        router.get("/ops/") { _, _ in ops.page() }
        router.post("/ops/login") { request, _ in try await ops.login(request) }
        router.post("/ops/logout") { request, _ in ops.logout(request) }
        router.get("/ops/api/status") { _, _ in try await ops.status() }
    }
    router.post("/ai-clipping/jobs") { request, context in try await routes.submit(request, context) }
    router.get("/ai-clipping/jobs/:job_id") { _, context in try await routes.show(context) }
    router.post("/ai-clipping/jobs/:job_id/cancel") { _, context in try await routes.cancel(context) }
    router.get("/ai-clipping/jobs/:job_id/deliveries") { _, context in try await routes.deliveries(context) }
    router.post("/deliveries/:event_id/redeliver") { _, context in try await routes.redeliver(context) }
    let healthz: @Sendable () -> Response = { JSONResponse.make(status: .ok, ["status": "ok"]) }
    let readyz: @Sendable () async -> Response = {
        let health = await services.readiness()
        return health.isReady
            ? JSONResponse.make(status: .ok, ["status": "ready"])
            : JSONResponse.make(status: .serviceUnavailable, ["status": "not ready", "problem": health.problem ?? "unknown"])
    }
    // Load balancers and uptime checks often probe with HEAD: the same status and headers, no body.
    router.get("/healthz") { _, _ in healthz() }
    router.head("/healthz") { _, _ in healthz().createHeadResponse() }
    router.get("/readyz") { _, _ in await readyz() }
    router.head("/readyz") { _, _ in await readyz().createHeadResponse() }
    router.get("/metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: await services.metrics())))
    }
    router.get("/media/:job_id/:file") { _, context in try await routes.media(context) }
    return router
}

/// The route handlers.
struct APIRoutes: Sendable {
    let services: APIServices
    let fileIO = FileIO()
    static let maxBody = RequestSizeGate.defaultLimit

    func submit(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type == "application/json" || type.hasPrefix("application/json;") else {
            throw APIError(status: 415, code: "unsupported_media_type", message: "Content-Type must be application/json")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: Self.maxBody)
        let body = Array(buffer.readableBytesView)
        var spec = try services.validator.validate(body: body).get()
        // A malformed traceparent is ignored, never a 400 (SPEC section 4).
        spec.trace = TraceContext(
            traceparent: request.headers[HTTPField.Name("traceparent")!], tracestate: request.headers[HTTPField.Name("tracestate")!])
        // SPEC section 4: host names are resolved now (2 s at most), so a name that does not
        // exist or points inside gets its 400 here rather than a job.failed later.
        if let refusal = await services.validator.checkHosts(of: spec) { throw refusal }
        guard !services.shuttingDown() else {
            throw APIError(
                status: 503, code: "shutting_down", message: "the worker is shutting down; submit to another worker or retry")
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key, key.isEmpty || key.count > 255 {
            throw APIError(status: 400, code: "invalid_request", message: "Idempotency-Key must be 1–255 characters")
        }
        // The parsed request, not its bytes: whitespace, key order or an explicit null do not
        // make a retry a different request.
        let digest = SHA256.hash(data: spec.canonicalJSON).map { String(format: "%02x", $0) }.joined()
        let result = try await create(spec, key: key, digest: digest)
        if result.created { await services.enqueue(result.job.id) }
        return JSONResponse.make(
            status: .accepted,
            SubmitResponse(job_id: result.job.id, status: result.job.status.rawValue, external_job_id: result.job.spec.externalJobID),
            headers: [.location: "/ai-clipping/jobs/\(result.job.id)"])
    }

    private func create(_ spec: JobSpec, key: String?, digest: String) async throws -> (job: JobRecord, created: Bool) {
        do {
            return try await services.jobs.create(
                spec, idempotencyKey: key, requestDigest: digest, maxQueued: services.maxQueuedJobs, at: services.clock.now)
        } catch {
            switch error.code {
            case .idempotencyConflict:
                throw APIError(status: 409, code: "idempotency_conflict", message: error.message)
            case .queueFull:
                throw APIError(
                    status: 429, code: "queue_full", message: "too many jobs are queued; retry later", retryAfterSeconds: 30)
            case .unavailable:
                // Nothing was stored: the submitter may retry (another worker, or once the disk has room).
                throw APIError(
                    status: 503, code: "store_unavailable", message: "the job store cannot take writes now; retry later")
            default:
                throw error
            }
        }
    }

    func show(_ context: BasicRequestContext) async throws -> Response {
        let job = try await job(context)
        let newest = try await services.outbox.newestEvent(ofJob: job.id)
        return JSONResponse.make(status: .ok, JobResponse(job: job, newest: newest))
    }

    func cancel(_ context: BasicRequestContext) async throws -> Response {
        let existing = try await job(context)
        guard !existing.status.isFinished else {
            throw APIError(status: 409, code: "job_finished", message: "the job has already \(existing.status.rawValue)")
        }
        guard let job = try await services.cancel(existing.id) else { throw Self.noSuchJob }
        return JSONResponse.make(status: .accepted, JobResponse(job: job, newest: nil))
    }

    func deliveries(_ context: BasicRequestContext) async throws -> Response {
        let job = try await job(context)
        return JSONResponse.make(status: .ok, DeliveriesResponse(try await services.outbox.histories(ofJob: job.id)))
    }

    func redeliver(_ context: BasicRequestContext) async throws -> Response {
        guard let text = context.parameters.get("event_id"), let id = EventID(text) else {
            throw APIError(status: 404, code: "not_found", message: "no such event")
        }
        do {
            let event = try await services.redeliver(id)
            return JSONResponse.make(status: .accepted, ["event_id": event.id.description, "state": event.state.rawValue])
        } catch let error as OutboxError where error.code == .notFound {
            throw APIError(status: 404, code: "not_found", message: "no such event")
        }
    }

    func media(_ context: BasicRequestContext) async throws -> Response {
        guard let jobID = context.parameters.get("job_id"), let file = context.parameters.get("file"),
            Self.isSafe(jobID), Self.isSafe(file), jobID.hasPrefix("job_")
        else { throw APIError(status: 404, code: "not_found", message: "no such file") }
        let directory = services.mediaDirectory + "/" + jobID
        let path = directory + "/" + file
        // Symbolic links under media/ are never followed: only a real directory holding a real
        // file is served (a link planted there must not expose the database or /etc).
        guard Self.isPlain(directory, type: S_IFDIR), Self.isPlain(path, type: S_IFREG) else {
            throw APIError(status: 404, code: "not_found", message: "no such file")
        }
        let body = try await fileIO.loadFile(path: path, context: context)
        return Response(status: .ok, headers: [.contentType: Self.contentType(of: file)], body: body)
    }

    /// True when `path` itself (not what a link points to) is of `type` (`S_IFDIR`, `S_IFREG`).
    static func isPlain(_ path: String, type: mode_t) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == type
    }

    /// Letters, digits, `.`, `-`, `_`; no leading dot: no traversal, no hidden files.
    static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    static func contentType(of file: String) -> String {
        switch file.split(separator: ".").last.map({ $0.lowercased() }) {
        case "json": "application/json"
        case "mp4": "video/mp4"
        case "srt": "application/x-subrip"
        case "vtt": "text/vtt"
        default: "application/octet-stream"
        }
    }

    static let noSuchJob = APIError(status: 404, code: "not_found", message: "no such job")

    private func job(_ context: BasicRequestContext) async throws -> JobRecord {
        guard let id = context.parameters.get("job_id"), let job = try await services.jobs.job(id) else { throw Self.noSuchJob }
        return job
    }
}
