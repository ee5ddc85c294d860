import WebhookCore
import WorkerCore

/// Reads the filters of the listing and bulk routes (SPEC section 4) from query parameters or a
/// JSON body, with the contract's 400 (`invalid_request`, naming the field) for a bad value.
enum ListingParameters {
    /// The default and the bounds of `limit`.
    static let defaultLimit = 100
    static let maxLimit = 1000

    /// A time given as ISO 8601 (`2025-01-15T10:31:00Z`) or as a duration back from `now`
    /// (`90s`, `30m`, `2h`, `7d`, decimals allowed).
    static func time(_ text: String?, field: String, now: Timestamp) throws(APIError) -> Timestamp? {
        guard let text, !text.isEmpty else { return nil }
        if let time = Timestamp(iso8601: text) { return time }
        if let seconds = durationSeconds(text) { return Timestamp(milliseconds: now.milliseconds - Int64(seconds * 1000)) }
        throw APIError(
            status: 400, code: "invalid_request", message: "\(field) must be an ISO 8601 time or a duration such as 2h, 30m or 7d",
            field: field)
    }

    /// `90s`, `30m`, `2h`, `7d` (decimals allowed) in seconds; nil when malformed.
    static func durationSeconds(_ text: String) -> Double? {
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0, value.isFinite, value < 1e7 else {
            return nil
        }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86400
        default: return nil
        }
    }

    /// `limit` in 1…1000, 100 when absent.
    static func limit(_ text: String?) throws(APIError) -> Int {
        guard let text else { return defaultLimit }
        guard let value = Int(text), (1...maxLimit).contains(value) else {
            throw APIError(status: 400, code: "invalid_request", message: "limit must be an integer from 1 to \(maxLimit)", field: "limit")
        }
        return value
    }

    /// A delivery filter from its fields; `state` is checked by the caller against what the
    /// route allows.
    static func deliveryFilter(
        state: String?, jobID: String?, event: String?, origin: String?, since: String?, until: String?, now: Timestamp
    ) throws(APIError) -> DeliveryFilter {
        var filter = DeliveryFilter()
        if let state, !state.isEmpty {
            guard let parsed = DeliveryState(rawValue: state) else {
                throw APIError(
                    status: 400, code: "invalid_request",
                    message: "state must be one of " + DeliveryState.allCases.map(\.rawValue).joined(separator: ", "), field: "state")
            }
            filter.state = parsed
        }
        if let jobID, !jobID.isEmpty { filter.jobID = jobID }
        if let event, !event.isEmpty {
            guard let kind = EventKind(rawValue: event) else {
                throw APIError(
                    status: 400, code: "invalid_request",
                    message: "event must be one of job.started, job.progress, job.completed, job.failed", field: "event")
            }
            filter.kind = kind
        }
        if let origin, !origin.isEmpty {
            guard let parsed = Origin(url: origin), parsed.scheme == "http" || parsed.scheme == "https" else {
                throw APIError(
                    status: 400, code: "invalid_request", message: "origin must be an http(s) URL such as https://hooks.example.com",
                    field: "origin")
            }
            filter.origin = parsed
        }
        filter.since = try time(since, field: "since", now: now)
        filter.until = try time(until, field: "until", now: now)
        return filter
    }

    /// A job filter from its fields.
    static func jobFilter(status: String?, externalJobID: String?, ownerUserID: String?, since: String?, now: Timestamp)
        throws(APIError) -> JobFilter
    {
        var filter = JobFilter()
        if let status, !status.isEmpty {
            guard let parsed = JobStatus(rawValue: status) else {
                throw APIError(
                    status: 400, code: "invalid_request",
                    message: "status must be one of " + JobStatus.allCases.map(\.rawValue).joined(separator: ", "), field: "status")
            }
            filter.status = parsed
        }
        if let externalJobID, !externalJobID.isEmpty { filter.externalJobID = externalJobID }
        if let ownerUserID, !ownerUserID.isEmpty { filter.ownerUserID = ownerUserID }
        filter.since = try time(since, field: "since", now: now)
        return filter
    }
}

/// The body of `POST /deliveries/redeliver` and `POST /deliveries/discard`.
struct BulkRequest: Decodable {
    var state: String?
    var job_id: String?
    var event: String?
    var origin: String?
    var since: String?
    var until: String?
    var dry_run: Bool?
}
