import Foundation
import Logging
import OutboxPostgres
import PostgresNIO
import Testing

/// The test PostgreSQL server: `CLIPPING_WORKER_TEST_DATABASE_URL` (scripts/test.sh starts a
/// throwaway cluster and sets it). Each test gets a schema of its own (the connections' startup
/// `search_path`), dropped afterwards, so tests run in parallel on one database.
///
/// Without the variable a PostgreSQL test fails with a message saying how to get one; a developer
/// who runs `swift test` by hand without a server sets `CLIPPING_WORKER_TEST_SKIP_POSTGRES=1`,
/// and the PostgreSQL tests are left out (reported as skipped).
enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment

    /// True when the developer asked to leave PostgreSQL out.
    static var skipped: Bool { environment["CLIPPING_WORKER_TEST_SKIP_POSTGRES"] == "1" }

    static let missingMessage: Comment = """
        CLIPPING_WORKER_TEST_DATABASE_URL is not set: run scripts/test.sh, or \
        `eval "$(scripts/pg-test-cluster.sh start)"` before swift test, or set \
        CLIPPING_WORKER_TEST_SKIP_POSTGRES=1 to leave the PostgreSQL tests out
        """

    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server's URL, or nil after recording the failure.
    static func url(sourceLocation: SourceLocation = #_sourceLocation) -> PostgresURL? {
        guard let text = environment["CLIPPING_WORKER_TEST_DATABASE_URL"], !text.isEmpty else {
            Issue.record(missingMessage, sourceLocation: sourceLocation)
            return nil
        }
        do {
            return try PostgresURL(text)
        } catch {
            Issue.record("CLIPPING_WORKER_TEST_DATABASE_URL: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// A configuration for `url` whose connections work in `schema`.
    static func configuration(_ url: PostgresURL, schema: String?, connections: Int = 8) -> PostgresClient.Configuration {
        var configuration = url.clientConfiguration(maximumConnections: connections)
        if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        return configuration
    }

    /// Runs `body` with a running client whose connections work in a new, empty schema (dropped
    /// afterwards). Records a failure and returns without running `body` when no server is set.
    static func withSchema(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: (Database) async throws -> Void
    ) async throws {
        guard let url = url(sourceLocation: sourceLocation) else { return }
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await withClient(configuration(url, schema: nil, connections: 1)) { admin in
            try await admin.query("CREATE SCHEMA \(unescaped: schema)")
            do {
                try await body(Database(url: url, schema: schema))
            } catch {
                _ = try? await admin.query("DROP SCHEMA \(unescaped: schema) CASCADE")
                throw error
            }
            try await admin.query("DROP SCHEMA \(unescaped: schema) CASCADE")
        }
    }

    /// Runs `body` with a running client, then shuts the client down.
    static func withClient<T: Sendable>(
        _ configuration: PostgresClient.Configuration, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// One test's schema: clients and stores on it.
    struct Database: Sendable {
        let url: PostgresURL
        let schema: String

        /// Runs `body` with a running client on this schema.
        func withClient<T: Sendable>(connections: Int = 8, _ body: (PostgresClient) async throws -> T) async throws -> T {
            try await TestPostgres.withClient(TestPostgres.configuration(url, schema: schema, connections: connections), body)
        }

        /// Runs `body` with a migrated store (its own owner id) on this schema.
        func withStore<T: Sendable>(
            _ configuration: PostgresStoreConfiguration = PostgresStoreConfiguration(), connections: Int = 8,
            _ body: (PostgresOutboxStore, PostgresClient) async throws -> T
        ) async throws -> T {
            try await withClient(connections: connections) { client in
                try await PostgresMigrator(client: client, logger: TestPostgres.logger).migrate()
                let store = PostgresOutboxStore(client: client, configuration: configuration, logger: TestPostgres.logger)
                return try await body(store, client)
            }
        }
    }
}
