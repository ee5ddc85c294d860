import Synchronization
public import CurlTransport
import DeliveryLog
import FFmpegEngine
import Foundation
import Hummingbird
public import Logging
import OutboxPostgres
import OutboxSQLite
import PostgresNIO
import Prometheus
import ServiceLifecycle
public import UnixSignals
public import WebhookCore
import WebhookDispatch
import WebhookSigning
import WorkerAPI
import WorkerCore
import WorkerPipeline

/// The composition root of `serve`: builds every part from a ``WorkerConfiguration`` and runs
/// them in one `ServiceGroup` until SIGTERM/SIGINT.
///
/// Services start in order dispatcher → pipeline → HTTP server and stop in reverse: the server
/// stops taking requests first, running jobs stop (they resume on the next start), then the
/// dispatcher lets attempts in flight finish and records them. Nothing else creates clients.
public enum Worker {
    /// Runs the worker until a shutdown signal.
    /// - Parameters:
    ///   - configuration: the checked settings.
    ///   - logger: the process logger.
    ///   - signals: signals that trigger a graceful shutdown (tests pass none and cancel).
    ///   - resolver: looks up callback and video host names at submission (tests pass a table).
    ///   - onListening: called with the bound port once the API accepts connections.
    /// - Throws: ``ConfigurationError`` for a data directory or store that cannot be used.
    public static func run(
        configuration: WorkerConfiguration, logger: Logger, signals: [UnixSignal] = [.sigterm, .sigint],
        metrics workerMetrics: WorkerMetrics = WorkerMetrics(),
        resolver: any HostResolver = SystemHostResolver(),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let data = configuration.dataDirectory
        for directory in [data, data + "/logs", data + "/media", data + "/work"] {
            try DataDirectoryMode.prepare(directory)
        }
        let lock = try DataDirectoryLock(directory: data)
        defer { withExtendedLifetime(lock) {} }
        let secrets: [WebhookSecret]
        if let configured = configuration.webhookSecrets {
            secrets = configured
        } else {
            let path = data + "/webhook_secret"
            secrets = [try WebhookSecretFile.loadOrCreate(at: path)]
            logger.notice("WEBHOOK_SECRET is unset; signing with the secret stored in the data directory", metadata: ["path": "\(path)"])
        }
        if let url = configuration.databaseURL {
            try await runOnPostgres(
                url, configuration: configuration, secrets: secrets, logger: logger, signals: signals,
                metrics: workerMetrics, resolver: resolver, onListening: onListening)
            return
        }
        let outbox: SQLiteOutboxStore
        do {
            outbox = try SQLiteOutboxStore(path: data + "/clipping-worker.sqlite", metricsFactory: workerMetrics.factory)
        } catch {
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", error.description)
        }
        defer { outbox.close() }
        if let trouble = outbox.checkpointTrouble {
            // Not fatal: commits checkpoint inline (SQLite's own way) past 4000 frames instead.
            logger.warning("write-ahead log checkpoints will run in commits", metadata: [LogMetadataKey.error: "\(trouble)"])
        }
        try await serve(
            outbox: outbox, jobs: SQLiteJobStore(outbox: outbox), claims: nil, configuration: configuration, secrets: secrets,
            logger: logger, signals: signals, metrics: workerMetrics, resolver: resolver, onListening: onListening)
    }

    /// Shared state on PostgreSQL (SPEC section 8): the client runs for as long as the services
    /// do; the schema is migrated before anything else starts, and an unreachable database or a
    /// newer schema stops `serve` with one line.
    private static func runOnPostgres(
        _ url: PostgresURL, configuration: WorkerConfiguration, secrets: [WebhookSecret], logger: Logger,
        signals: [UnixSignal], metrics workerMetrics: WorkerMetrics, resolver: any HostResolver,
        onListening: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: configuration.databasePoolSize), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do throws(PostgresSchemaError) {
                let version = try await PostgresMigrator(client: client, logger: logger).migrate()
                logger.info("PostgreSQL schema ready", metadata: ["schema_version": "\(version)", "database": "\(url)"])
            } catch {
                throw ConfigurationError("CLIPPING_WORKER_DATABASE_URL", error.description)
            }
            let outbox = PostgresOutboxStore(
                client: client, configuration: PostgresStoreConfiguration(leaseDuration: configuration.leaseDuration),
                logger: logger, metricsFactory: workerMetrics.factory)
            let jobs = PostgresJobStore(outbox: outbox)
            try await serve(
                outbox: outbox, jobs: jobs, claims: jobs, configuration: configuration, secrets: secrets, logger: logger,
                signals: signals, metrics: workerMetrics, resolver: resolver, onListening: onListening,
                wakeups: { onJob, onEvents, onRedelivery in
                    PostgresWorkListener(
                        client: client, logger: logger, onJob: onJob, onEvents: onEvents, onRedelivery: onRedelivery)
                })
        }
    }

    /// Builds every part on `outbox` and `jobs` and runs them until shutdown; the stores' kind
    /// shows only in `claims` (how jobs reach the runner).
    private static func serve<Outbox: OutboxStore & OutboxReadModel & DeliveryListing, Jobs: JobStore & JobListing>(
        outbox: Outbox, jobs: Jobs, claims: (any RunClaiming)?, configuration: WorkerConfiguration,
        secrets: [WebhookSecret], logger: Logger, signals: [UnixSignal], metrics workerMetrics: WorkerMetrics,
        resolver: any HostResolver, onListening: @escaping @Sendable (Int) async -> Void,
        wakeups: (
            (
                _ onJob: @escaping @Sendable () -> Void, _ onEvents: @escaping @Sendable () -> Void,
                _ onRedelivery: @escaping @Sendable (String, String) -> Void
            ) -> any Service
        )? = nil
    ) async throws {
        let data = configuration.dataDirectory
        let registry = workerMetrics.registry
        let metrics = workerMetrics.factory
        let deliveryLog: DeliveryLogWriter
        do {
            deliveryLog = try DeliveryLogWriter(directory: data + "/logs", metricsFactory: metrics)
        } catch {
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", "\(error)")
        }
        defer { deliveryLog.close() }
        let policy = NetworkPolicy(allowedNetworks: configuration.allowedNetworks)
        let clientConfiguration = try await callbackClientConfiguration(configuration, policy: policy, resolver: resolver)
        let clock = SystemClock()
        let boundPort = BoundPort(configuration.port)

        // Uploads go to an endpoint the operator chose (possibly private): no SSRF policy there.
        let storageConfiguration = CurlClientConfiguration(connectTimeout: .seconds(10), totalTimeout: .seconds(600), networkPolicy: nil)
        try await CurlHTTPClient.withClient(configuration: storageConfiguration) { storageClient in
        // Video downloads get their own client and thread: a slow disk or a 4 GiB download never
        // stalls webhook delivery on the webhook client's thread. They follow up to 5 redirects
        // (presigned and CDN URLs redirect), each hop held to the policy; webhooks follow none.
        // Downloads go direct (not through the callback proxy) and trust the system's CAs.
        var downloadConfiguration = CurlClientConfiguration(
            connectTimeout: configuration.webhookConnectTimeout, totalTimeout: configuration.webhookTimeout,
            networkPolicy: policy)
        downloadConfiguration.maxRedirects = 5
        try await CurlHTTPClient.withClient(configuration: downloadConfiguration) { downloadClient in
        try await CurlHTTPClient.withClient(configuration: clientConfiguration) { client in
            let storeGauges = StoreGauges(factory: metrics)
            // One deadline for the whole graceful shutdown: jobs and attempts in flight share it.
            let shutdown = ShutdownDeadline(grace: configuration.shutdownGrace)
            var dispatcherConfiguration = DispatcherConfiguration()
            dispatcherConfiguration.shutdown = shutdown
            dispatcherConfiguration.maxInFlight = configuration.maxInFlight
            dispatcherConfiguration.perOriginConcurrency = configuration.maxInFlightPerOrigin
            dispatcherConfiguration.retryPolicy = configuration.retryPolicy
            dispatcherConfiguration.progressMinInterval = configuration.progressMinInterval
            let signer = WebhookSigner(
                secrets: secrets, signingKey: configuration.signingKey, legacySignature: configuration.legacySignature,
                userAgent: "clipping-worker/\(WorkerVersion.current)")
            // The operations page's figures of this process (attempts, origins) watch what the log writes.
            let activity = DeliveryActivity()
            let dispatcher = WebhookDispatcher(
                store: outbox, sender: client, clock: clock, signer: signer, configuration: dispatcherConfiguration,
                observer: DeliveryObservers([deliveryLog, activity]), logger: logger, metricsFactory: metrics)
            let runner = PipelineRunner(
                jobs: jobs, publisher: DispatchingJobEvents(jobs: jobs, dispatcher: dispatcher, clock: clock), clock: clock,
                engine: engine(configuration, clock: clock),
                downloader: MediaDownloader(client: downloadClient, localMediaDirectory: configuration.localMediaDirectory),
                configuration: .init(
                    maxConcurrentJobs: configuration.maxConcurrentJobs, mediaDirectory: data + "/media",
                    workDirectory: data + "/work", storage: storage(configuration, data: data, client: storageClient, port: boundPort)),
                shutdown: shutdown, claims: claims, adopt: { try await dispatcher.adopt($0) }, metricsFactory: metrics,
                logger: logger)
            let services = APIServices(
                jobs: jobs, outbox: outbox,
                // With a callback proxy, callback host names are left to it (address literals
                // are still checked): the worker never connects to them.
                validator: JobRequestValidator(
                    networkPolicy: policy, localMediaDirectory: configuration.localMediaDirectory, resolver: resolver,
                    callbacksUseProxy: configuration.webhookProxy != nil),
                enqueue: { await runner.enqueue($0) }, cancel: { try await runner.cancel($0) },
                redeliver: { try await dispatcher.redeliver($0) },
                metrics: {
                    await storeGauges.refresh(from: outbox, now: clock.now)
                    return registry.emitToBuffer()
                },
                apiToken: configuration.apiToken, mediaDirectory: data + "/media", clock: clock,
                maxQueuedJobs: configuration.maxQueuedJobs, shuttingDown: { shutdown.hasBegun },
                readiness: {
                    if shutdown.hasBegun { return .unavailable("shutting down") }
                    let health = await outbox.health()
                    guard health.isReady else { return health }
                    if await dispatcher.status.storeFailing {
                        return .unavailable("webhook attempt records cannot be written")
                    }
                    return .ready
                },
                operations: operationsServices(
                    outbox: outbox, jobs: jobs, dispatcher: dispatcher, activity: activity, clock: clock,
                    configuration: configuration))
            // Slow clients: idle connections close after `apiIdleTimeout`, a request must be read
            // within `apiRequestReadTimeout`, and beyond `apiMaxConnections` a new connection is
            // closed at once.
            let cap = ConnectionCap(limit: configuration.apiMaxConnections)
            let (idleSeconds, idleAttoseconds) = configuration.apiIdleTimeout.components
            let app = Application(
                router: buildAPIRouter(services),
                server: .http1(
                    configuration: .init(
                        additionalChannelHandlers: [cap.handler(), RequestSizeGate()],
                        idleTimeout: .nanoseconds(idleSeconds * 1_000_000_000 + idleAttoseconds / 1_000_000_000)),
                    requestReadLimit: configuration.apiRequestReadTimeout),
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? configuration.port
                    boundPort.set(port)
                    await onListening(port)
                },
                logger: logger)
            logger.info(
                "clipping-worker serving",
                metadata: [
                    LogMetadataKey.httpHost: "\(configuration.host)", LogMetadataKey.httpPort: "\(configuration.port)", "data_dir": "\(data)",
                    "engine": "\(configuration.engine)", "api_token": "\(configuration.apiToken == nil ? "off" : "on")",
                    "transcript_sources": "\(configuration.transcriptSourcesSummary)",
                    "framing": "\(configuration.framingSummary)",
                ])
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    // Stopped in reverse order: the runner first (no new job starts, running ones get
                    // the grace), then the dispatcher (attempts in flight get what is left of it),
                    // and the API last, so that until then it answers 503 to new jobs and still
                    // shows jobs and deliveries.
                    services: [
                        app, dispatcher, runner,
                        RetentionSweeper(
                            jobs: jobs, clock: clock, retention: configuration.retention, mediaDirectory: data + "/media",
                            logger: logger),
                    ] + (wakeups.map {
                        [$0({ runner.lookForWork() }, { dispatcher.wakeClaims() }, { dispatcher.redeliveredElsewhere(jobID: $0, eventID: $1) })]
                    } ?? []),
                    gracefulShutdownSignals: signals, logger: logger))
            try await group.run()
        }
        }
        }
    }
}

extension Worker {
    /// The callback client's settings, checked before anything starts: every libcurl option it
    /// needs is accepted by this libcurl, and a proxy given by name resolves to allowed addresses
    /// only (the worker connects to nothing else then).
    /// - Throws: ``ConfigurationError`` naming the setting.
    static func callbackClientConfiguration(
        _ configuration: WorkerConfiguration, policy: NetworkPolicy, resolver: any HostResolver
    ) async throws(ConfigurationError) -> CurlClientConfiguration {
        let client = CurlClientConfiguration(
            connectTimeout: configuration.webhookConnectTimeout, totalTimeout: configuration.webhookTimeout,
            networkPolicy: policy, proxy: configuration.webhookProxy, caFile: configuration.webhookCAFile,
            clientCertificate: configuration.webhookClientCertificate, clientKey: configuration.webhookClientKey)
        do throws(CurlOptionError) {
            try CurlHTTPClient.checkOptions(client)
        } catch {
            let setting: String
            switch error.option {
            case "CURLOPT_CAINFO": setting = "WEBHOOK_CA_FILE"
            case "CURLOPT_SSLCERT", "CURLOPT_SSLCERTTYPE": setting = "WEBHOOK_CLIENT_CERT"
            case "CURLOPT_SSLKEY", "CURLOPT_SSLKEYTYPE": setting = "WEBHOOK_CLIENT_KEY"
            case "CURLOPT_PROXY", "CURLOPT_PROXYTYPE": setting = "WEBHOOK_PROXY"
            default: setting = "libcurl"
            }
            throw ConfigurationError(setting, "\(error) (\(CurlHTTPClient.libcurlVersion))")
        }
        if let proxy = configuration.webhookProxy, case .success(.name(let host)) = URLTarget.parse(proxy) {
            // The system resolver returns when its own timeouts end (a few seconds).
            guard case .addresses(let addresses) = await resolver.resolve(host) else {
                throw ConfigurationError("WEBHOOK_PROXY", "cannot resolve \(host)")
            }
            for address in addresses {
                if let refusal = policy.refusal(for: address) {
                    throw ConfigurationError(
                        "WEBHOOK_PROXY",
                        "\(host) resolves to \(address), which is not allowed (\(refusal)): add it to CLIPPING_WORKER_ALLOWED_NETWORKS")
                }
            }
        }
        return client
    }

    /// S3 when configured, else the data directory served at `/media`.
    static func storage(
        _ configuration: WorkerConfiguration, data: String, client: CurlHTTPClient, port: BoundPort
    ) -> any OutputStorage {
        if let s3 = configuration.s3 {
            return S3OutputStorage(
                client: client, endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKeyID: s3.accessKeyID,
                secretAccessKey: s3.secretAccessKey)
        }
        guard configuration.publicURL == nil, configuration.port == 0 else {
            return LocalOutputStorage(mediaDirectory: data + "/media", mediaBaseURL: configuration.effectivePublicURL + "/media/")
        }
        // Port 0 (tests, ephemeral workers): the URL names the port the API got once it listens.
        return LocalOutputStorage(mediaDirectory: data + "/media") {
            var bound = configuration
            bound.port = port.value
            return bound.effectivePublicURL + "/media/"
        }
    }

    /// The configured engine (the configuration already checked that ffmpeg is there).
    static func engine(_ configuration: WorkerConfiguration, clock: SystemClock) -> any ClippingEngine {
        if configuration.engine == "ffmpeg",
            let engine = FFmpegMediaEngine(
                transcribeCommand: configuration.transcribeCommand, transcriber: configuration.transcriber,
                helpers: configuration.engineHelpers, whisperModel: configuration.whisperModel)
        {
            return engine
        }
        return SimulatedEngine(stageDuration: configuration.simulatedStageDuration, clock: clock)
    }
}

/// The version in `User-Agent` and `--version`.
public enum WorkerVersion {
    public static let current = "0.2.0"
}

/// The port the API listens on, for URLs built before it was bound (`--port 0`).
final class BoundPort: Sendable {
    private let port: Mutex<Int>
    init(_ port: Int) { self.port = Mutex(port) }
    var value: Int { port.withLock { $0 } }
    func set(_ value: Int) { port.withLock { $0 = value } }
}
