import Logging
import PostgresNIO
import WebhookCore

/// Changes that touch each event at most once, written in one statement: each kind of change is
/// a column-wise `unnest` of arrays in a data-modifying `WITH` (PostgreSQL runs every one of them
/// exactly once, read or not). A statement may not change one row twice, hence the rounds.
///
/// Arrays carry no nulls here (postgres-nio's arrays have non-optional elements), so optional
/// values travel as a sentinel (`-1` status, `Int64.min` time) or with a flag beside them.
struct ChangeRound {
    // .attempted
    private var attemptedIDs: [String] = []
    private var attemptedStates: [String] = []
    private var attemptNumbers: [Int64] = []
    private var nextAttempts: [Int64] = []
    private var statusCodes: [Int64] = []
    private var hasError: [Bool] = []
    private var errors: [String] = []
    private var endsSeries: [Bool] = []
    private var startedAts: [Int64] = []
    private var durations: [Int64] = []
    private var outcomes: [String] = []
    // .finished
    private var finishedIDs: [String] = []
    private var finishedStates: [String] = []
    private var finishedReasons: [String] = []
    private var finishedAts: [Int64] = []
    // .seriesRestarted
    private var restartedIDs: [String] = []
    private var restartedAts: [Int64] = []
    // .callbackGone
    private var goneJobIDs: [String] = []
    private var goneAts: [Int64] = []

    private static let noTime = Int64.min
    private static let noStatus: Int64 = -1

    var isEmpty: Bool { attemptedIDs.isEmpty && finishedIDs.isEmpty && restartedIDs.isEmpty && goneJobIDs.isEmpty }

    mutating func add(_ change: OutboxChange) {
        switch change {
        case .attempted(let id, let record, let next):
            attemptedIDs.append(id.description)
            attemptedStates.append(record.outcome.state.rawValue)
            attemptNumbers.append(Int64(record.attempt))
            nextAttempts.append(next?.milliseconds ?? Self.noTime)
            statusCodes.append(record.statusCode.map(Int64.init) ?? Self.noStatus)
            hasError.append(record.error != nil)
            errors.append(record.error ?? "")
            // As in SQLite: the error becomes the final reason unless delivered or retrying.
            endsSeries.append(record.outcome != .delivered && record.outcome != .retrying)
            startedAts.append(record.startedAt.milliseconds)
            durations.append(record.durationMs)
            outcomes.append(record.outcome.rawValue)
        case .finished(let id, let state, let reason, let time):
            finishedIDs.append(id.description)
            finishedStates.append(state.rawValue)
            finishedReasons.append(reason)
            finishedAts.append(time.milliseconds)
        case .seriesRestarted(let id, let time):
            restartedIDs.append(id.description)
            restartedAts.append(time.milliseconds)
        case .callbackGone(let jobID, let time):
            goneJobIDs.append(jobID)
            goneAts.append(time.milliseconds)
        }
    }

    func write(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            WITH attempt AS (
                SELECT * FROM unnest(\(attemptedIDs)::text[], \(attemptedStates)::text[], \(attemptNumbers)::int8[],
                    \(nextAttempts)::int8[], \(statusCodes)::int8[], \(hasError)::bool[], \(errors)::text[],
                    \(endsSeries)::bool[], \(startedAts)::int8[], \(durations)::int8[], \(outcomes)::text[])
                    AS a(event_id, state, attempt, next_at, status, has_error, error, ends, started_at, duration_ms, outcome)),
            attempted AS (
                UPDATE webhook_events e SET state = a.state,
                    attempt_count = GREATEST(e.attempt_count, a.attempt::int),
                    series_attempts = e.series_attempts + 1,
                    next_attempt_at = COALESCE(NULLIF(a.next_at, \(Self.noTime)), e.next_attempt_at),
                    last_status_code = NULLIF(a.status, \(Self.noStatus))::int,
                    final_reason = CASE WHEN a.ends AND a.has_error THEN a.error END,
                    updated_at = a.started_at + a.duration_ms,
                    first_started_at = CASE WHEN a.attempt = 1 THEN a.started_at ELSE e.first_started_at END,
                    first_duration_ms = CASE WHEN a.attempt = 1 THEN a.duration_ms ELSE e.first_duration_ms END,
                    first_status_code = CASE WHEN a.attempt = 1 THEN NULLIF(a.status, \(Self.noStatus))::int
                        ELSE e.first_status_code END,
                    first_error = CASE WHEN a.attempt = 1 THEN (CASE WHEN a.has_error THEN a.error END)
                        ELSE e.first_error END,
                    first_outcome = CASE WHEN a.attempt = 1 THEN a.outcome ELSE e.first_outcome END
                FROM attempt a WHERE e.event_id = a.event_id),
            later_attempt AS (
                -- The first attempt lives in the event's row; later ones get rows of their own.
                INSERT INTO webhook_attempts (event_id, attempt, started_at, duration_ms, status_code, error, outcome)
                SELECT a.event_id, a.attempt::int, a.started_at, a.duration_ms, NULLIF(a.status, \(Self.noStatus))::int,
                    CASE WHEN a.has_error THEN a.error END, a.outcome
                FROM attempt a WHERE a.attempt > 1
                ON CONFLICT (event_id, attempt) DO UPDATE SET started_at = excluded.started_at,
                    duration_ms = excluded.duration_ms, status_code = excluded.status_code, error = excluded.error,
                    outcome = excluded.outcome),
            finished AS (
                UPDATE webhook_events e SET state = f.state, final_reason = f.reason, updated_at = f.at
                FROM unnest(\(finishedIDs)::text[], \(finishedStates)::text[], \(finishedReasons)::text[],
                    \(finishedAts)::int8[]) AS f(event_id, state, reason, at)
                WHERE e.event_id = f.event_id),
            restarted AS (
                UPDATE webhook_events e SET state = 'pending', series_started_at = r.at, series_attempts = 0,
                    next_attempt_at = r.at, final_reason = NULL, updated_at = r.at, redelivered = true
                FROM unnest(\(restartedIDs)::text[], \(restartedAts)::int8[]) AS r(event_id, at)
                WHERE e.event_id = r.event_id)
            UPDATE webhook_jobs j SET gone = true, gone_at = COALESCE(j.gone_at, g.at)
            FROM unnest(\(goneJobIDs)::text[], \(goneAts)::int8[]) AS g(job_id, at)
            WHERE j.job_id = g.job_id
            """, logger: logger)
    }
}
