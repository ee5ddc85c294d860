import WebhookCore

/// `GET /ops/api/status`: what the operations page shows besides the section 4 routes, split as
/// SPEC section 9 requires into `store` (store-wide) and `process` (this worker only).
struct OpsStatusResponse: Encodable {
    struct Store: Encodable {
        /// Events per state.
        var depth: [String: Int]
        var oldest_pending_at: String?
        var oldest_pending_age_seconds: Double?
        var head_of_line: [HeadOfLine]
    }

    struct HeadOfLine: Encodable {
        var job_id: String
        var event_id: String
        var event: String
        var sequence: Int64
        var state: String
        var attempts: Int
        var last_status_code: Int?
        var last_error: String?
        var next_attempt_at: String?
        var waiting: Int
        var callback_url: String
    }

    struct Process: Encodable {
        var window_seconds: Int
        var attempts: Int
        var failures: Int
        var attempts_per_second: Double
        var failure_rate: Double?
        var attempts_in_flight: Int
        var paused_origins: Int
        var pending_tracked: Int
        var origins: [OriginRow]
    }

    struct OriginRow: Encodable {
        var origin: String
        var breaker: String
        var success_rate: Double?
        var attempts: Int
        var in_flight: Int
        var waiting_jobs: Int
        var parked_jobs: Int
        var next_probe_at: String?
        var last_error: String?
        var last_error_at: String?
    }

    var generated_at: String
    var token_required: Bool
    var store: Store
    var process: Process

}
