import FFmpegEngine
import Foundation
public import WebhookCore
public import WebhookSigning

/// Every setting of `serve` (SPEC section 3), read from environment-style keys: the caller puts
/// flags over the environment under the variables' names, so flags win.
///
/// - `CLIPPING_WORKER_HOST` (default 127.0.0.1), `CLIPPING_WORKER_PORT` (8080): API address.
/// - `CLIPPING_WORKER_DATA_DIR` (./data): database, delivery log, media, generated secret.
/// - `CLIPPING_WORKER_DATABASE_URL` (unset): PostgreSQL; refused by this build (SQLite only so far).
/// - `CLIPPING_WORKER_API_TOKEN` (unset, secret): bearer token; required to bind a non-loopback host.
/// - `WEBHOOK_SECRET` (generated, secret): `whsec_…`, several space-separated during rotation.
/// - `WEBHOOK_LEGACY_SIGNATURE` (true): also send `X-Webhook-Signature`.
/// - `WEBHOOK_TIMEOUT_SECONDS` (10), `WEBHOOK_CONNECT_TIMEOUT_SECONDS` (5): per attempt.
/// - `WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS` (5): progress throttle per job.
/// - `WEBHOOK_RETRY_SCHEDULE` (`5s,30s,2m,10m,30m,1h,2h,4h,8h`), `WEBHOOK_MAX_AGE_HOURS` (72).
/// - `WEBHOOK_SIGNING_KEY` (unset, secret): `whsk_…` Ed25519 key.
/// - `CLIPPING_WORKER_ALLOWED_NETWORKS` (unset): CIDRs reachable although private.
/// - `CLIPPING_WORKER_LOCAL_MEDIA_DIR` (unset): the only place `file://` videos may come from.
/// - `CLIPPING_WORKER_ENGINE` (ffmpeg when `ffmpeg` and `ffprobe` are on PATH, else simulated).
/// - `CLIPPING_WORKER_SIMULATED_STAGE_SECONDS` (0.2).
/// - `CLIPPING_WORKER_PUBLIC_URL` (`http://<host>:<port>`): base of `/media/...` URLs.
/// - `CLIPPING_WORKER_TRANSCRIBE_COMMAND` (unset): ffmpeg engine transcriber, media path appended.
/// - `CLIPPING_WORKER_S3_ENDPOINT`, `_REGION`, `_BUCKET`, `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY` (secret)
///   (unset): all five store outputs in an S3-compatible store (SigV4) instead of the data dir.
/// - `CLIPPING_WORKER_MAX_CONCURRENT_JOBS` (2, 1–64).
public struct WorkerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./data"
    public var apiToken: String?
    /// Nil: generate one and keep it in the data directory.
    public var webhookSecrets: [WebhookSecret]?
    public var legacySignature = true
    public var webhookTimeout = Duration.seconds(10)
    public var webhookConnectTimeout = Duration.seconds(5)
    public var progressMinInterval = Duration.seconds(5)
    public var retryPolicy = RetryPolicy.standard
    public var signingKey: WebhookSigningKey?
    public var allowedNetworks: [CIDRBlock] = []
    public var localMediaDirectory: String?
    /// `ffmpeg` or `simulated`.
    public var engine = FFmpegMediaEngine.isAvailable ? "ffmpeg" : "simulated"
    /// `CLIPPING_WORKER_TRANSCRIBE_COMMAND` for the ffmpeg engine.
    public var transcribeCommand: String?
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
    public var simulatedStageDuration = Duration.milliseconds(200)
    public var publicURL: String?
    public var maxConcurrentJobs = 2

    /// The URL this worker's `/media` files are served under.
    public var effectivePublicURL: String {
        var base = publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Creates the defaults.
    public init() {}

    /// Every variable this configuration reads.
    public static let variables = [
        "CLIPPING_WORKER_HOST", "CLIPPING_WORKER_PORT", "CLIPPING_WORKER_DATA_DIR", "CLIPPING_WORKER_DATABASE_URL",
        "CLIPPING_WORKER_API_TOKEN", "WEBHOOK_SECRET", "WEBHOOK_LEGACY_SIGNATURE", "WEBHOOK_TIMEOUT_SECONDS",
        "WEBHOOK_CONNECT_TIMEOUT_SECONDS", "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS", "WEBHOOK_RETRY_SCHEDULE",
        "WEBHOOK_MAX_AGE_HOURS", "WEBHOOK_SIGNING_KEY", "CLIPPING_WORKER_ALLOWED_NETWORKS",
        "CLIPPING_WORKER_LOCAL_MEDIA_DIR", "CLIPPING_WORKER_ENGINE", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS",
        "CLIPPING_WORKER_PUBLIC_URL", "CLIPPING_WORKER_TRANSCRIBE_COMMAND", "CLIPPING_WORKER_S3_ENDPOINT",
        "CLIPPING_WORKER_S3_REGION", "CLIPPING_WORKER_S3_BUCKET", "CLIPPING_WORKER_S3_ACCESS_KEY_ID",
        "CLIPPING_WORKER_S3_SECRET_ACCESS_KEY", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS",
    ]

    /// The flag of a variable: without `CLIPPING_WORKER_`, lower-case, `_` → `-`.
    public static func flagName(_ variable: String) -> String {
        var name = variable
        if name.hasPrefix("CLIPPING_WORKER_") { name.removeFirst("CLIPPING_WORKER_".count) }
        return name.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Reads and checks every setting.
    /// - Parameter values: variables to values (the environment with flags laid over it).
    /// - Throws: ``ConfigurationError`` naming the first bad variable.
    public init(values: [String: String]) throws(ConfigurationError) {
        func value(_ name: String) -> String? {
            guard let text = values[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func seconds(_ name: String, minimum: Double, allowZero: Bool = false) throws(ConfigurationError) -> Duration? {
            guard let text = value(name) else { return nil }
            guard let number = Double(text), number.isFinite, number >= minimum, allowZero || number > 0, number <= 1e7 else {
                throw ConfigurationError(name, "must be a number of seconds\(allowZero ? " ≥ 0" : " > 0"), got \"\(text)\"")
            }
            return .milliseconds(Int64((number * 1000).rounded()))
        }
        func boolean(_ name: String) throws(ConfigurationError) -> Bool? {
            guard let text = value(name)?.lowercased() else { return nil }
            switch text {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigurationError(name, "must be true or false, got \"\(text)\"")
            }
        }

        if let host = value("CLIPPING_WORKER_HOST") { self.host = host }
        if let text = value("CLIPPING_WORKER_PORT") {
            guard let port = Int(text), (0...65535).contains(port) else {
                throw ConfigurationError("CLIPPING_WORKER_PORT", "must be an integer from 0 to 65535, got \"\(text)\"")
            }
            self.port = port
        }
        if let directory = value("CLIPPING_WORKER_DATA_DIR") { dataDirectory = directory }
        if value("CLIPPING_WORKER_DATABASE_URL") != nil {
            throw ConfigurationError(
                "CLIPPING_WORKER_DATABASE_URL", "PostgreSQL is not supported by this build yet; unset it to use SQLite")
        }
        apiToken = value("CLIPPING_WORKER_API_TOKEN")
        if let token = apiToken, token.count < 16 {
            throw ConfigurationError("CLIPPING_WORKER_API_TOKEN", "must be at least 16 characters")
        }
        if apiToken == nil && !Self.isLoopback(host) {
            throw ConfigurationError(
                "CLIPPING_WORKER_API_TOKEN",
                "is required to listen on \(host), which is not a loopback address")
        }
        if let text = value("WEBHOOK_SECRET") {
            do {
                webhookSecrets = try WebhookSecret.parseList(text)
            } catch {
                throw ConfigurationError("WEBHOOK_SECRET", error.details)
            }
        }
        if let flag = try boolean("WEBHOOK_LEGACY_SIGNATURE") { legacySignature = flag }
        if let timeout = try seconds("WEBHOOK_TIMEOUT_SECONDS", minimum: 0) { webhookTimeout = timeout }
        if let timeout = try seconds("WEBHOOK_CONNECT_TIMEOUT_SECONDS", minimum: 0) { webhookConnectTimeout = timeout }
        if let interval = try seconds("WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS", minimum: 0, allowZero: true) {
            progressMinInterval = interval
        }
        if let text = value("WEBHOOK_RETRY_SCHEDULE") {
            guard let schedule = Self.parseSchedule(text) else {
                throw ConfigurationError(
                    "WEBHOOK_RETRY_SCHEDULE", "must be comma-separated durations like 5s,30s,2m,1h, got \"\(text)\"")
            }
            retryPolicy.backgroundSchedule = schedule
        }
        if let text = value("WEBHOOK_MAX_AGE_HOURS") {
            guard let hours = Double(text), hours > 0, hours <= 24 * 365 else {
                throw ConfigurationError("WEBHOOK_MAX_AGE_HOURS", "must be a number of hours > 0, got \"\(text)\"")
            }
            retryPolicy.maxAge = .seconds(hours * 3600)
        }
        if let text = value("WEBHOOK_SIGNING_KEY") {
            do {
                signingKey = try WebhookSigningKey(text)
            } catch {
                throw ConfigurationError("WEBHOOK_SIGNING_KEY", error.details)
            }
        }
        if let text = value("CLIPPING_WORKER_ALLOWED_NETWORKS") {
            switch NetworkPolicy.parseAllowedNetworks(text) {
            case .success(let blocks): allowedNetworks = blocks
            case .failure(let bad):
                throw ConfigurationError("CLIPPING_WORKER_ALLOWED_NETWORKS", "\"\(bad.text)\" is not a CIDR block like 10.0.0.0/8")
            }
        }
        if let directory = value("CLIPPING_WORKER_LOCAL_MEDIA_DIR") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError("CLIPPING_WORKER_LOCAL_MEDIA_DIR", "\"\(directory)\" is not a directory")
            }
            localMediaDirectory = URL(fileURLWithPath: directory).standardizedFileURL.path
        }
        if let text = value("CLIPPING_WORKER_ENGINE") {
            switch text {
            case "simulated": engine = text
            case "ffmpeg":
                guard FFmpegMediaEngine.isAvailable else {
                    throw ConfigurationError("CLIPPING_WORKER_ENGINE", "ffmpeg and ffprobe must be on PATH for the ffmpeg engine")
                }
                engine = text
            default:
                throw ConfigurationError("CLIPPING_WORKER_ENGINE", "must be ffmpeg or simulated, got \"\(text)\"")
            }
        }
        if let stage = try seconds("CLIPPING_WORKER_SIMULATED_STAGE_SECONDS", minimum: 0, allowZero: true) {
            simulatedStageDuration = stage
        }
        if let text = value("CLIPPING_WORKER_PUBLIC_URL") {
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw ConfigurationError("CLIPPING_WORKER_PUBLIC_URL", "must be an http(s) URL, got \"\(text)\"")
            }
            publicURL = text
        }
        transcribeCommand = value("CLIPPING_WORKER_TRANSCRIBE_COMMAND")
        if let command = transcribeCommand, let executable = command.split(separator: " ").first {
            let name = String(executable)
            let found = name.contains("/") ? FileManager.default.isExecutableFile(atPath: name)
                : (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
                    FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
                }
            guard found else {
                throw ConfigurationError("CLIPPING_WORKER_TRANSCRIBE_COMMAND", "\"\(name)\" is not an executable on PATH")
            }
        }
        let s3Names = ["CLIPPING_WORKER_S3_ENDPOINT", "CLIPPING_WORKER_S3_REGION", "CLIPPING_WORKER_S3_BUCKET",
                       "CLIPPING_WORKER_S3_ACCESS_KEY_ID", "CLIPPING_WORKER_S3_SECRET_ACCESS_KEY"]
        let s3Values = s3Names.map(value)
        if s3Values.contains(where: { $0 != nil }) {
            if let missing = zip(s3Names, s3Values).first(where: { $0.1 == nil })?.0 {
                throw ConfigurationError(missing, "is required when any CLIPPING_WORKER_S3_ setting is given")
            }
            let endpoint = s3Values[0]!
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw ConfigurationError("CLIPPING_WORKER_S3_ENDPOINT", "must be an http(s) URL, got \"\(endpoint)\"")
            }
            let bucket = s3Values[2]!
            guard bucket.count >= 3, bucket.count <= 63, bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
                throw ConfigurationError("CLIPPING_WORKER_S3_BUCKET", "must be a bucket name (3–63 lower-case letters, digits, '-' or '.')")
            }
            s3 = S3Settings(
                endpoint: endpoint, region: s3Values[1]!, bucket: bucket, accessKeyID: s3Values[3]!, secretAccessKey: s3Values[4]!)
        }
        if let text = value("CLIPPING_WORKER_MAX_CONCURRENT_JOBS") {
            guard let count = Int(text), (1...64).contains(count) else {
                throw ConfigurationError("CLIPPING_WORKER_MAX_CONCURRENT_JOBS", "must be an integer from 1 to 64, got \"\(text)\"")
            }
            maxConcurrentJobs = count
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
