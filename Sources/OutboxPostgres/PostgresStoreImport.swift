public import Logging
public import PostgresNIO
public import WorkerCore
public import WebhookCore

/// Moves an embedded store's rows into the shared store (`clipping-worker import-sqlite`), ids and
/// sequences kept, in one transaction: a failure leaves the database as it was.
///
/// A job whose id is already in the database (an import run twice) or whose idempotency key is
/// taken is skipped with its events. Imported jobs hold no lease: unfinished ones are claimed by
/// whichever worker has a free slot (a job taken over runs again from its start, SPEC section 8),
/// and pending events by whichever worker claims their job; running workers hear of them at commit.
public enum PostgresStoreImport {
    /// What was moved.
    public struct Report: Sendable, Equatable {
        public var jobs = 0
        public var unfinishedJobs = 0
        public var skippedJobs = 0
        public var events = 0
        public var pendingEvents = 0
        public var attempts = 0
    }

    /// Writes `export` into the migrated database behind `client`.
    public static func run(_ export: StoreExport, client: PostgresClient, logger: Logger) async throws(OutboxError) -> Report {
        do {
            return try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let report = try await write(export, on: connection, logger: logger)
                    try await connection.query(
                        "SELECT pg_notify(\(PostgresWorkListener.channel), \(PostgresWorkListener.jobPayload))", logger: logger)
                    try await connection.query(
                        "SELECT pg_notify(\(PostgresWorkListener.channel), \(PostgresWorkListener.eventsPayload))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                    return report
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            throw StoreDatabase.outboxError(error, code: .writeFailed)
        }
    }

    private static func write(_ export: StoreExport, on connection: PostgresConnection, logger: Logger) async throws -> Report {
        var report = Report()
        var imported = Set<String>()
        for job in export.jobs {
            let rows = try await connection.query(
                """
                INSERT INTO jobs (job_id, spec_json, status, progress_percent, current_step, clips_completed, total_clips,
                    error, output_json, cancel_requested, idempotency_key, request_digest, created_at, updated_at)
                VALUES (\(job.jobID), \(job.specJSON), \(job.status), \(job.progressPercent), \(job.currentStep),
                    \(job.clipsCompleted), \(job.totalClips), \(job.error), \(job.outputJSON), \(job.cancelRequested),
                    \(job.idempotencyKey), \(job.requestDigest), \(job.createdAt), \(job.updatedAt))
                ON CONFLICT DO NOTHING
                RETURNING job_id
                """, logger: logger)
            var inserted = false
            for try await _ in rows { inserted = true }
            if inserted {
                imported.insert(job.jobID)
                report.jobs += 1
                if job.isUnfinished { report.unfinishedJobs += 1 }
            } else {
                report.skippedJobs += 1
            }
        }
        var importedEvents = Set<String>()
        var nextSequence = [String: Int64]()
        var nextDue = [String: Int64]()
        for event in export.events where imported.contains(event.jobID) {
            try await connection.query(
                """
                INSERT INTO webhook_events (event_id, job_id, sequence, event_type, callback_url, body, state,
                    attempt_count, created_at, series_started_at, series_attempts, next_attempt_at, last_status_code,
                    final_reason, updated_at, redelivered, first_started_at, first_duration_ms, first_status_code,
                    first_error, first_outcome, trace)
                VALUES (\(event.eventID), \(event.jobID), \(event.sequence), \(event.eventType), \(event.callbackURL),
                    \(ByteBuffer(bytes: event.body)), \(event.state), \(event.attemptCount), \(event.createdAt),
                    \(event.seriesStartedAt), \(event.seriesAttempts), \(event.nextAttemptAt), \(event.lastStatusCode),
                    \(event.finalReason), \(event.updatedAt), \(event.redelivered), \(event.firstStartedAt),
                    \(event.firstDurationMs), \(event.firstStatusCode), \(event.firstError), \(event.firstOutcome), \(event.trace))
                """, logger: logger)
            importedEvents.insert(event.eventID)
            report.events += 1
            nextSequence[event.jobID] = max(nextSequence[event.jobID] ?? 1, event.sequence + 1)
            if event.state == DeliveryState.pending.rawValue {
                report.pendingEvents += 1
                nextDue[event.jobID] = min(nextDue[event.jobID] ?? .max, event.nextAttemptAt)
            }
        }
        for attempt in export.attempts where importedEvents.contains(attempt.eventID) {
            try await connection.query(
                """
                INSERT INTO webhook_attempts (event_id, attempt, started_at, duration_ms, status_code, error, outcome)
                VALUES (\(attempt.eventID), \(attempt.attempt), \(attempt.startedAt), \(attempt.durationMs),
                    \(attempt.statusCode), \(attempt.error), \(attempt.outcome))
                """, logger: logger)
            report.attempts += 1
        }
        var facts = [String: StoreExport.WebhookJob]()
        for job in export.webhookJobs where imported.contains(job.jobID) { facts[job.jobID] = job }
        for jobID in imported where facts[jobID] != nil || nextSequence[jobID] != nil {
            let fact = facts[jobID]
            try await connection.query(
                """
                INSERT INTO webhook_jobs (job_id, next_sequence, terminal_stored, gone, gone_at, next_due_at)
                VALUES (\(jobID), \(nextSequence[jobID] ?? 1), \(fact?.terminalStored ?? false), \(fact?.gone ?? false),
                    \(fact?.gone == true ? fact?.goneAt : nil), \(nextDue[jobID]))
                """, logger: logger)
        }
        return report
    }
}
