import ArgumentParser
import Foundation
import Logging
import Metrics
import WebhookCore
import WorkerService

/// `clipping-worker serve`: API, pipeline and dispatcher until SIGTERM/SIGINT.
///
/// Its flags are not declared one by one: every setting of ``WorkerConfiguration/settings`` is a
/// flag `--<flag> VALUE` (or `--<flag>=VALUE`), captured here and laid over the environment by
/// ``WorkerConfiguration/values(arguments:environment:)``. `--help` lists them from the same table.
///
/// ```
/// clipping-worker serve --port 0 --data-dir /tmp/clips
/// clipping-worker serve --print-settings-markdown   # the README's configuration table
/// ```
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the API, the clipping pipeline and the webhook dispatcher until SIGTERM/SIGINT.",
        usage: "clipping-worker serve [--<setting> <value>]...",
        discussion: """
            Every setting is a flag and an environment variable; flags win. Bad configuration \
            stops serve with exit 1 and one line naming the variable. LOG_LEVEL (trace … critical) \
            sets the log level.

            SETTINGS:
            \(WorkerConfiguration.flagHelp())
            """)

    /// Prints the README's configuration table and exits.
    @Flag(name: .customLong("print-settings-markdown"), help: .hidden)
    var printSettingsMarkdown = false

    /// The setting flags, checked against the table in ``validate()``.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settingFlags: [String] = []

    /// Rejects unknown flags, flags without a value and stray arguments (exit 64).
    func validate() throws {
        _ = try settings()
    }

    /// The environment with the setting flags laid over it.
    /// - Throws: `ValidationError` (exit 64) for an unknown flag or a flag without a value.
    func settings() throws -> [String: String] {
        do {
            return try WorkerConfiguration.values(arguments: settingFlags, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        if printSettingsMarkdown {
            print(WorkerConfiguration.settingsMarkdown)
            return
        }
        let values = try settings()
        let configuration: WorkerConfiguration
        do {
            configuration = try WorkerConfiguration(values: values)
        } catch {
            printError("clipping-worker: bad configuration: \(error)")
            throw ExitCode(1)
        }
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "clipping-worker")
        do {
            // Once per process: the global factory (used by Hummingbird's HTTP metrics) feeds the
            // same registry as the worker's own metrics.
            let metrics = WorkerMetrics()
            MetricsSystem.bootstrap(metrics.factory)
            try await Worker.run(configuration: configuration, logger: logger, metrics: metrics) { port in
                logger.notice("listening", metadata: [LogMetadataKey.httpPort: "\(port)"])
            }
        } catch let error as ConfigurationError {
            printError("clipping-worker: bad configuration: \(error)")
            throw ExitCode(1)
        } catch {
            printError("clipping-worker: \(error)")
            throw ExitCode(1)
        }
    }
}
