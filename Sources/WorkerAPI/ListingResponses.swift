import WebhookCore
import WorkerCore

/// `GET /deliveries`: events across jobs, each as in a job's deliveries plus `job_id` and the
/// redacted `callback_url` (SPEC sections 4 and 7). The CLI and the operations page read it.
public struct DeliveryListResponse: Codable, Sendable {
    public struct Event: Codable, Sendable {
        public var event_id: String
        public var job_id: String
        public var event: String
        public var sequence: Int64
        public var state: String
        public var callback_url: String
        public var created_at: String
        /// When the next attempt is due, while pending; null otherwise.
        public var next_attempt_at: String?
        public var final_reason: String?
        public var attempts: [DeliveriesResponse.Attempt]

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(event_id, forKey: .event_id)
            try container.encode(job_id, forKey: .job_id)
            try container.encode(event, forKey: .event)
            try container.encode(sequence, forKey: .sequence)
            try container.encode(state, forKey: .state)
            try container.encode(callback_url, forKey: .callback_url)
            try container.encode(created_at, forKey: .created_at)
            try container.encode(next_attempt_at, forKey: .next_attempt_at)
            try container.encode(final_reason, forKey: .final_reason)
            try container.encode(attempts, forKey: .attempts)
        }

        enum CodingKeys: CodingKey {
            case event_id, job_id, event, sequence, state, callback_url, created_at, next_attempt_at, final_reason, attempts
        }

        init(_ history: EventHistory) {
            let event = history.event
            event_id = event.id.description
            job_id = event.jobID
            self.event = event.kind.rawValue
            sequence = event.sequence
            state = event.state.rawValue
            callback_url = URLRedaction.redact(event.callbackURL)
            created_at = event.createdAt.iso8601
            next_attempt_at = event.state == .pending ? event.nextAttemptAt.iso8601 : nil
            final_reason = history.finalReason
            attempts = DeliveriesResponse([history]).events.first?.attempts ?? []
        }
    }

    public var events: [Event]
    public var next_cursor: String?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(events, forKey: .events)
        try container.encode(next_cursor, forKey: .next_cursor)
    }

    enum CodingKeys: CodingKey { case events, next_cursor }
}

/// `GET /ai-clipping/jobs`: jobs newest first, each as `GET /ai-clipping/jobs/{id}` without
/// `last_delivery` (one query per page, not one per job).
struct JobListResponse: Encodable {
    var jobs: [JobResponse]
    var next_cursor: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jobs, forKey: .jobs)
        try container.encode(next_cursor, forKey: .next_cursor)
    }

    enum CodingKeys: CodingKey { case jobs, next_cursor }
}

/// `POST /deliveries/redeliver` (the CLI decodes it too).
public struct BulkRedeliverResponse: Codable, Sendable {
    public var matched: Int
    public var redelivered: Int
    public var skipped_gone: Int
}

/// `POST /deliveries/discard` (the CLI decodes it too).
public struct BulkDiscardResponse: Codable, Sendable {
    public var matched: Int
    public var discarded: Int
}
