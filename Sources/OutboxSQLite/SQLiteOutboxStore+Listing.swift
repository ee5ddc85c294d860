import GRDB
public import WebhookCore

/// Listings across jobs, bulk matching and discarding (SPEC sections 4 and 9), each read backed
/// by an index of migration `v5-delivery-listing` (or the pending index of v1).
extension SQLiteOutboxStore: DeliveryListing {
    /// The listing's statement for `filter` (also what tests ask SQLite to plan).
    static func listingSQL(_ query: SQLiteDeliveryQuery) -> String {
        "SELECT \(OutboxSchema.eventColumns) FROM webhook_events e \(query.whereClause) \(SQLiteDeliveryQuery.order) LIMIT ?"
    }

    /// SQLite's plan for the listing of `filter` (for the tests and the README that show it is
    /// index-backed).
    public func listingPlan(_ filter: DeliveryFilter, after cursor: DeliveryCursor? = nil) async throws(OutboxError) -> String {
        let query = SQLiteDeliveryQuery(filter, after: cursor)
        return try await read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN " + Self.listingSQL(query),
                arguments: StatementArguments(query.arguments + [100.databaseValue])
            ).map { $0["detail"] as String }.joined(separator: "\n")
        }
    }

    public func events(matching filter: DeliveryFilter, after cursor: DeliveryCursor?, limit: Int) async throws(OutboxError)
        -> [EventHistory]
    {
        let query = SQLiteDeliveryQuery(filter, after: cursor)
        return try await read { db in
            let rows = try Row.fetchAll(
                db, sql: Self.listingSQL(query), arguments: StatementArguments(query.arguments + [limit.databaseValue]))
            // Attempts after the first, for this page only (primary-key probes).
            let ids = rows.map { $0["event_id"] as String }
            var later = [String: [AttemptRecord]]()
            if !ids.isEmpty {
                let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
                for row in try Row.fetchAll(
                    db, sql: "SELECT * FROM webhook_attempts WHERE event_id IN (\(marks)) ORDER BY event_id, attempt",
                    arguments: StatementArguments(ids))
                {
                    later[row["event_id"], default: []].append(try Self.attempt(from: row))
                }
            }
            return try rows.map { row in
                let event = try Self.event(from: row, body: nil)
                return EventHistory(
                    event: event, attempts: try Self.firstAttempt(in: row) + (later[event.id.description] ?? []),
                    lastStatusCode: row["last_status_code"], finalReason: row["final_reason"])
            }
        }
    }

    public func bulkMatches(_ filter: DeliveryFilter, limit: Int) async throws(OutboxError) -> BulkMatches {
        let query = SQLiteDeliveryQuery(filter)
        return try await read { db in
            let total =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM webhook_events e \(query.whereClause)",
                    arguments: StatementArguments(query.arguments)) ?? 0
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT e.event_id, e.job_id, e.event_type, COALESCE(j.gone, 0) AS gone
                    FROM webhook_events e LEFT JOIN webhook_jobs j ON j.job_id = e.job_id
                    \(query.whereClause) \(SQLiteDeliveryQuery.order) LIMIT ?
                    """,
                arguments: StatementArguments(query.arguments + [limit.databaseValue]))
            return BulkMatches(
                total: total,
                events: try rows.map { row in
                    let text: String = row["event_id"]
                    guard let id = EventID(text), let kind = EventKind(rawValue: row["event_type"]) else {
                        throw OutboxError(.corrupt, "unreadable event row \(text)")
                    }
                    return BulkMatch(id: id, jobID: row["job_id"], kind: kind, callbackGone: row["gone"] as Bool)
                })
        }
    }

    public func discard(_ ids: [EventID], reason: String, at time: Timestamp) async throws(OutboxError) -> [EventID] {
        guard !ids.isEmpty else { return [] }
        let cache = jobCache
        return try await write { db in
            var ended = [EventID]()
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE webhook_events
                    SET state = CASE WHEN event_type = 'job.completed' OR event_type = 'job.failed' THEN 'failed'
                        ELSE 'dropped' END,
                        final_reason = ?, updated_at = ?
                    WHERE event_id = ? AND state = 'pending'
                    RETURNING job_id
                    """)
            for id in ids {
                if let jobID = try String.fetchOne(statement, arguments: [reason, time.milliseconds, id.description]) {
                    cache.forget(jobID)
                    ended.append(id)
                }
            }
            return ended
        }
    }

    public func depthByState() async throws(OutboxError) -> [DeliveryState: Int] {
        try await read { db in
            var depth = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0, 0) })
            // One count per state: pending through the pending index, the others each a range of
            // the partial (state, created_at, event_id) index (its condition named, so it applies).
            for state in DeliveryState.allCases {
                let sql =
                    state == .pending
                    ? "SELECT COUNT(*) FROM webhook_events WHERE state = ?"
                    : "SELECT COUNT(*) FROM webhook_events WHERE state = ? AND state != 'pending'"
                depth[state] = try Int.fetchOne(db, sql: sql, arguments: [state.rawValue]) ?? 0
            }
            return depth
        }
    }

    /// The event columns prefixed `e.`, for a query that joins.
    static let joinedEventColumns = OutboxSchema.eventColumns.split(separator: ",")
        .map { "e." + $0.filter { !$0.isWhitespace } }.joined(separator: ", ")

    public func headOfLine(limit: Int) async throws(OutboxError) -> [HeadOfLineEntry] {
        try await read { db in
            // Pending events only (the partial pending index), grouped per job; then the head row
            // by (job_id, sequence).
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.joinedEventColumns), h.waiting AS waiting
                    FROM (SELECT job_id, MIN(sequence) AS head, COUNT(*) - 1 AS waiting
                          FROM webhook_events WHERE state = 'pending' GROUP BY job_id HAVING COUNT(*) > 1) h
                    JOIN webhook_events e ON e.job_id = h.job_id AND e.sequence = h.head
                    ORDER BY e.created_at LIMIT ?
                    """,
                arguments: [limit])
            return try rows.map { row in
                HeadOfLineEntry(
                    blocking: EventHistory(
                        event: try Self.event(from: row, body: nil), attempts: try Self.firstAttempt(in: row),
                        lastStatusCode: row["last_status_code"], finalReason: row["final_reason"]),
                    waiting: row["waiting"])
            }
        }
    }
}
