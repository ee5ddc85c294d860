import ArgumentParser
import Foundation
import Logging
import WorkerService

/// `clipping-worker serve`: API, pipeline and dispatcher until SIGTERM/SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the API, the clipping pipeline and the webhook dispatcher until SIGTERM/SIGINT.",
        discussion: "Every option also reads its environment variable (shown in brackets); options win.")

    @Option(name: .customLong("host"), help: "API listen address (default 127.0.0.1) [env CLIPPING_WORKER_HOST]")
    var host: String?

    @Option(name: .customLong("port"), help: "API port (default 8080; 0 picks one) [env CLIPPING_WORKER_PORT]")
    var port: String?

    @Option(name: .customLong("data-dir"), help: "SQLite database, delivery log, media (default ./data) [env CLIPPING_WORKER_DATA_DIR]")
    var dataDir: String?

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (not supported by this build yet) [env CLIPPING_WORKER_DATABASE_URL]")
    var databaseUrl: String?

    @Option(name: .customLong("api-token"), help: "bearer token required on every route but /healthz and /readyz [env CLIPPING_WORKER_API_TOKEN]")
    var apiToken: String?

    @Option(name: .customLong("webhook-secret"), help: "whsec_… secret(s), space-separated; generated when unset [env WEBHOOK_SECRET]")
    var webhookSecret: String?

    @Option(name: .customLong("webhook-legacy-signature"), help: "also send X-Webhook-Signature (default true) [env WEBHOOK_LEGACY_SIGNATURE]")
    var webhookLegacySignature: String?

    @Option(name: .customLong("webhook-timeout-seconds"), help: "per-attempt timeout (default 10) [env WEBHOOK_TIMEOUT_SECONDS]")
    var webhookTimeoutSeconds: String?

    @Option(name: .customLong("webhook-connect-timeout-seconds"), help: "per-attempt connect timeout (default 5) [env WEBHOOK_CONNECT_TIMEOUT_SECONDS]")
    var webhookConnectTimeoutSeconds: String?

    @Option(name: .customLong("webhook-progress-min-interval-seconds"), help: "per-job progress throttle (default 5) [env WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS]")
    var webhookProgressMinIntervalSeconds: String?

    @Option(name: .customLong("webhook-retry-schedule"), help: "background retry delays (default 5s,30s,2m,10m,30m,1h,2h,4h,8h) [env WEBHOOK_RETRY_SCHEDULE]")
    var webhookRetrySchedule: String?

    @Option(name: .customLong("webhook-max-age-hours"), help: "stop retrying a terminal event after this (default 72) [env WEBHOOK_MAX_AGE_HOURS]")
    var webhookMaxAgeHours: String?

    @Option(name: .customLong("webhook-signing-key"), help: "whsk_… Ed25519 key: also sign v1a [env WEBHOOK_SIGNING_KEY]")
    var webhookSigningKey: String?

    @Option(name: .customLong("allowed-networks"), help: "CIDRs callbacks and downloads may reach although private [env CLIPPING_WORKER_ALLOWED_NETWORKS]")
    var allowedNetworks: String?

    @Option(name: .customLong("local-media-dir"), help: "directory file:// videos may come from [env CLIPPING_WORKER_LOCAL_MEDIA_DIR]")
    var localMediaDir: String?

    @Option(name: .customLong("engine"), help: "ffmpeg (default when ffmpeg and ffprobe are on PATH) or simulated [env CLIPPING_WORKER_ENGINE]")
    var engine: String?

    @Option(name: .customLong("simulated-stage-seconds"), help: "time per simulated stage (default 0.2) [env CLIPPING_WORKER_SIMULATED_STAGE_SECONDS]")
    var simulatedStageSeconds: String?

    @Option(name: .customLong("public-url"), help: "base of /media URLs (default http://<host>:<port>) [env CLIPPING_WORKER_PUBLIC_URL]")
    var publicUrl: String?

    @Option(name: .customLong("transcribe-command"), help: "ffmpeg engine: command run with the media path appended, printing SRT, WebVTT or transcript JSON [env CLIPPING_WORKER_TRANSCRIBE_COMMAND]")
    var transcribeCommand: String?

    @Option(name: .customLong("s3-endpoint"), help: "S3-compatible output storage (all five together) [env CLIPPING_WORKER_S3_ENDPOINT]")
    var s3Endpoint: String?

    @Option(name: .customLong("s3-region"), help: "S3-compatible output storage (all five together) [env CLIPPING_WORKER_S3_REGION]")
    var s3Region: String?

    @Option(name: .customLong("s3-bucket"), help: "S3-compatible output storage (all five together) [env CLIPPING_WORKER_S3_BUCKET]")
    var s3Bucket: String?

    @Option(name: .customLong("s3-access-key-id"), help: "S3-compatible output storage (all five together) [env CLIPPING_WORKER_S3_ACCESS_KEY_ID]")
    var s3AccessKeyId: String?

    @Option(name: .customLong("s3-secret-access-key"), help: "S3-compatible output storage (all five together) [env CLIPPING_WORKER_S3_SECRET_ACCESS_KEY]")
    var s3SecretAccessKey: String?

    @Option(name: .customLong("max-concurrent-jobs"), help: "jobs at once (default 2) [env CLIPPING_WORKER_MAX_CONCURRENT_JOBS]")
    var maxConcurrentJobs: String?

    /// The environment with the given options laid over it.
    func settings() -> [String: String] {
        var values = ProcessInfo.processInfo.environment
        let flags: [(String, String?)] = [
            ("CLIPPING_WORKER_HOST", host),
            ("CLIPPING_WORKER_PORT", port),
            ("CLIPPING_WORKER_DATA_DIR", dataDir),
            ("CLIPPING_WORKER_DATABASE_URL", databaseUrl),
            ("CLIPPING_WORKER_API_TOKEN", apiToken),
            ("WEBHOOK_SECRET", webhookSecret),
            ("WEBHOOK_LEGACY_SIGNATURE", webhookLegacySignature),
            ("WEBHOOK_TIMEOUT_SECONDS", webhookTimeoutSeconds),
            ("WEBHOOK_CONNECT_TIMEOUT_SECONDS", webhookConnectTimeoutSeconds),
            ("WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS", webhookProgressMinIntervalSeconds),
            ("WEBHOOK_RETRY_SCHEDULE", webhookRetrySchedule),
            ("WEBHOOK_MAX_AGE_HOURS", webhookMaxAgeHours),
            ("WEBHOOK_SIGNING_KEY", webhookSigningKey),
            ("CLIPPING_WORKER_ALLOWED_NETWORKS", allowedNetworks),
            ("CLIPPING_WORKER_LOCAL_MEDIA_DIR", localMediaDir),
            ("CLIPPING_WORKER_ENGINE", engine),
            ("CLIPPING_WORKER_SIMULATED_STAGE_SECONDS", simulatedStageSeconds),
            ("CLIPPING_WORKER_PUBLIC_URL", publicUrl),
            ("CLIPPING_WORKER_TRANSCRIBE_COMMAND", transcribeCommand),
            ("CLIPPING_WORKER_S3_ENDPOINT", s3Endpoint),
            ("CLIPPING_WORKER_S3_REGION", s3Region),
            ("CLIPPING_WORKER_S3_BUCKET", s3Bucket),
            ("CLIPPING_WORKER_S3_ACCESS_KEY_ID", s3AccessKeyId),
            ("CLIPPING_WORKER_S3_SECRET_ACCESS_KEY", s3SecretAccessKey),
            ("CLIPPING_WORKER_MAX_CONCURRENT_JOBS", maxConcurrentJobs),
        ]
        for (name, value) in flags {
            if let value { values[name] = value }
        }
        return values
    }

    func run() async throws {
        let configuration: WorkerConfiguration
        do {
            configuration = try WorkerConfiguration(values: settings())
        } catch {
            printError("clipping-worker: bad configuration: \(error)")
            throw ExitCode(1)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        let logger = Logger(label: "clipping-worker")
        do {
            try await Worker.run(configuration: configuration, logger: logger) { port in
                logger.notice("listening", metadata: ["http.port": "\(port)"])
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
