import Logging
import PostgresNIO
public import WebhookCore

/// Listings across jobs, bulk matching and discarding on PostgreSQL (SPEC sections 4 and 9),
/// backed by the indices of schema version 2 (and the pending indices of version 1). Reads have
/// the API's shorter `requestTimeout`.
extension PostgresOutboxStore: DeliveryListing {
    static func listingSQL(_ query: inout PostgresDeliveryQuery, limit: Int) -> String {
        let limitParameter = query.parameter(Int64(limit))
        return """
            SELECT \(PostgresEventRow.columns(prefix: "e.")) FROM webhook_events e \(query.whereClause)
            \(PostgresDeliveryQuery.order) LIMIT \(limitParameter)
            """
    }

    /// PostgreSQL's plan for the listing of `filter` (for the tests and the README).
    public func listingPlan(_ filter: DeliveryFilter, after cursor: DeliveryCursor? = nil) async throws(OutboxError) -> String {
        var query = PostgresDeliveryQuery(filter, after: cursor)
        // The SQL first: building it binds the limit, which the query must then carry.
        let sql = "EXPLAIN " + Self.listingSQL(&query, limit: 100)
        let explain = query.query(sql)
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            try await connection.query(explain, logger: logger).collect().map { try $0.decode(String.self) }
                .joined(separator: "\n")
        }
    }

    public func events(matching filter: DeliveryFilter, after cursor: DeliveryCursor?, limit: Int) async throws(OutboxError)
        -> [EventHistory]
    {
        var query = PostgresDeliveryQuery(filter, after: cursor)
        let sql = Self.listingSQL(&query, limit: limit)
        let listing = query.query(sql)
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            let rows = try await connection.query(listing, logger: logger).collect()
            let ids = try rows.map { try $0.makeRandomAccess()["event_id"].decode(String.self) }
            var later = [String: [AttemptRecord]]()
            if !ids.isEmpty {
                let attemptRows = try await connection.query(
                    """
                    SELECT event_id, attempt, started_at, duration_ms, status_code, error, outcome FROM webhook_attempts
                    WHERE event_id = ANY(\(ids)::text[]) ORDER BY event_id, attempt
                    """, logger: logger
                ).collect()
                for row in attemptRows {
                    let cells = row.makeRandomAccess()
                    later[try cells["event_id"].decode(String.self), default: []].append(try PostgresEventRow.attempt(from: cells))
                }
            }
            return try rows.map { row in
                let cells = row.makeRandomAccess()
                let id = try cells["event_id"].decode(String.self)
                return try PostgresEventRow.history(from: cells, body: nil, later: later[id] ?? [])
            }
        }
    }

    public func bulkMatches(_ filter: DeliveryFilter, limit: Int) async throws(OutboxError) -> BulkMatches {
        let counting = PostgresDeliveryQuery(filter)
        let count = counting.query("SELECT count(*) FROM webhook_events e \(counting.whereClause)")
        var matching = PostgresDeliveryQuery(filter)
        let limitParameter = matching.parameter(Int64(limit))
        let select = matching.query(
            """
            SELECT e.event_id, e.job_id, e.event_type, COALESCE(j.gone, false)
            FROM webhook_events e LEFT JOIN webhook_jobs j ON j.job_id = e.job_id
            \(matching.whereClause) \(PostgresDeliveryQuery.order) LIMIT \(limitParameter)
            """)
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            let total = try await connection.query(count, logger: logger).collect().first?.decode(Int64.self) ?? 0
            let rows = try await connection.query(select, logger: logger)
            var events = [BulkMatch]()
            for try await (idText, jobID, type, gone) in rows.decode((String, String, String, Bool).self) {
                guard let id = EventID(idText), let kind = EventKind(rawValue: type) else {
                    throw OutboxError(.corrupt, "unreadable event row \(idText)")
                }
                events.append(BulkMatch(id: id, jobID: jobID, kind: kind, callbackGone: gone))
            }
            return BulkMatches(total: Int(total), events: events)
        }
    }

    /// Ends pending events of jobs that no other live worker holds (another worker's dispatcher
    /// would still send what it holds in memory; the caller's own dispatcher ended what it held
    /// before calling this), and recomputes those jobs' due times.
    public func discard(_ ids: [EventID], reason: String, at time: Timestamp) async throws(OutboxError) -> [EventID] {
        guard !ids.isEmpty else { return [] }
        let (owner, logger) = (self.owner, self.logger)
        let texts = ids.map(\.description)
        let ended = try await database.transaction { connection -> [String] in
            let rows = try await connection.query(
                """
                WITH free AS (
                    SELECT j.job_id FROM webhook_jobs j
                    WHERE j.job_id IN (SELECT job_id FROM webhook_events WHERE event_id = ANY(\(texts)::text[]))
                        AND (j.lease_until IS NULL OR j.lease_until < now() OR j.lease_owner = \(owner))
                    ORDER BY j.job_id FOR NO KEY UPDATE),
                ended AS (
                    UPDATE webhook_events e
                    SET state = CASE WHEN e.event_type IN ('job.completed', 'job.failed') THEN 'failed' ELSE 'dropped' END,
                        final_reason = \(reason), updated_at = \(time.milliseconds)
                    WHERE e.event_id = ANY(\(texts)::text[]) AND e.state = 'pending'
                        AND e.job_id IN (SELECT job_id FROM free)
                    RETURNING e.event_id, e.job_id)
                SELECT event_id, job_id FROM ended
                """, logger: logger)
            var ended = [String]()
            var jobs = Set<String>()
            for try await (eventID, jobID) in rows.decode((String, String).self) {
                ended.append(eventID)
                jobs.insert(jobID)
            }
            if !jobs.isEmpty {
                try await connection.query(
                    """
                    UPDATE webhook_jobs j SET next_due_at = (
                        SELECT min(e.next_attempt_at) FROM webhook_events e WHERE e.job_id = j.job_id AND e.state = 'pending')
                    WHERE j.job_id = ANY(\(Array(jobs))::text[])
                    """, logger: logger)
            }
            return ended
        }
        return ended.compactMap { EventID($0) }
    }

    public func depthByState() async throws(OutboxError) -> [DeliveryState: Int] {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            var depth = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0, 0) })
            // One count per state, each a range of the (state, created_at, event_id) index.
            for state in DeliveryState.allCases {
                let count = try await connection.query(
                    "SELECT count(*) FROM webhook_events WHERE state = \(state.rawValue)", logger: logger
                ).collect().first?.decode(Int64.self) ?? 0
                depth[state] = Int(count)
            }
            return depth
        }
    }

    public func headOfLine(limit: Int) async throws(OutboxError) -> [HeadOfLineEntry] {
        let logger = self.logger
        return try await database.withConnection(timeout: configuration.requestTimeout) { connection in
            // The partial pending index on (job_id, sequence) holds pending events only.
            let rows = try await connection.query(
                """
                SELECT \(unescaped: PostgresEventRow.columns(prefix: "e.")), h.waiting
                FROM (SELECT job_id, min(sequence) AS head, count(*) - 1 AS waiting
                      FROM webhook_events WHERE state = 'pending' GROUP BY job_id HAVING count(*) > 1) h
                JOIN webhook_events e ON e.job_id = h.job_id AND e.sequence = h.head
                ORDER BY e.created_at LIMIT \(Int64(limit))
                """, logger: logger
            ).collect()
            return try rows.map { row in
                let cells = row.makeRandomAccess()
                return HeadOfLineEntry(
                    blocking: try PostgresEventRow.history(from: cells, body: nil, later: []),
                    waiting: Int(try cells["waiting"].decode(Int64.self)))
            }
        }
    }
}
