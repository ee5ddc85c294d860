import FFmpegEngine
import OutboxPostgres
import Foundation
import WebhookCore
import WebhookSigning

extension WorkerConfiguration {
    /// Every setting of `serve` (SPEC section 3), in the order they are read: one entry each.
    ///
    /// Adding a setting is adding an entry here (and the field it writes). Its flag, its line in
    /// `serve --help`, its README row (``settingsMarkdown``) and its reading come from the entry.
    /// A reader may look at settings above it (`CLIPPING_WORKER_API_TOKEN` looks at the host).
    /// Checks spanning several settings are in ``rules``.
    public static let settings: [Setting] = [
        .string("CLIPPING_WORKER_HOST", default: .value("127.0.0.1"), meaning: "API listen address", into: \.host),
        .integer(
            "CLIPPING_WORKER_PORT", default: .value("8080"), meaning: "API port; 0 picks a free one",
            range: 0...65535, into: \.port),
        .string(
            "CLIPPING_WORKER_DATA_DIR", default: .value("./data"),
            meaning: "SQLite database, delivery log, locally stored media, generated webhook secret",
            into: \.dataDirectory),
        .text(
            "CLIPPING_WORKER_DATABASE_URL", default: .described("unset: SQLite in the data directory"),
            meaning: "`postgres://user:pass@host:port/db[?sslmode=disable|prefer|require]` (also `postgresql://`): "
                + "jobs and the outbox shared by every worker on that database (SPEC section 8)",
            secret: true
        ) { text, configuration throws(ConfigurationError) in
            do throws(PostgresURLError) {
                configuration.databaseURL = try PostgresURL(text)
            } catch {
                // The error never quotes the URL: it may carry the password.
                var reason = error.description
                for prefix in ["CLIPPING_WORKER_DATABASE_URL: ", "CLIPPING_WORKER_DATABASE_URL "] where reason.hasPrefix(prefix) {
                    reason.removeFirst(prefix.count)
                }
                throw ConfigurationError("CLIPPING_WORKER_DATABASE_URL", reason)
            }
        },
        .seconds(
            "CLIPPING_WORKER_LEASE_SECONDS", default: .value("30"),
            meaning: "PostgreSQL only: how long a worker's claim on a job and its events lasts without renewal; "
                + "renewed every third of it",
            into: \.leaseDuration),
        .integer(
            "CLIPPING_WORKER_DATABASE_POOL_SIZE", default: .value("10"),
            meaning: "PostgreSQL only: connections this worker keeps to the database", range: 1...200,
            into: \.databasePoolSize),
        Setting(
            "CLIPPING_WORKER_API_TOKEN", default: .unset,
            meaning: "bearer token (≥ 16 characters) required on every route but `/healthz` and `/readyz`; "
                + "required to listen on a non-loopback address",
            secret: true
        ) { text, configuration throws(ConfigurationError) in
            configuration.apiToken = text
            if let text, text.count < 16 {
                throw ConfigurationError("CLIPPING_WORKER_API_TOKEN", "must be at least 16 characters")
            }
            if text == nil && !isLoopback(configuration.host) {
                throw ConfigurationError(
                    "CLIPPING_WORKER_API_TOKEN",
                    "is required to listen on \(configuration.host), which is not a loopback address")
            }
        },
        .text(
            "WEBHOOK_SECRET", default: .described("generated into `<data dir>/webhook_secret` (mode 0600)"),
            meaning: "`whsec_<base64>` signing secret; several, space-separated, during rotation; "
                + "a generated one's path is logged, never its value",
            secret: true
        ) { text, configuration throws(ConfigurationError) in
            do throws(SigningError) {
                configuration.webhookSecrets = try WebhookSecret.parseList(text)
            } catch {
                throw ConfigurationError("WEBHOOK_SECRET", error.details)
            }
        },
        .boolean(
            "WEBHOOK_LEGACY_SIGNATURE", default: .value("true"), meaning: "also send `X-Webhook-Signature`",
            into: \.legacySignature),
        .seconds(
            "WEBHOOK_TIMEOUT_SECONDS", default: .value("10"), meaning: "timeout of one delivery attempt",
            into: \.webhookTimeout),
        .seconds(
            "WEBHOOK_CONNECT_TIMEOUT_SECONDS", default: .value("5"), meaning: "connect timeout of one delivery attempt",
            into: \.webhookConnectTimeout),
        .seconds(
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS", default: .value("5"), meaning: "per-job progress throttle",
            allowZero: true, into: \.progressMinInterval),
        .text(
            "WEBHOOK_RETRY_SCHEDULE", default: .value("5s,30s,2m,10m,30m,1h,2h,4h,8h"),
            meaning:
                "background retry delays after the inline attempts (ms, s, m, h); the last repeats until the max age"
        ) { text, configuration throws(ConfigurationError) in
            guard let schedule = parseSchedule(text) else {
                throw ConfigurationError(
                    "WEBHOOK_RETRY_SCHEDULE", "must be comma-separated durations like 5s,30s,2m,1h, got \"\(text)\"")
            }
            configuration.retryPolicy.backgroundSchedule = schedule
        },
        .text(
            "WEBHOOK_MAX_AGE_HOURS", default: .value("72"),
            meaning: "after this many hours a terminal event stops retrying and is marked failed"
        ) { text, configuration throws(ConfigurationError) in
            guard let hours = Double(text), hours > 0, hours <= 24 * 365 else {
                throw ConfigurationError("WEBHOOK_MAX_AGE_HOURS", "must be a number of hours > 0, got \"\(text)\"")
            }
            configuration.retryPolicy.maxAge = .seconds(hours * 3600)
        },
        .text(
            "WEBHOOK_SIGNING_KEY", default: .unset,
            meaning: "`whsk_<base64 seed+public key>`: also sign with Ed25519 (`v1a,...`)", secret: true
        ) { text, configuration throws(ConfigurationError) in
            do throws(SigningError) {
                configuration.signingKey = try WebhookSigningKey(text)
            } catch {
                throw ConfigurationError("WEBHOOK_SIGNING_KEY", error.details)
            }
        },
        .text(
            "CLIPPING_WORKER_ALLOWED_NETWORKS", default: .unset,
            meaning:
                "CIDRs that callbacks and video downloads may reach although private (e.g. `127.0.0.0/8,10.0.0.0/8`)"
        ) { text, configuration throws(ConfigurationError) in
            switch NetworkPolicy.parseAllowedNetworks(text) {
            case .success(let blocks): configuration.allowedNetworks = blocks
            case .failure(let bad):
                throw ConfigurationError(
                    "CLIPPING_WORKER_ALLOWED_NETWORKS", "\"\(bad.text)\" is not a CIDR block like 10.0.0.0/8")
            }
        },
        .text(
            "WEBHOOK_PROXY", default: .unset,
            meaning: "`http://host:port` proxy every callback goes through (HTTPS by `CONNECT`); the worker then "
                + "connects only to it (its address must be allowed) and leaves callback host names to it; "
                + "address literals in callback URLs are still refused; video downloads do not use it"
        ) { text, configuration throws(ConfigurationError) in
            configuration.webhookProxy = try checkedProxy(text, allowedNetworks: configuration.allowedNetworks)
        },
        .text(
            "WEBHOOK_CA_FILE", default: .described("the system's trust store"),
            meaning: "PEM bundle of the certificate authorities trusted for https callbacks "
                + "(certificates and host names are always verified)"
        ) { text, configuration throws(ConfigurationError) in
            try PEMFile.check(text, holds: .certificate, setting: "WEBHOOK_CA_FILE")
            configuration.webhookCAFile = text
        },
        .text(
            "WEBHOOK_CLIENT_CERT", default: .unset,
            meaning: "PEM client certificate presented to https receivers that ask for one (mTLS); with `WEBHOOK_CLIENT_KEY`"
        ) { text, configuration throws(ConfigurationError) in
            try PEMFile.check(text, holds: .certificate, setting: "WEBHOOK_CLIENT_CERT")
            configuration.webhookClientCertificate = text
        },
        .text(
            "WEBHOOK_CLIENT_KEY", default: .unset,
            meaning: "PEM private key (unencrypted) of `WEBHOOK_CLIENT_CERT`"
        ) { text, configuration throws(ConfigurationError) in
            try PEMFile.check(text, holds: .privateKey, setting: "WEBHOOK_CLIENT_KEY")
            configuration.webhookClientKey = text
        },
        .text(
            "CLIPPING_WORKER_LOCAL_MEDIA_DIR", default: .unset,
            meaning: "`file://` video URLs are accepted only when set, and only for files under it"
        ) { directory, configuration throws(ConfigurationError) in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw ConfigurationError("CLIPPING_WORKER_LOCAL_MEDIA_DIR", "\"\(directory)\" is not a directory")
            }
            configuration.localMediaDirectory = URL(fileURLWithPath: directory).standardizedFileURL.path
        },
        .text(
            "CLIPPING_WORKER_ENGINE",
            default: .described("`ffmpeg` if `ffmpeg` and `ffprobe` are on PATH, else `simulated`"),
            meaning: "pipeline engine: `ffmpeg` (real media work) or `simulated`"
        ) { text, configuration throws(ConfigurationError) in
            switch text {
            case "simulated": configuration.engine = text
            case "ffmpeg":
                guard FFmpegMediaEngine.isAvailable else {
                    throw ConfigurationError(
                        "CLIPPING_WORKER_ENGINE", "ffmpeg and ffprobe must be on PATH for the ffmpeg engine")
                }
                configuration.engine = text
            default:
                throw ConfigurationError("CLIPPING_WORKER_ENGINE", "must be ffmpeg or simulated, got \"\(text)\"")
            }
        },
        .seconds(
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS", default: .value("0.2"),
            meaning: "how long each simulated stage after download takes", allowZero: true,
            into: \.simulatedStageDuration),
        .text(
            "CLIPPING_WORKER_PUBLIC_URL", default: .described("`http://<host>:<port>`"),
            meaning: "base of the absolute URLs given for locally stored media (`/media/...`)"
        ) { text, configuration throws(ConfigurationError) in
            guard let url = URL(string: text), isHTTP(url) else {
                throw ConfigurationError("CLIPPING_WORKER_PUBLIC_URL", "must be an http(s) URL, got \"\(text)\"")
            }
            configuration.publicURL = text
        },
        .text(
            "CLIPPING_WORKER_TRANSCRIBE_COMMAND", default: .unset,
            meaning:
                "ffmpeg engine: a command run with the media file path appended; it prints SRT, WebVTT or transcript JSON"
        ) { command, configuration throws(ConfigurationError) in
            if let executable = command.split(separator: " ").first, !isExecutable(String(executable)) {
                throw ConfigurationError(
                    "CLIPPING_WORKER_TRANSCRIBE_COMMAND", "\"\(executable)\" is not an executable on PATH")
            }
            configuration.transcribeCommand = command
        },
        .text(
            "CLIPPING_WORKER_TRANSCRIBER", default: .value("auto"),
            meaning: "ffmpeg engine: `auto` (command, embedded subtitles, sidecar file, built-in speech-to-text if "
                + "installed, silence detection) or one of `command`, `embedded`, `sidecar`, `whisper`, `silence` to force it"
        ) { text, configuration throws(ConfigurationError) in
            guard let source = TranscriptSource(rawValue: text.lowercased()) else {
                throw ConfigurationError(
                    "CLIPPING_WORKER_TRANSCRIBER",
                    "must be one of \(TranscriptSource.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            if source == .command && configuration.transcribeCommand == nil {
                throw ConfigurationError("CLIPPING_WORKER_TRANSCRIBER", "command needs CLIPPING_WORKER_TRANSCRIBE_COMMAND")
            }
            if source == .whisper && configuration.engineHelpers.whisper == nil {
                throw ConfigurationError("CLIPPING_WORKER_TRANSCRIBER", "whisper: " + EngineHelpers.installHint)
            }
            configuration.transcriber = source
        },
        .text(
            "CLIPPING_WORKER_WHISPER_MODEL", default: .described("the packaged English model (Whisper `tiny.en`)"),
            meaning: "directory of a CTranslate2 Whisper model for the built-in speech-to-text; a multilingual one "
                + "detects the language"
        ) { directory, configuration throws(ConfigurationError) in
            guard FileManager.default.fileExists(atPath: directory + "/model.bin") else {
                throw ConfigurationError(
                    "CLIPPING_WORKER_WHISPER_MODEL", "\"\(directory)\" is not a CTranslate2 model directory (no model.bin)")
            }
            configuration.whisperModel = URL(fileURLWithPath: directory).standardizedFileURL.path
        },
        .text(
            "CLIPPING_WORKER_S3_ENDPOINT", default: .unset,
            meaning: "S3-compatible output store (SigV4) instead of the data dir; the five S3 settings come together"
        ) { endpoint, _ throws(ConfigurationError) in
            guard let url = URL(string: endpoint), isHTTP(url) else {
                throw ConfigurationError("CLIPPING_WORKER_S3_ENDPOINT", "must be an http(s) URL, got \"\(endpoint)\"")
            }
        },
        .text("CLIPPING_WORKER_S3_REGION", default: .unset, meaning: "region of the S3 store") { _, _ in },
        .text("CLIPPING_WORKER_S3_BUCKET", default: .unset, meaning: "bucket of the S3 store") {
            bucket, _ throws(ConfigurationError) in
            guard bucket.count >= 3, bucket.count <= 63,
                bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." })
            else {
                throw ConfigurationError(
                    "CLIPPING_WORKER_S3_BUCKET", "must be a bucket name (3–63 lower-case letters, digits, '-' or '.')")
            }
        },
        .text("CLIPPING_WORKER_S3_ACCESS_KEY_ID", default: .unset, meaning: "access key id for the S3 store") {
            _, _ in
        },
        .text(
            "CLIPPING_WORKER_S3_SECRET_ACCESS_KEY", default: .unset, meaning: "secret access key for the S3 store",
            secret: true
        ) { _, _ in },
        .integer(
            "CLIPPING_WORKER_MAX_CONCURRENT_JOBS", default: .value("2"),
            meaning: "jobs running at once in this process (1–64)",
            range: 1...64, into: \.maxConcurrentJobs),
        .integer(
            "WEBHOOK_MAX_IN_FLIGHT", default: .value("256"), meaning: "webhook attempts in flight at once, in all",
            range: 1...10_000, into: \.maxInFlight),
        .integer(
            "WEBHOOK_MAX_IN_FLIGHT_PER_ORIGIN", default: .value("32"),
            meaning: "webhook attempts in flight at once to one origin (scheme, host, port)",
            range: 1...10_000, into: \.maxInFlightPerOrigin),
        .integer(
            "CLIPPING_WORKER_MAX_QUEUED_JOBS", default: .value("10000"),
            meaning: "jobs waiting to run (in this store); beyond it a submission gets 429 with `Retry-After`",
            range: 1...10_000_000, into: \.maxQueuedJobs),
        .text(
            "CLIPPING_WORKER_RETENTION_DAYS", default: .value("7"),
            meaning: "finished jobs, their events and attempts, and their local outputs are deleted this many days "
                + "after the job finished (decimals allowed; 0 keeps everything)"
        ) { text, configuration throws(ConfigurationError) in
            guard let days = Double(text), days.isFinite, days >= 0, days <= 36_500 else {
                throw ConfigurationError("CLIPPING_WORKER_RETENTION_DAYS", "must be a number of days ≥ 0, got \"\(text)\"")
            }
            configuration.retention = .milliseconds(Int64((days * 86_400_000).rounded()))
        },
        .text(
            "CLIPPING_WORKER_LOG_FORMAT", default: .value("text"),
            meaning: "`text` or `json` (one JSON object per line) for the process log; `LOG_LEVEL` [info] sets its level"
        ) { text, configuration throws(ConfigurationError) in
            guard let format = LogFormat(rawValue: text.lowercased()) else {
                throw ConfigurationError("CLIPPING_WORKER_LOG_FORMAT", "must be text or json, got \"\(text)\"")
            }
            configuration.logFormat = format
        },
        .seconds(
            "CLIPPING_WORKER_SHUTDOWN_GRACE_SECONDS", default: .value("20"),
            meaning: "on SIGTERM/SIGINT, how long running jobs and attempts in flight may take before they are cancelled",
            allowZero: true, into: \.shutdownGrace),
    ]

    /// The checks that span several settings.
    public static let rules = [
        // Receivers verify with one secret: workers sharing a database must sign alike.
        // A certificate without its key (or the reverse) cannot be presented.
        Rule(["WEBHOOK_CLIENT_CERT", "WEBHOOK_CLIENT_KEY"]) { values, configuration throws(ConfigurationError) in
            switch (configuration.webhookClientCertificate, configuration.webhookClientKey) {
            case (.some, nil):
                throw ConfigurationError("WEBHOOK_CLIENT_KEY", "is required with WEBHOOK_CLIENT_CERT (both or neither)")
            case (nil, .some):
                throw ConfigurationError("WEBHOOK_CLIENT_CERT", "is required with WEBHOOK_CLIENT_KEY (both or neither)")
            default:
                break
            }
        },
        Rule(["CLIPPING_WORKER_DATABASE_URL", "WEBHOOK_SECRET"]) { values, configuration throws(ConfigurationError) in
            if configuration.databaseURL != nil && configuration.webhookSecrets == nil {
                throw ConfigurationError(
                    "WEBHOOK_SECRET",
                    "is required with CLIPPING_WORKER_DATABASE_URL: every worker on one database must sign with the same secret")
            }
        },
        // All five together (each already checked on its own), or none.
        Rule(s3Variables) { values, configuration throws(ConfigurationError) in
            let names = s3Variables
            let given = names.compactMap { value(of: $0, in: values) }
            guard !given.isEmpty else { return }
            guard given.count == names.count else {
                let missing = names.first { value(of: $0, in: values) == nil } ?? names[0]
                throw ConfigurationError(missing, "is required when any CLIPPING_WORKER_S3_ setting is given")
            }
            configuration.s3 = S3Settings(
                endpoint: given[0], region: given[1], bucket: given[2], accessKeyID: given[3], secretAccessKey: given[4]
            )
        }
    ]

    private static let s3Variables = [
        "CLIPPING_WORKER_S3_ENDPOINT", "CLIPPING_WORKER_S3_REGION", "CLIPPING_WORKER_S3_BUCKET",
        "CLIPPING_WORKER_S3_ACCESS_KEY_ID", "CLIPPING_WORKER_S3_SECRET_ACCESS_KEY",
    ]

    /// A variable's value as settings see it: trimmed, and nil when unset, empty or only spaces.
    /// - Parameters:
    ///   - variable: the variable's name.
    ///   - values: the variables' values.
    /// - Returns: the trimmed value, or nil.
    public static func value(of variable: String, in values: [String: String]) -> String? {
        guard let text = values[variable]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        return text
    }

    private static func isHTTP(_ url: URL) -> Bool {
        ["http", "https"].contains(url.scheme?.lowercased() ?? "") && url.host != nil
    }

    /// True for a path to an executable, or a name found in one of `PATH`'s directories.
    private static func isExecutable(_ name: String) -> Bool {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) }
        return (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
        }
    }
}

extension WorkerConfiguration {
    /// `WEBHOOK_PROXY` checked: `http://host[:port]` without credentials or path; a literal
    /// address must be allowed by the network policy (a name is checked once resolved, at start).
    static func checkedProxy(_ text: String, allowedNetworks: [CIDRBlock]) throws(ConfigurationError) -> String {
        let name = "WEBHOOK_PROXY"
        guard text.lowercased().hasPrefix("http://") else {
            throw ConfigurationError(name, "must be an http:// URL like http://10.0.0.5:3128, got \"\(text)\"")
        }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        guard rest.dropFirst(authority.count).allSatisfy({ $0 == "/" }) else {
            throw ConfigurationError(name, "must be http://host:port with no path, got \"\(text)\"")
        }
        guard !authority.contains("@") else {
            throw ConfigurationError(name, "must not carry credentials (proxy authentication is not supported)")
        }
        switch URLTarget.parse(text) {
        case .failure(let refusal):
            throw ConfigurationError(name, "\(refusal.reason), got \"\(text)\"")
        case .success(.address(let address)):
            if let refusal = NetworkPolicy(allowedNetworks: allowedNetworks).refusal(for: address) {
                throw ConfigurationError(
                    name, "the proxy's address is not allowed (\(refusal)): add it to CLIPPING_WORKER_ALLOWED_NETWORKS")
            }
        case .success(.name):
            break
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
