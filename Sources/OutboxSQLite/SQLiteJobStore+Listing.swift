import GRDB
import WebhookCore
public import WorkerCore

/// `GET /ai-clipping/jobs` on SQLite: newest first, one range of an index of migration
/// `v5-delivery-listing` per page (status, `external_job_id`, `owner_user_id` or time alone).
extension SQLiteJobStore: JobListing {
    /// The listing's statement and arguments for `filter` after `cursor`.
    static func listing(_ filter: JobFilter, after cursor: JobCursor?) -> (sql: String, arguments: [DatabaseValue]) {
        var conditions = [String]()
        var arguments = [DatabaseValue]()
        if let status = filter.status {
            conditions.append("status = ?")
            arguments.append(status.rawValue.databaseValue)
        }
        // The same expressions as the indices, so SQLite matches them.
        if let external = filter.externalJobID {
            conditions.append("json_extract(spec_json, '$.external_job_id') = ?")
            arguments.append(external.databaseValue)
        }
        if let owner = filter.ownerUserID {
            conditions.append("json_extract(spec_json, '$.owner_user_id') = ?")
            arguments.append(owner.databaseValue)
        }
        if let since = filter.since {
            conditions.append("created_at >= ?")
            arguments.append(since.milliseconds.databaseValue)
        }
        if let cursor {
            conditions.append("(created_at, job_id) < (?, ?)")
            arguments.append(cursor.createdAt.milliseconds.databaseValue)
            arguments.append(cursor.jobID.databaseValue)
        }
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT * FROM jobs \(clause) ORDER BY created_at DESC, job_id DESC LIMIT ?", arguments)
    }

    public func jobs(matching filter: JobFilter, after cursor: JobCursor?, limit: Int) async throws(JobStoreError) -> [JobRecord] {
        let (sql, arguments) = Self.listing(filter, after: cursor)
        do {
            return try await outbox.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments + [limit.databaseValue]))
                    .map(Self.record(from:))
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }

    /// SQLite's plan for the job listing of `filter` (tests and README).
    public func listingPlan(_ filter: JobFilter) async throws(JobStoreError) -> String {
        let (sql, arguments) = Self.listing(filter, after: nil)
        do {
            return try await outbox.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(arguments + [100.databaseValue]))
                    .map { $0["detail"] as String }.joined(separator: "\n")
            }
        } catch {
            throw JobStoreError(.storage, error.description)
        }
    }
}
