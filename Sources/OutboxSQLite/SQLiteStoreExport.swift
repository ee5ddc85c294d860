import Foundation
import GRDB
public import WorkerCore

extension StoreExport {
    /// Reads every row of the embedded store at `path` in one read transaction (a consistent
    /// picture), after bringing its schema up to this build's (as `serve` would at start).
    /// - Throws: ``StoreExportError`` naming the file and SQLite's reason.
    public static func readSQLite(path: String) throws(StoreExportError) -> StoreExport {
        do {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            try OutboxSchema.migrator.migrate(queue)
            return try queue.read { db in
                var export = StoreExport()
                for row in try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY created_at") {
                    export.jobs.append(
                        Job(
                            jobID: row["job_id"], specJSON: row["spec_json"], status: row["status"],
                            progressPercent: row["progress_percent"], currentStep: row["current_step"],
                            clipsCompleted: row["clips_completed"], totalClips: row["total_clips"], error: row["error"],
                            outputJSON: row["output_json"], cancelRequested: row["cancel_requested"],
                            idempotencyKey: row["idempotency_key"], requestDigest: row["request_digest"],
                            createdAt: row["created_at"], updatedAt: row["updated_at"]))
                }
                for row in try Row.fetchAll(db, sql: "SELECT * FROM webhook_events ORDER BY job_id, sequence") {
                    var event = Event(
                            eventID: row["event_id"], jobID: row["job_id"], sequence: row["sequence"],
                            eventType: row["event_type"], callbackURL: row["callback_url"], body: [UInt8](row["body"] as Data? ?? Data()),
                            state: row["state"], attemptCount: row["attempt_count"], createdAt: row["created_at"],
                            seriesStartedAt: row["series_started_at"], seriesAttempts: row["series_attempts"],
                            nextAttemptAt: row["next_attempt_at"], lastStatusCode: row["last_status_code"],
                            finalReason: row["final_reason"], updatedAt: row["updated_at"], redelivered: row["redelivered"],
                            firstStartedAt: row["first_started_at"], firstDurationMs: row["first_duration_ms"],
                            firstStatusCode: row["first_status_code"], firstError: row["first_error"],
                            firstOutcome: row["first_outcome"])
                    event.trace = row["trace"]
                    export.events.append(event)
                }
                for row in try Row.fetchAll(db, sql: "SELECT * FROM webhook_attempts ORDER BY event_id, attempt") {
                    export.attempts.append(
                        Attempt(
                            eventID: row["event_id"], attempt: row["attempt"], startedAt: row["started_at"],
                            durationMs: row["duration_ms"], statusCode: row["status_code"], error: row["error"],
                            outcome: row["outcome"]))
                }
                for row in try Row.fetchAll(
                    db,
                    sql: """
                        SELECT w.job_id, w.terminal_stored, w.gone, g.gone_at
                        FROM webhook_jobs w LEFT JOIN webhook_gone_jobs g ON g.job_id = w.job_id
                        """)
                {
                    export.webhookJobs.append(
                        WebhookJob(
                            jobID: row["job_id"], terminalStored: row["terminal_stored"], gone: row["gone"],
                            goneAt: row["gone_at"]))
                }
                return export
            }
        } catch let error as DatabaseError {
            throw StoreExportError(path: path, reason: error.message ?? "\(error.resultCode)")
        } catch {
            throw StoreExportError(path: path, reason: "\(error)")
        }
    }
}

/// The embedded store could not be read.
public struct StoreExportError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot read \(path): \(reason)" }
}
