import Logging
import PostgresNIO
public import WebhookCore

extension PostgresOutboxStore {
    public func oldestPendingCreatedAt() async throws(OutboxError) -> Timestamp? {
        let logger = self.logger
        // One probe of the pending-age index.
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            try await connection.query(
                "SELECT created_at FROM webhook_events WHERE state = 'pending' ORDER BY created_at LIMIT 1", logger: logger
            ).collect().first.map { Timestamp(milliseconds: try $0.decode(Int64.self)) }
        }
    }

    public func newestEvent(ofJob jobID: String) async throws(OutboxError) -> EventHistory? {
        let logger = self.logger
        // One probe of the (job_id, sequence) index.
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: PostgresEventRow.columns()) FROM webhook_events WHERE job_id = \(jobID)
                ORDER BY sequence DESC LIMIT 1
                """, logger: logger
            ).collect()
            guard let row = rows.first else { return nil }
            let cells = row.makeRandomAccess()
            return EventHistory(
                event: try PostgresEventRow.event(from: cells, body: nil), attempts: [],
                lastStatusCode: try cells["last_status_code"].decode(Int32?.self).map(Int.init),
                finalReason: try cells["final_reason"].decode(String?.self))
        }
    }

    public func history(of id: EventID) async throws(OutboxError) -> EventHistory? {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            try await Self.history(of: id, on: connection, logger: logger)
        }
    }

    public func histories(ofJob jobID: String) async throws(OutboxError) -> [EventHistory] {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            // Bodies stay in the database: listings show states and attempts.
            let rows = try await connection.query(
                """
                SELECT \(unescaped: PostgresEventRow.columns()) FROM webhook_events WHERE job_id = \(jobID)
                ORDER BY sequence
                """, logger: logger
            ).collect()
            let attemptRows = try await connection.query(
                """
                SELECT a.event_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error, a.outcome
                FROM webhook_attempts a JOIN webhook_events e ON e.event_id = a.event_id
                WHERE e.job_id = \(jobID) ORDER BY a.event_id, a.attempt
                """, logger: logger
            ).collect()
            var later = [String: [AttemptRecord]]()
            for row in attemptRows {
                let cells = row.makeRandomAccess()
                later[try cells["event_id"].decode(String.self), default: []].append(try PostgresEventRow.attempt(from: cells))
            }
            return try rows.map { row in
                let cells = row.makeRandomAccess()
                let eventID = try cells["event_id"].decode(String.self)
                return try PostgresEventRow.history(from: cells, body: nil, later: later[eventID] ?? [])
            }
        }
    }

    public func pendingCount() async throws(OutboxError) -> Int {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            Int(
                try await connection.query("SELECT count(*) FROM webhook_events WHERE state = 'pending'", logger: logger)
                    .collect().first?.decode(Int64.self) ?? 0)
        }
    }

    /// One event with its body and attempts, read on `connection`.
    static func history(of id: EventID, on connection: PostgresConnection, logger: Logger) async throws -> EventHistory? {
        let rows = try await connection.query(
            "SELECT \(unescaped: PostgresEventRow.columns()), body FROM webhook_events WHERE event_id = \(id.description)",
            logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let later = try await connection.query(
            """
            SELECT event_id, attempt, started_at, duration_ms, status_code, error, outcome FROM webhook_attempts
            WHERE event_id = \(id.description) ORDER BY attempt
            """, logger: logger
        ).collect().map { try PostgresEventRow.attempt(from: $0.makeRandomAccess()) }
        let cells = row.makeRandomAccess()
        let body = Array(try cells["body"].decode(ByteBuffer.self).readableBytesView)
        return try PostgresEventRow.history(from: cells, body: body, later: later)
    }

    /// PostgreSQL's plan for a query (for tests that hold reads and claims to their indices).
    public func queryPlan(_ sql: String) async throws(OutboxError) -> String {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + sql), logger: logger).collect()
                .map { try $0.decode(String.self) }.joined(separator: "\n")
        }
    }
}
