/// The statements every delivery runs: one event stored, one attempt recorded (and, on later
/// attempts or other endings, the rest). Kept in one place so a test can check that none of them
/// makes SQLite build an ephemeral table per execution (see
/// ``OutboxSchema/rebuildWithoutValueLists(_:)``).
enum OutboxStatements {
    /// Stores one event.
    static let insertEvent = """
        INSERT INTO webhook_events (event_id, job_id, sequence, event_type, callback_url, body, state,
            created_at, series_started_at, next_attempt_at, final_reason, updated_at, trace)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Creates or updates the job's row when this process first appends for it, or at its terminal event.
    static let upsertJob = """
        INSERT INTO webhook_jobs (job_id, terminal_stored, lease_owner) VALUES (?, ?, ?)
        ON CONFLICT (job_id) DO UPDATE SET
            terminal_stored = MAX(terminal_stored, excluded.terminal_stored),
            lease_owner = excluded.lease_owner
        """

    /// The first attempt, kept in the event's row: a first-try success is this one UPDATE.
    static let firstAttempted = """
        UPDATE webhook_events SET state = ?, attempt_count = MAX(attempt_count, 1),
            series_attempts = series_attempts + 1, next_attempt_at = COALESCE(?, next_attempt_at),
            last_status_code = ?, final_reason = ?, updated_at = ?, first_started_at = ?,
            first_duration_ms = ?, first_status_code = ?, first_error = ?, first_outcome = ?
        WHERE event_id = ?
        """

    /// A later attempt's effect on the event's row (its record goes to ``insertAttempt``).
    static let attempted = """
        UPDATE webhook_events SET state = ?, attempt_count = MAX(attempt_count, ?),
            series_attempts = series_attempts + 1, next_attempt_at = COALESCE(?, next_attempt_at),
            last_status_code = ?, final_reason = ?, updated_at = ?
        WHERE event_id = ?
        """

    /// The record of a later attempt.
    static let insertAttempt = """
        INSERT OR REPLACE INTO webhook_attempts (event_id, attempt, started_at, duration_ms, status_code,
            error, outcome)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """

    /// An event ended without an attempt (superseded, dropped, failed).
    static let finished = "UPDATE webhook_events SET state = ?, final_reason = ?, updated_at = ? WHERE event_id = ?"

    /// A redelivery of an event whose attempt was in flight, recorded after that attempt.
    static let seriesRestarted = """
        UPDATE webhook_events SET state = 'pending', series_started_at = ?, series_attempts = 0,
            next_attempt_at = ?, final_reason = NULL, updated_at = ?, redelivered = 1
        WHERE event_id = ?
        """

    /// Every statement above.
    static let all = [insertEvent, upsertJob, firstAttempted, attempted, insertAttempt, finished, seriesRestarted]
}
