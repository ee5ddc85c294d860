import Foundation
public import Logging
public import OutboxPostgres
import OutboxSQLite
import PostgresNIO
import WebhookCore
import WorkerCore

/// `clipping-worker import-sqlite --data-dir D`: moves the jobs and events of an embedded store
/// into the shared PostgreSQL store (SPEC section 8), for users who outgrow one machine.
///
/// It takes the data directory's lock first, so it refuses to run while a `serve` owns the
/// directory (and no `serve` can start on it meanwhile). After the import commits, the SQLite
/// file is renamed to `clipping-worker.sqlite.imported-<time>`: a later `serve` on that directory
/// without a database URL starts empty instead of running the moved jobs a second time.
public enum SQLiteImport {
    /// What happened, for the one-line summary.
    public struct Outcome: Sendable {
        public var report: PostgresStoreImport.Report
        /// Where the SQLite file went.
        public var keptAt: String

        /// One line for the operator.
        public var summary: String {
            "imported \(report.jobs) jobs (\(report.unfinishedJobs) unfinished), \(report.events) events "
                + "(\(report.pendingEvents) pending) and \(report.attempts) attempt records; "
                + "\(report.skippedJobs) jobs already in the database were skipped; the SQLite store is now \(keptAt)"
        }
    }

    /// Runs the import.
    /// - Throws: ``ConfigurationError`` naming the setting at fault (data directory, database URL)
    ///   with one line of reason; nothing is changed on failure.
    public static func run(dataDirectory: String, databaseURL: String, logger: Logger) async throws(ConfigurationError) -> Outcome {
        let url: PostgresURL
        do {
            url = try PostgresURL(databaseURL)
        } catch {
            throw ConfigurationError("CLIPPING_WORKER_DATABASE_URL", "\(error)")
        }
        let lock = try DataDirectoryLock(directory: dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        let path = dataDirectory + "/clipping-worker.sqlite"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", "no embedded store at \(path)")
        }
        let export: StoreExport
        do {
            export = try StoreExport.readSQLite(path: path)
        } catch {
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", error.description)
        }
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 1), backgroundLogger: logger)
        let outcome: Result<PostgresStoreImport.Report, ConfigurationError> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do throws(PostgresSchemaError) {
                _ = try await PostgresMigrator(client: client, logger: logger).migrate()
            } catch {
                return .failure(ConfigurationError("CLIPPING_WORKER_DATABASE_URL", error.description))
            }
            do throws(OutboxError) {
                return .success(try await PostgresStoreImport.run(export, client: client, logger: logger))
            } catch {
                return .failure(ConfigurationError("CLIPPING_WORKER_DATABASE_URL", "import failed, nothing was changed: \(error.details)"))
            }
        }
        let report = try outcome.get()
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let keptAt = path + ".imported-" + stamp
        do {
            try FileManager.default.moveItem(atPath: path, toPath: keptAt)
            // Closed cleanly, the store leaves no WAL behind; a leftover would belong to the old name.
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.moveItem(atPath: path + suffix, toPath: keptAt + suffix)
            }
        } catch {
            throw ConfigurationError(
                "CLIPPING_WORKER_DATA_DIR",
                "imported, but could not rename \(path) (\(error)): do not start serve on this directory without a database URL")
        }
        return Outcome(report: report, keptAt: keptAt)
    }
}
