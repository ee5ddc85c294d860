import Foundation
import WebhookCore
import WorkerCore

/// `202` body of a submission (the CLI decodes it too).
public struct SubmitResponse: Codable, Sendable {
    public var job_id: String
    public var status: String
    public var external_job_id: String?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job_id, forKey: .job_id)
        try container.encode(status, forKey: .status)
        try container.encode(external_job_id, forKey: .external_job_id)
    }

    enum CodingKeys: CodingKey { case job_id, status, external_job_id }
}

/// A job as `GET /ai-clipping/jobs/{job_id}` shows it; every key present, null where unknown.
struct JobResponse: Encodable {
    struct LastDelivery: Encodable {
        var event_id: String
        var event: String
        var state: String
        var attempts: Int
        var last_status_code: Int?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(event_id, forKey: .event_id)
            try container.encode(event, forKey: .event)
            try container.encode(state, forKey: .state)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(last_status_code, forKey: .last_status_code)
        }

        enum CodingKeys: CodingKey { case event_id, event, state, attempts, last_status_code }
    }

    var job: JobRecord
    var lastDelivery: LastDelivery?

    enum CodingKeys: String, CodingKey {
        case job_id, external_job_id, owner_user_id, status, progress_percent, current_step, clips_completed,
            total_clips, error, output, created_at, updated_at, last_delivery
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job.id, forKey: .job_id)
        try container.encode(job.spec.externalJobID, forKey: .external_job_id)
        try container.encode(job.spec.ownerUserID, forKey: .owner_user_id)
        try container.encode(job.status.rawValue, forKey: .status)
        try container.encode(job.progressPercent, forKey: .progress_percent)
        try container.encode(job.currentStep, forKey: .current_step)
        try container.encode(job.clipsCompleted, forKey: .clips_completed)
        try container.encode(job.totalClips, forKey: .total_clips)
        try container.encode(job.error, forKey: .error)
        let output = job.outputJSON.flatMap { try? JSONDecoder().decode(JobOutput.self, from: Data($0.utf8)) }
        try container.encode(output, forKey: .output)
        try container.encode(job.createdAt.iso8601, forKey: .created_at)
        try container.encode(job.updatedAt.iso8601, forKey: .updated_at)
        try container.encode(lastDelivery, forKey: .last_delivery)
    }

    init(job: JobRecord, newest: EventHistory?) {
        self.job = job
        lastDelivery = newest.map {
            LastDelivery(
                event_id: $0.event.id.description, event: $0.event.kind.rawValue, state: $0.event.state.rawValue,
                attempts: $0.event.attempts, last_status_code: $0.lastStatusCode)
        }
    }
}

/// `GET /ai-clipping/jobs/{job_id}/deliveries` (the CLI decodes it too).
public struct DeliveriesResponse: Codable, Sendable {
    public struct Event: Codable, Sendable {
        public var event_id: String
        public var event: String
        public var sequence: Int64
        public var state: String
        public var attempts: [Attempt]
    }

    public struct Attempt: Codable, Sendable {
        public var attempt: Int
        public var started_at: String
        public var duration_ms: Int64
        public var status_code: Int?
        public var error: String?
        public var outcome: String

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(attempt, forKey: .attempt)
            try container.encode(started_at, forKey: .started_at)
            try container.encode(duration_ms, forKey: .duration_ms)
            try container.encode(status_code, forKey: .status_code)
            try container.encode(error, forKey: .error)
            try container.encode(outcome, forKey: .outcome)
        }

        enum CodingKeys: CodingKey { case attempt, started_at, duration_ms, status_code, error, outcome }
    }

    public var events: [Event]

    init(_ histories: [EventHistory]) {
        events = histories.map { history in
            Event(
                event_id: history.event.id.description, event: history.event.kind.rawValue,
                sequence: history.event.sequence, state: history.event.state.rawValue,
                attempts: history.attempts.map {
                    Attempt(
                        attempt: $0.attempt, started_at: $0.startedAt.iso8601, duration_ms: $0.durationMs,
                        status_code: $0.statusCode, error: $0.error, outcome: $0.outcome.rawValue)
                })
        }
    }
}
