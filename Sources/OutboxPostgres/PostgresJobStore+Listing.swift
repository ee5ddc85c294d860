import PostgresNIO
import WebhookCore
public import WorkerCore

/// `GET /ai-clipping/jobs` on PostgreSQL: newest first, one range of an index of schema
/// version 2 per page.
extension PostgresJobStore: JobListing {
    /// The listing's statement for `filter` after `cursor`, with `limit`.
    static func listing(_ filter: JobFilter, after cursor: JobCursor?, limit: Int) -> PostgresQuery {
        var query = PostgresDeliveryQuery()
        if let status = filter.status { query.add("status = \(query.parameter(status.rawValue))") }
        // The same expressions as the indices, so the planner matches them.
        if let external = filter.externalJobID {
            query.add("((spec_json::jsonb) ->> 'external_job_id') = \(query.parameter(external))")
        }
        if let owner = filter.ownerUserID { query.add("((spec_json::jsonb) ->> 'owner_user_id') = \(query.parameter(owner))") }
        if let since = filter.since { query.add("created_at >= \(query.parameter(since.milliseconds))") }
        if let cursor {
            query.add("(created_at, job_id) < (\(query.parameter(cursor.createdAt.milliseconds)), \(query.parameter(cursor.jobID)))")
        }
        let limitParameter = query.parameter(Int64(limit))
        return query.query(
            "SELECT \(columns) FROM jobs \(query.whereClause) ORDER BY created_at DESC, job_id DESC LIMIT \(limitParameter)")
    }

    public func jobs(matching filter: JobFilter, after cursor: JobCursor?, limit: Int) async throws(JobStoreError) -> [JobRecord] {
        let query = Self.listing(filter, after: cursor, limit: limit)
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection(timeout: outbox.configuration.requestTimeout) { connection in
                try await connection.query(query, logger: logger).collect().map { try Self.record(from: $0.makeRandomAccess()) }
            }
        } catch {
            throw JobStoreError(error.code == .unavailable ? .unavailable : .storage, error.description)
        }
    }

    /// PostgreSQL's plan for the job listing of `filter` (tests and README).
    public func listingPlan(_ filter: JobFilter) async throws(JobStoreError) -> String {
        let listing = Self.listing(filter, after: nil, limit: 100)
        let query = PostgresQuery(unsafeSQL: "EXPLAIN " + listing.sql, binds: listing.binds)
        let logger = outbox.logger
        do {
            return try await outbox.database.withConnection(timeout: outbox.configuration.requestTimeout) { connection in
                try await connection.query(query, logger: logger).collect().map { try $0.decode(String.self) }.joined(separator: "\n")
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }
}
