import Foundation
import Hummingbird
import WebhookCore
import WorkerCore

/// `GET /deliveries`, `GET /ai-clipping/jobs`, `POST /deliveries/redeliver` and
/// `POST /deliveries/discard` (SPEC section 4).
struct ListingRoutes: Sendable {
    let services: APIServices
    let operations: OperationsServices

    /// At most this many events per bulk call; `matched` still tells the full count.
    static let bulkLimit = 10_000
    /// The reason a discarded event ends with (SPEC section 4).
    static let discardReason = "discarded by operator"

    func deliveries(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = try ListingParameters.deliveryFilter(
            state: query.get("state"), jobID: query.get("job_id"), event: query.get("event"), origin: query.get("origin"),
            since: query.get("since"), until: query.get("until"), now: services.clock.now)
        let limit = try ListingParameters.limit(query.get("limit"))
        var cursor: DeliveryCursor?
        if let text = query.get("cursor"), !text.isEmpty {
            guard let parsed = DeliveryCursor(text) else {
                throw APIError(status: 400, code: "invalid_request", message: "cursor is not one this server gave", field: "cursor")
            }
            cursor = parsed
        }
        // One more than asked: whether a next page exists, without a count.
        let page = try await storeCall { try await operations.deliveries.events(matching: filter, after: cursor, limit: limit + 1) }
        let shown = Array(page.prefix(limit))
        let next = page.count > limit ? shown.last.map { DeliveryCursor(createdAt: $0.event.createdAt, eventID: $0.event.id) } : nil
        return JSONResponse.make(
            status: .ok, DeliveryListResponse(events: shown.map(DeliveryListResponse.Event.init), next_cursor: next?.description))
    }

    func jobs(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = try ListingParameters.jobFilter(
            status: query.get("status"), externalJobID: query.get("external_job_id"), ownerUserID: query.get("owner_user_id"),
            since: query.get("since"), now: services.clock.now)
        let limit = try ListingParameters.limit(query.get("limit"))
        var cursor: JobCursor?
        if let text = query.get("cursor"), !text.isEmpty {
            guard let parsed = JobCursor(text) else {
                throw APIError(status: 400, code: "invalid_request", message: "cursor is not one this server gave", field: "cursor")
            }
            cursor = parsed
        }
        let page = try await storeCall { try await operations.jobs.jobs(matching: filter, after: cursor, limit: limit + 1) }
        let shown = Array(page.prefix(limit))
        let next = page.count > limit ? shown.last.map { JobCursor(createdAt: $0.createdAt, jobID: $0.id) } : nil
        return JSONResponse.make(
            status: .ok, JobListResponse(jobs: shown.map { JobResponse(job: $0, newest: nil) }, next_cursor: next?.description))
    }

    func bulkRedeliver(_ request: Request) async throws -> Response {
        let (filter, dryRun) = try await bulkFilter(request, allowed: [.failed, .dropped, .superseded])
        let matches = try await storeCall { try await operations.deliveries.bulkMatches(filter, limit: Self.bulkLimit) }
        // A gone callback (410, `disable`) is skipped unless the operator named the job (SPEC section 6).
        let skipGone = filter.jobID == nil
        var redelivered = 0
        var skipped = 0
        for match in matches.events {
            if skipGone && match.callbackGone {
                skipped += 1
                continue
            }
            if dryRun { continue }
            do {
                _ = try await services.redeliver(match.id)
                redelivered += 1
            } catch let error as OutboxError where error.code == .notFound {
                // Deleted by retention since it was matched: nothing to send.
                continue
            } catch let error as OutboxError where error.code == .unavailable {
                throw APIError(status: 503, code: "store_unavailable", message: "the store cannot take writes now; retry later")
            }
        }
        return JSONResponse.make(
            status: .ok, BulkRedeliverResponse(matched: matches.total, redelivered: redelivered, skipped_gone: skipped))
    }

    func bulkDiscard(_ request: Request) async throws -> Response {
        let (filter, dryRun) = try await bulkFilter(request, allowed: [.pending])
        let matches = try await storeCall { try await operations.deliveries.bulkMatches(filter, limit: Self.bulkLimit) }
        var discarded = 0
        if !dryRun {
            discarded = try await storeCall { try await operations.discard(matches.events, Self.discardReason) }.count
        }
        return JSONResponse.make(status: .ok, BulkDiscardResponse(matched: matches.total, discarded: discarded))
    }

    /// The JSON body of a bulk route: a filter whose `state` is required and one of `allowed`.
    private func bulkFilter(_ request: Request, allowed: [DeliveryState]) async throws -> (DeliveryFilter, Bool) {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type == "application/json" || type.hasPrefix("application/json;") else {
            throw APIError(status: 415, code: "unsupported_media_type", message: "Content-Type must be application/json")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: APIRoutes.maxBody)
        let body: BulkRequest
        do {
            body = try JSONDecoder().decode(BulkRequest.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError(status: 400, code: "invalid_request", message: "the body must be a JSON object with the filter fields")
        }
        let names = allowed.map(\.rawValue).joined(separator: ", ")
        guard let stateText = body.state, let state = DeliveryState(rawValue: stateText), allowed.contains(state) else {
            throw APIError(status: 400, code: "invalid_request", message: "state is required: one of \(names)", field: "state")
        }
        let filter = try ListingParameters.deliveryFilter(
            state: state.rawValue, jobID: body.job_id, event: body.event, origin: body.origin, since: body.since,
            until: body.until, now: services.clock.now)
        return (filter, body.dry_run ?? false)
    }

    /// Runs a store call, turning an unreachable store into the contract's 503.
    private func storeCall<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as OutboxError where error.code == .unavailable {
            throw APIError(status: 503, code: "store_unavailable", message: "the store cannot be read now; retry later")
        } catch let error as JobStoreError where error.code == .unavailable {
            throw APIError(status: 503, code: "store_unavailable", message: "the store cannot be read now; retry later")
        }
    }
}
