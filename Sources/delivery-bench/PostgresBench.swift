import Logging
import OutboxPostgres
import PostgresNIO

/// `--store postgres`: the same workload through the shared store, one client, store and lease
/// owner per simulated worker, all in this process (so CPU figures include every worker).
enum PostgresBench {
    static func run(_ options: BenchOptions, directory: String) async throws {
        let url = try PostgresURL(options.databaseURL ?? "")
        print("delivery-bench: database \(url)")
        let logger = DeliveryBench.logger
        let clients = (0..<options.workers).map { _ in
            PostgresClient(configuration: url.clientConfiguration(maximumConnections: 8), backgroundLogger: logger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.run() } }
            defer { group.cancelAll() }
            let version = try await PostgresMigrator(client: clients[0], logger: logger).migrate()
            print("delivery-bench: schema version \(version)")
            let stores = clients.map { client in
                PostgresOutboxStore(client: client, configuration: PostgresStoreConfiguration(), logger: logger)
            }
            try await DeliveryBench.measure(options, stores: stores, directory: directory)
        }
    }
}
