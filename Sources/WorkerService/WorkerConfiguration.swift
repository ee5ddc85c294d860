public import OutboxPostgres
public import FFmpegEngine
import Foundation
public import WebhookCore
public import WebhookSigning

/// Every setting of `serve` (SPEC section 3), read from environment-style keys: the caller puts
/// flags over the environment under the variables' names, so flags win
/// (``WorkerConfiguration/values(arguments:environment:)``).
///
/// The variables, their defaults and meanings are the table ``WorkerConfiguration/settings``;
/// `clipping-worker serve --help` and the README's configuration table are generated from it.
///
/// ```swift
/// let values = try WorkerConfiguration.values(arguments: ["--port", "0"], environment: environment)
/// let configuration = try WorkerConfiguration(values: values)
/// ```
public struct WorkerConfiguration: Sendable {
    /// `CLIPPING_WORKER_HOST`: the API listen address.
    public var host = "127.0.0.1"
    /// `CLIPPING_WORKER_PORT`: the API port (0 picks one).
    public var port = 8080
    /// `CLIPPING_WORKER_DATA_DIR`.
    public var dataDirectory = "./data"
    /// `CLIPPING_WORKER_API_TOKEN`: nil leaves the API open (loopback only).
    public var apiToken: String?
    /// `CLIPPING_WORKER_DATABASE_URL`: nil for the embedded SQLite store.
    public var databaseURL: PostgresURL?
    /// `CLIPPING_WORKER_LEASE_SECONDS`.
    public var leaseDuration = Duration.seconds(30)
    /// `CLIPPING_WORKER_DATABASE_POOL_SIZE`.
    public var databasePoolSize = 10
    /// `WEBHOOK_SECRET`; nil: generate one and keep it in the data directory.
    public var webhookSecrets: [WebhookSecret]?
    /// `WEBHOOK_LEGACY_SIGNATURE`.
    public var legacySignature = true
    /// `WEBHOOK_TIMEOUT_SECONDS`.
    public var webhookTimeout = Duration.seconds(10)
    /// `WEBHOOK_CONNECT_TIMEOUT_SECONDS`.
    public var webhookConnectTimeout = Duration.seconds(5)
    /// `WEBHOOK_PROXY`: every callback goes through it.
    public var webhookProxy: String?
    /// `WEBHOOK_CA_FILE`: the CAs trusted for https callbacks (nil: the system's).
    public var webhookCAFile: String?
    /// `WEBHOOK_CLIENT_CERT` / `WEBHOOK_CLIENT_KEY`: the mTLS identity.
    public var webhookClientCertificate: String?
    public var webhookClientKey: String?
    /// `WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS`.
    public var progressMinInterval = Duration.seconds(5)
    /// `WEBHOOK_RETRY_SCHEDULE` and `WEBHOOK_MAX_AGE_HOURS` over the standard policy.
    public var retryPolicy = RetryPolicy.standard
    /// `WEBHOOK_SIGNING_KEY`.
    public var signingKey: WebhookSigningKey?
    /// `CLIPPING_WORKER_ALLOWED_NETWORKS`.
    public var allowedNetworks: [CIDRBlock] = []
    /// `CLIPPING_WORKER_LOCAL_MEDIA_DIR`, standardized.
    public var localMediaDirectory: String?
    /// `CLIPPING_WORKER_ENGINE`: `ffmpeg` or `simulated`.
    public var engine = FFmpegMediaEngine.isAvailable ? "ffmpeg" : "simulated"
    /// `CLIPPING_WORKER_TRANSCRIBE_COMMAND` for the ffmpeg engine.
    public var transcribeCommand: String?
    /// `CLIPPING_WORKER_TRANSCRIBER`: `auto`, or the one transcript source to use.
    public var transcriber = TranscriptSource.auto
    /// `CLIPPING_WORKER_WHISPER_MODEL`; nil for the packaged English model.
    public var whisperModel: String?
    /// The ffmpeg engine's optional helpers (speech-to-text, faces) found on this host; not a
    /// setting: `scripts/install-engines.sh` installs them, ``EngineHelpers/discover(environment:)``
    /// finds them.
    public var engineHelpers = EngineHelpers.discover()
    /// S3-compatible output storage; nil keeps outputs in the data directory.
    public var s3: S3Settings?

    /// `CLIPPING_WORKER_S3_*`: all five together, or none.
    public struct S3Settings: Sendable, CustomStringConvertible {
        public var endpoint: String
        public var region: String
        public var bucket: String
        public var accessKeyID: String
        /// Secret: never logged or printed.
        public var secretAccessKey: String

        public var description: String { "S3(\(endpoint), \(region), bucket \(bucket), key \(accessKeyID), secret <redacted>)" }
    }
    /// `CLIPPING_WORKER_SIMULATED_STAGE_SECONDS`.
    public var simulatedStageDuration = Duration.milliseconds(200)
    /// `CLIPPING_WORKER_PUBLIC_URL`; nil: see ``effectivePublicURL``.
    public var publicURL: String?
    /// `CLIPPING_WORKER_MAX_CONCURRENT_JOBS`.
    public var maxConcurrentJobs = 2
    /// `WEBHOOK_MAX_IN_FLIGHT`.
    public var maxInFlight = 256
    /// `WEBHOOK_MAX_IN_FLIGHT_PER_ORIGIN`.
    public var maxInFlightPerOrigin = 32
    /// `CLIPPING_WORKER_MAX_QUEUED_JOBS`.
    public var maxQueuedJobs = 10_000
    /// `CLIPPING_WORKER_RETENTION_DAYS` (zero keeps everything).
    public var retention = Duration.seconds(7 * 86_400)
    /// The API closes a connection idle this long (not a setting: SPEC fixes 60 s; tests shorten it).
    public var apiIdleTimeout = Duration.seconds(60)
    /// A request's head and body must be read within this, from its first byte (SPEC fixes 30 s;
    /// tests shorten it).
    public var apiRequestReadTimeout = Duration.seconds(30)
    /// Open API connections beyond this are closed at once (1,024).
    public var apiMaxConnections = 1024
    /// `CLIPPING_WORKER_LOG_FORMAT`.
    public var logFormat = LogFormat.text
    /// `CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS`.
    public var shutdownGrace = Duration.seconds(20)

    /// The URL this worker's `/media` files are served under.
    public var effectivePublicURL: String {
        var base = publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Creates the defaults (the same as ``init(values:)`` with nothing set).
    public init() {}

    /// Every variable this configuration reads, in table order.
    public static let variables = settings.map(\.variable)

    /// The flag of a variable: without `CLIPPING_WORKER_`, lower-case, `_` → `-`.
    public static func flagName(_ variable: String) -> String {
        var name = variable
        if name.hasPrefix("CLIPPING_WORKER_") { name.removeFirst("CLIPPING_WORKER_".count) }
        return name.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Reads and checks every setting of ``settings``, then the ``rules`` spanning several.
    /// - Parameters:
    ///   - values: variables to values (the environment with flags laid over it); a value that is
    ///     empty or only spaces counts as unset.
    ///   - engineHelpers: the ffmpeg engine's helpers on this host (tests pass none to see a
    ///     worker without them); nil: ``EngineHelpers/discover(environment:)``.
    /// - Throws: ``ConfigurationError`` naming the first bad variable.
    public init(values: [String: String], engineHelpers: EngineHelpers? = nil) throws(ConfigurationError) {
        self.init()
        if let engineHelpers { self.engineHelpers = engineHelpers }
        for setting in Self.settings {
            try setting.read(Self.value(of: setting.variable, in: values), &self)
        }
        for rule in Self.rules {
            try rule.check(values, &self)
        }
    }

    /// `5s,30s,2m,10m,30m,1h` (units ms, s, m, h; a bare number is seconds; decimals allowed).
    public static func parseSchedule(_ text: String) -> [Duration]? {
        var result = [Duration]()
        for part in text.split(separator: ",") {
            var item = part.trimmingCharacters(in: .whitespaces).lowercased()
            var scale = 1000.0
            for (suffix, factor) in [("ms", 1.0), ("s", 1000.0), ("m", 60_000.0), ("h", 3_600_000.0)] where item.hasSuffix(suffix) {
                item.removeLast(suffix.count)
                scale = factor
                break
            }
            guard let number = Double(item), number > 0, number.isFinite else { return nil }
            result.append(.milliseconds(Int64((number * scale).rounded())))
        }
        return result.isEmpty ? nil : result
    }

    /// True for `localhost`, 127.0.0.0/8 and ::1.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        guard let address = IPAddress(host) else { return false }
        return CIDRBlock("127.0.0.0/8")!.contains(address) || address == IPAddress("::1")
    }
}
