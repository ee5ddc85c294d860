import Logging
public import PostgresNIO
import WebhookCore

/// Brings the shared store's schema up to date at start, safely when several workers start at once.
///
/// Everything happens in one transaction that first takes a transaction-level advisory lock: a
/// second worker waits on the lock, then finds the schema current and does nothing. DDL is
/// transactional in PostgreSQL, so a migration that fails leaves no half-made schema. The lock's
/// key is derived from the schema name (`current_schema()`), so deployments in different schemas
/// of one database do not wait for each other.
///
/// ```swift
/// try await PostgresMigrator(client: client, logger: logger).migrate()
/// ```
public struct PostgresMigrator: Sendable {
    private let client: PostgresClient
    private let logger: Logger

    /// Creates a migrator on a running client.
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Applies the migrations the database lacks.
    /// - Parameter timeout: how long to wait for a connection and the migration lock. An
    ///   unreachable server would otherwise hold the start until the pool's circuit breaker gives
    ///   up (15 s of failures, then its back-off: about a minute here); waiting for a connection
    ///   ends when cancelled, so the deadline holds.
    /// - Returns: the schema version now in force.
    /// - Throws: ``PostgresSchemaError`` `.newerSchema` when the database is at a version this
    ///   build does not know (a newer worker migrated it: this one must not run on it), or
    ///   `.unavailable` / `.failed`.
    @discardableResult
    public func migrate(timeout: Duration = .seconds(10)) async throws(PostgresSchemaError) -> Int {
        let outcome = await withTaskGroup(of: Result<Int, PostgresSchemaError>?.self) { group in
            group.addTask {
                do throws(PostgresSchemaError) {
                    return .success(try await migrateNow())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // Nil when cancelled: the migration finished first.
                guard (try? await Task.sleep(for: timeout)) != nil else { return nil }
                return .failure(
                    PostgresSchemaError(.unavailable, "the database did not answer within \(timeout)"))
            }
            var first: Result<Int, PostgresSchemaError>?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first
        }
        guard let outcome else { throw PostgresSchemaError(.unavailable, "the migration was cancelled") }
        return try outcome.get()
    }

    private func migrateNow() async throws(PostgresSchemaError) -> Int {
        do {
            return try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let version = try await migrate(on: connection)
                    try await connection.query("COMMIT", logger: logger)
                    return version
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as PostgresSchemaError {
            throw error
        } catch {
            let details = StoreDatabase.safeDescription(error)
            let unavailable = StoreDatabase.outboxError(error, code: .writeFailed).code == .unavailable
            throw PostgresSchemaError(unavailable ? .unavailable : .failed, details)
        }
    }

    /// The schema version recorded in the database (0 before the first migration).
    public func currentVersion() async throws(PostgresSchemaError) -> Int {
        do {
            return try await client.withConnection { connection in
                let exists = try await connection.query(
                    "SELECT to_regclass('clipping_worker_schema') IS NOT NULL", logger: logger
                ).collect().first?.decode(Bool.self) ?? false
                guard exists else { return 0 }
                return try await connection.query(
                    "SELECT COALESCE(max(version), 0)::int8 FROM clipping_worker_schema", logger: logger
                ).collect().first.map { try $0.decode(Int64.self) }.map(Int.init) ?? 0
            }
        } catch {
            throw PostgresSchemaError(.unavailable, StoreDatabase.safeDescription(error))
        }
    }

    private func migrate(on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.clipping_worker.migrate', 0))",
            logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS clipping_worker_schema (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let rows = try await connection.query(
            "SELECT COALESCE(max(version), 0)::int8 FROM clipping_worker_schema", logger: logger
        ).collect()
        let current = Int(try rows.first?.decode(Int64.self) ?? 0)
        let known = PostgresSchema.latestVersion
        guard current <= known else {
            throw PostgresSchemaError(
                .newerSchema,
                "the database schema is at version \(current), newer than this worker knows (\(known)); run a newer clipping-worker")
        }
        for migration in PostgresSchema.migrations where migration.version > current {
            for statement in migration.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                "INSERT INTO clipping_worker_schema (version, name) VALUES (\(migration.version), \(migration.name))",
                logger: logger)
            logger.info(
                "applied a database migration",
                metadata: ["db.schema.version": "\(migration.version)", "db.schema.migration": "\(migration.name)"])
        }
        return max(current, known)
    }
}
