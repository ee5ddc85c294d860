import Foundation
import GRDB
@testable import OutboxSQLite
import Testing
import WebhookCore

/// The schema's migrations and what they cost the statements of every delivery.
@Suite(.timeLimit(.minutes(1)))
struct OutboxSchemaTests {
    let path = NSTemporaryDirectory() + "outbox-schema-\(UUID().uuidString).sqlite"
    let t0 = Timestamp(milliseconds: 1_700_000_000_000)

    /// A CHECK such as `state IN ('pending', …)` (more than two values) makes SQLite build an
    /// ephemeral index each time a statement writing that column runs.
    @Test func deliveryStatementsBuildNoEphemeralTable() async throws {
        let store = try SQLiteOutboxStore(path: path)
        defer { store.close() }
        for sql in OutboxStatements.all {
            let opcodes = try await store.opcodes(of: sql)
            #expect(!opcodes.isEmpty)
            #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
        }
    }

    @Test func theChecksStillRefuseUnknownValues() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let stored = try await store.append([draft()], at: t0)
        store.close()
        let queue = try DatabaseQueue(path: path)
        let id = try #require(stored.first?.id.description)
        for statement in [
            "UPDATE webhook_events SET state = 'lost' WHERE event_id = ?",
            "UPDATE webhook_events SET event_type = 'job.paused' WHERE event_id = ?",
            "UPDATE webhook_events SET first_outcome = 'maybe' WHERE event_id = ?",
            "INSERT INTO webhook_attempts (event_id, attempt, started_at, duration_ms, outcome) VALUES (?, 2, 0, 0, 'maybe')",
        ] {
            await #expect(throws: DatabaseError.self) { try await queue.write { try $0.execute(sql: statement, arguments: [id]) } }
        }
        // NULL passes, as it did with `IN`.
        try await queue.write {
            try $0.execute(sql: "UPDATE webhook_events SET first_outcome = NULL WHERE event_id = ?", arguments: [id])
        }
    }

    /// A database written before the rebuild keeps its events, attempts and indexes.
    @Test func rebuildKeepsTheRowsOfAnEarlierVersion() async throws {
        let pool = try DatabasePool(path: path)
        try OutboxSchema.migrator.migrate(pool, upTo: "v3-webhook-jobs")
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO webhook_events (event_id, job_id, sequence, event_type, callback_url, body, state,
                        attempt_count, created_at, series_started_at, series_attempts, next_attempt_at, updated_at,
                        first_started_at, first_duration_ms, first_status_code, first_outcome)
                    VALUES ('evt_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'job-1', 1, 'job.progress', 'https://example.com/hook',
                        X'7B7D', 'pending', 2, 1, 1, 2, 5000, 2, 1, 30, 503, 'retrying');
                    INSERT INTO webhook_attempts (event_id, attempt, started_at, duration_ms, status_code, outcome)
                    VALUES ('evt_01HZZZZZZZZZZZZZZZZZZZZZZZ', 2, 2000, 40, 503, 'retrying');
                    INSERT INTO webhook_jobs (job_id) VALUES ('job-1');
                    """)
        }
        try pool.close()

        let store = try SQLiteOutboxStore(path: path)
        defer { store.close() }
        let id = try #require(EventID("evt_01HZZZZZZZZZZZZZZZZZZZZZZZ"))
        let history = try #require(try await store.history(of: id))
        #expect(history.event.state == .pending && history.event.attempts == 2 && history.event.body == Array("{}".utf8))
        #expect(history.attempts.map(\.attempt) == [1, 2])
        #expect(history.attempts.map(\.statusCode) == [503, 503])
        #expect(try await store.pendingCount() == 1)
        // The next event of the job follows the kept one.
        let next = try await store.append([draft()], at: t0)
        #expect(next.map(\.sequence) == [2])
        let plan = try await store.queryPlan(
            "SELECT created_at FROM webhook_events WHERE state = 'pending' ORDER BY id LIMIT 1", arguments: [])
        #expect(plan.contains("webhook_events_pending"))
    }

    func draft(job: String = "job-1") -> EventDraft {
        EventDraft(kind: .progress, jobID: job, callbackURL: "https://example.com/hook", encodedSnapshot: Array("{}".utf8))
    }
}
