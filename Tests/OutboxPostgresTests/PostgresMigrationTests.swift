import OutboxPostgres
import PostgresNIO
import Testing
import WebhookTestSupport
import WorkerCore
import WebhookCore

/// The schema at start: several workers migrating at once, a newer schema refused in one line,
/// the constraints in force, and readiness that answers quickly when the server does not.
@Suite(.enabled(if: !TestPostgres.skipped, "CLIPPING_WORKER_TEST_SKIP_POSTGRES=1"), .timeLimit(.minutes(2)))
struct PostgresMigrationTests {
    @Test func severalWorkersMigratingAtOnceApplyEachMigrationOnce() async throws {
        try await TestPostgres.withSchema { database in
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await database.withClient(connections: 1) { client in
                            // Six migrators take the lock in turn: on a loaded machine the last
                            // waited past the 10 s default (a CI failure). The limit is not what is tested.
                            try await PostgresMigrator(client: client, logger: TestPostgres.logger).migrate(timeout: .seconds(60))
                        }
                    }
                }
                var versions = [Int]()
                for try await version in group { versions.append(version) }
                return versions
            }
            #expect(versions.count == 6)
            #expect(Set(versions).count == 1)
            try await database.withClient { client in
                let rows = try await client.query("SELECT version FROM clipping_worker_schema ORDER BY version").collect()
                let recorded = try rows.map { try $0.decode(Int32.self) }
                #expect(recorded.map(Int.init) == Array(1...versions[0]))
                #expect(try await PostgresMigrator(client: client, logger: TestPostgres.logger).currentVersion() == versions[0])
            }
        }
    }

    @Test func aSchemaNewerThanThisBuildIsRefusedInOneLine() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withClient { client in
                let migrator = PostgresMigrator(client: client, logger: TestPostgres.logger)
                let known = try await migrator.migrate()
                try await client.query(
                    "INSERT INTO clipping_worker_schema (version, name) VALUES (\(known + 1), 'from-the-future')")
                do throws(PostgresSchemaError) {
                    try await migrator.migrate()
                    Issue.record("a newer schema was accepted")
                } catch {
                    #expect(error.code == .newerSchema)
                    #expect(!error.description.contains("\n"))
                    #expect(error.description.contains("version \(known + 1)"))
                    #expect(error.description.contains("(\(known))"))
                }
            }
        }
    }

    @Test func checkConstraintsRefuseUnknownStates() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withStore { store, client in
                let event = try await store.append([Sample.draft()], at: Sample.now)[0]
                await #expect(throws: (any Error).self) {
                    try await client.query("UPDATE webhook_events SET state = 'lost' WHERE event_id = \(event.id.description)")
                }
                await #expect(throws: (any Error).self) {
                    try await client.query("UPDATE webhook_jobs SET lease_owner = 'x', lease_until = NULL")
                }
                await #expect(throws: (any Error).self) {
                    try await client.query("UPDATE webhook_events SET sequence = 0 WHERE event_id = \(event.id.description)")
                }
            }
        }
    }

    @Test func anUnreachableDatabaseIsUnavailableWithinTheHealthTimeout() async throws {
        // A loopback port nothing listens on: connection attempts fail and are retried by the pool.
        let url = try PostgresURL("postgres://nobody:secret-pw@127.0.0.1:9/none?sslmode=disable")
        try await TestPostgres.withClient(url.clientConfiguration(maximumConnections: 1, connectTimeout: .seconds(1))) {
            client in
            let store = PostgresOutboxStore(
                client: client, configuration: PostgresStoreConfiguration(healthTimeout: .milliseconds(500)),
                logger: TestPostgres.logger)
            let began = ContinuousClock.now
            let health = await store.health()
            #expect(!health.isReady)
            // Bounds far above the limits: what is tested is that nothing waits for the pool's
            // retries (minutes), on a machine that may be busy running other tests.
            #expect(ContinuousClock.now - began < .seconds(15))
            #expect(health.problem?.contains("secret-pw") == false)
        }
    }

    /// A server that accepts the connection and then says nothing (the shape of a connection
    /// cut mid-restart, which was seen to leave a call waiting for ever): every store call ends
    /// within its limit, `.unavailable`, and the pool is usable again afterwards.
    @Test func aServerThatStopsAnsweringEndsEveryCallWithinItsLimit() async throws {
        let silent = try await RawTCPServer.start(reply: [], then: .hang)
        let url = try PostgresURL("postgres://nobody:secret-pw@127.0.0.1:\(silent.port)/none?sslmode=disable")
        try await TestPostgres.withClient(url.clientConfiguration(maximumConnections: 2, connectTimeout: .seconds(60))) {
            client in
            let store = PostgresOutboxStore(
                client: client, configuration: PostgresStoreConfiguration(callTimeout: .milliseconds(500)),
                logger: TestPostgres.logger)
            for _ in 0..<3 {
                let began = ContinuousClock.now
                do throws(OutboxError) {
                    _ = try await store.append([Sample.draft()], at: Sample.now)
                    Issue.record("appended to a server that says nothing")
                } catch {
                    #expect(error.code == .unavailable)
                    #expect(error.details.contains("did not answer"), "\(error.details)")
                    #expect(!error.details.contains("secret-pw"))
                }
                #expect(ContinuousClock.now - began < .seconds(15))
            }
            // A cancelled caller is not held either, long before the limit.
            let patient = PostgresOutboxStore(
                client: client,
                configuration: PostgresStoreConfiguration(callTimeout: .seconds(120), requestTimeout: .milliseconds(500)),
                logger: TestPostgres.logger)
            // What an API request waits for has the shorter limit: a 503 in seconds.
            let asked = ContinuousClock.now
            do throws(JobStoreError) {
                _ = try await PostgresJobStore(outbox: patient).job("job_01M8QHZZZZZZZZZZZZZZZZZZZZ")
                Issue.record("read a job from a server that says nothing")
            } catch {
                #expect(error.code == .unavailable, "\(error)")
            }
            #expect(ContinuousClock.now - asked < .seconds(15))
            let call = Task { () -> OutboxError.Code? in
                do throws(OutboxError) {
                    _ = try await patient.pendingCount()
                    return nil
                } catch {
                    return error.code
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            let began = ContinuousClock.now
            call.cancel()
            #expect(await call.value == .unavailable)
            #expect(ContinuousClock.now - began < .seconds(5))
        }
        try await silent.shutdown()
    }

    @Test func anUnreachableDatabaseAtStartIsATypedOneLineErrorNotAHang() async throws {
        let url = try PostgresURL("postgres://nobody:secret-pw@127.0.0.1:9/none?sslmode=disable")
        try await TestPostgres.withClient(url.clientConfiguration(maximumConnections: 1, connectTimeout: .seconds(1))) {
            client in
            let began = ContinuousClock.now
            do throws(PostgresSchemaError) {
                try await PostgresMigrator(client: client, logger: TestPostgres.logger).migrate(timeout: .seconds(2))
                Issue.record("migrated a database that is not there")
            } catch {
                #expect(error.code == .unavailable)
                #expect(!error.description.contains("\n"))
                #expect(!error.description.contains("secret-pw"))
                #expect(error.description.contains("cannot"))
            }
            // Within the timeout, not after the pool's circuit breaker (about a minute here).
            #expect(ContinuousClock.now - began < .seconds(30))
        }
    }
}
