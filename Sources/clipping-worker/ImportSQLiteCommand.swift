import ArgumentParser
import Foundation
import Logging
import WorkerService

/// `clipping-worker import-sqlite --data-dir D`: moves an embedded store into PostgreSQL.
struct ImportSQLiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-sqlite",
        abstract: "Move the jobs and events of a data directory's embedded store into PostgreSQL.",
        discussion: """
            Keeps job and event ids, sequences and delivery state, in one transaction. Refuses to \
            run while a serve holds the data directory. Afterwards the SQLite file is renamed \
            clipping-worker.sqlite.imported-<time>, so a serve on that directory without a \
            database URL does not run the moved jobs again. Unfinished jobs run again from their \
            start on whichever worker claims them.
            """)

    @Option(name: .customLong("data-dir"), help: "The data directory of the embedded store.")
    var dataDirectory: String

    @Option(name: .customLong("database-url"), help: "postgres://… (default: $CLIPPING_WORKER_DATABASE_URL).")
    var databaseURL: String?

    func run() async throws {
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment["CLIPPING_WORKER_DATABASE_URL"], !url.isEmpty else {
            printError("clipping-worker: import-sqlite needs --database-url or CLIPPING_WORKER_DATABASE_URL")
            throw ExitCode(1)
        }
        var logger = Logger(label: "clipping-worker")
        logger.logLevel = .warning
        do {
            let outcome = try await SQLiteImport.run(dataDirectory: dataDirectory, databaseURL: url, logger: logger)
            print(outcome.summary)
        } catch {
            printError("clipping-worker: import-sqlite: \(error)")
            throw ExitCode(1)
        }
    }
}
