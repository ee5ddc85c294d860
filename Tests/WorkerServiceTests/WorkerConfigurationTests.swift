import Foundation
import OutboxPostgres
import Testing
import WebhookCore
import WorkerService

struct WorkerConfigurationTests {
    @Test func defaults() throws {
        let configuration = try WorkerConfiguration(values: [:])
        #expect(configuration.host == "127.0.0.1" && configuration.port == 8080)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.webhookSecrets == nil)
        #expect(configuration.legacySignature)
        #expect(configuration.webhookTimeout == .seconds(10) && configuration.webhookConnectTimeout == .seconds(5))
        #expect(configuration.progressMinInterval == .seconds(5))
        #expect(configuration.retryPolicy.backgroundSchedule == RetryPolicy.standard.backgroundSchedule)
        #expect(configuration.retryPolicy.maxAge == .seconds(72 * 3600))
        #expect(configuration.simulatedStageDuration == .milliseconds(200))
        // ffmpeg is installed by the test script, so it is the default engine here.
        #expect(configuration.engine == "ffmpeg")
        #expect(configuration.maxConcurrentJobs == 2)
        #expect(configuration.effectivePublicURL == "http://127.0.0.1:8080")
    }

    @Test func readsEverySetting() throws {
        let configuration = try WorkerConfiguration(values: [
            "CLIPPING_WORKER_HOST": "0.0.0.0", "CLIPPING_WORKER_PORT": "9000", "CLIPPING_WORKER_API_TOKEN": "0123456789abcdef",
            "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "WEBHOOK_LEGACY_SIGNATURE": "false", "WEBHOOK_TIMEOUT_SECONDS": "2.5", "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "0.5",
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0", "WEBHOOK_RETRY_SCHEDULE": "1s, 500ms,2m,1.5h",
            "WEBHOOK_MAX_AGE_HOURS": "0.5", "CLIPPING_WORKER_ALLOWED_NETWORKS": "10.0.0.0/8,fd00::/8",
            "CLIPPING_WORKER_LOCAL_MEDIA_DIR": NSTemporaryDirectory(), "CLIPPING_WORKER_ENGINE": "simulated",
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0", "CLIPPING_WORKER_PUBLIC_URL": "https://clips.example.com/",
            "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "8",
            "WEBHOOK_SIGNING_KEY": "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
        ])
        #expect(configuration.port == 9000 && configuration.webhookSecrets?.count == 2 && !configuration.legacySignature)
        #expect(configuration.webhookTimeout == .milliseconds(2500))
        #expect(configuration.retryPolicy.backgroundSchedule == [.seconds(1), .milliseconds(500), .seconds(120), .seconds(5400)])
        #expect(configuration.retryPolicy.maxAge == .seconds(1800))
        #expect(configuration.allowedNetworks.count == 2)
        #expect(configuration.signingKey != nil)
        #expect(configuration.effectivePublicURL == "https://clips.example.com")
        #expect(configuration.maxConcurrentJobs == 8)
    }

    static let badValues: [(String, String, String)] = [
        ("CLIPPING_WORKER_PORT", "http", "must be an integer from 0 to 65535"),
        ("CLIPPING_WORKER_PORT", "70000", "must be an integer from 0 to 65535"),
        ("CLIPPING_WORKER_HOST", "0.0.0.0", "CLIPPING_WORKER_API_TOKEN (--api-token): is required to listen on 0.0.0.0"),
        ("CLIPPING_WORKER_API_TOKEN", "short", "must be at least 16 characters"),
        ("CLIPPING_WORKER_DATABASE_URL", "mysql://u:s3cret@h/db", "must start with postgres:// or postgresql://"),
        ("CLIPPING_WORKER_DATABASE_URL", "postgres://u:s3cret@h/db?sslmode=verify-full", "sslmode must be disable, prefer or require"),
        ("CLIPPING_WORKER_DATABASE_URL", "postgres://u:s3cret@h:99999/db", "has a port outside 1-65535"),
        ("CLIPPING_WORKER_LEASE_SECONDS", "0", "must be a number of seconds > 0"),
        ("CLIPPING_WORKER_DATABASE_POOL_SIZE", "0", "must be an integer from 1 to 200"),
        ("WEBHOOK_SECRET", "not-a-secret", "a webhook secret must start with whsec_"),
        ("WEBHOOK_LEGACY_SIGNATURE", "maybe", "must be true or false"),
        ("WEBHOOK_TIMEOUT_SECONDS", "0", "must be a number of seconds > 0"),
        ("WEBHOOK_TIMEOUT_SECONDS", "-3", "must be a number of seconds > 0"),
        ("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "abc", "must be a number of seconds > 0"),
        ("WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS", "-1", "must be a number of seconds ≥ 0"),
        ("WEBHOOK_RETRY_SCHEDULE", "5s,,bogus", "must be comma-separated durations"),
        ("WEBHOOK_RETRY_SCHEDULE", "5x", "must be comma-separated durations"),
        ("WEBHOOK_MAX_AGE_HOURS", "0", "must be a number of hours > 0"),
        ("WEBHOOK_SIGNING_KEY", "whsk_abc", "a signing key"),
        ("CLIPPING_WORKER_ALLOWED_NETWORKS", "10.0.0.0/8,banana", "\"banana\" is not a CIDR block"),
        ("CLIPPING_WORKER_LOCAL_MEDIA_DIR", "/definitely/not/here", "is not a directory"),
        ("CLIPPING_WORKER_ENGINE", "gpu", "must be ffmpeg or simulated"),
        ("CLIPPING_WORKER_TRANSCRIBE_COMMAND", "/no/such/whisper --model x", "is not an executable on PATH"),
        ("CLIPPING_WORKER_SIMULATED_STAGE_SECONDS", "fast", "must be a number of seconds ≥ 0"),
        ("CLIPPING_WORKER_PUBLIC_URL", "ftp://x", "must be an http(s) URL"),
        ("CLIPPING_WORKER_S3_BUCKET", "clips", "is required when any CLIPPING_WORKER_S3_ setting is given"),
        ("CLIPPING_WORKER_MAX_CONCURRENT_JOBS", "0", "must be an integer from 1 to 64"),
    ]

    @Test(arguments: badValues)
    func rejectsWithOneLineNamingTheVariable(variable: String, value: String, message: String) {
        do {
            _ = try WorkerConfiguration(values: [variable: value])
            Issue.record("accepted \(variable)=\(value)")
        } catch {
            let line = error.description
            #expect(line.contains(message), "\(line)")
            #expect(!line.contains("\n"))
            let expected = ["CLIPPING_WORKER_HOST": "CLIPPING_WORKER_API_TOKEN", "CLIPPING_WORKER_S3_BUCKET": "CLIPPING_WORKER_S3_ENDPOINT"]
            #expect(line.hasPrefix(expected[variable] ?? variable))
            // Secrets are never echoed back.
            if ["WEBHOOK_SECRET", "CLIPPING_WORKER_API_TOKEN", "CLIPPING_WORKER_DATABASE_URL"].contains(variable) {
                #expect(!line.contains(value))
                #expect(!line.contains("s3cret"))
            }
        }
    }

    /// Receivers verify with one secret: workers sharing a database must not each generate one.
    @Test func aSharedDatabaseNeedsAnExplicitSecret() throws {
        do {
            _ = try WorkerConfiguration(values: ["CLIPPING_WORKER_DATABASE_URL": "postgres://u:s3cret@db.internal/clips"])
            Issue.record("accepted a shared database without WEBHOOK_SECRET")
        } catch {
            #expect(error.description.hasPrefix("WEBHOOK_SECRET"))
            #expect(!error.description.contains("s3cret"))
        }
        let configuration = try WorkerConfiguration(values: [
            "CLIPPING_WORKER_DATABASE_URL": "postgresql://u:s3cret@db.internal:6432/clips?sslmode=require",
            "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "CLIPPING_WORKER_LEASE_SECONDS": "12",
        ])
        #expect(configuration.databaseURL?.port == 6432)
        #expect(configuration.databaseURL?.sslMode.rawValue == "require")
        #expect(configuration.leaseDuration == .seconds(12))
    }

    @Test func s3SettingsComeTogether() throws {
        let all = [
            "CLIPPING_WORKER_S3_ENDPOINT": "http://127.0.0.1:9000", "CLIPPING_WORKER_S3_REGION": "us-east-1",
            "CLIPPING_WORKER_S3_BUCKET": "clips", "CLIPPING_WORKER_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "CLIPPING_WORKER_S3_SECRET_ACCESS_KEY": "very-secret-value",
        ]
        let configuration = try WorkerConfiguration(values: all)
        #expect(configuration.s3?.bucket == "clips")
        #expect(!"\(configuration.s3!)".contains("very-secret-value"))
        var bad = all
        bad["CLIPPING_WORKER_S3_BUCKET"] = "Bad_Bucket"
        #expect(throws: ConfigurationError.self) { try WorkerConfiguration(values: bad) }
        bad = all
        bad["CLIPPING_WORKER_S3_ENDPOINT"] = "s3.example.com"
        #expect(throws: ConfigurationError.self) { try WorkerConfiguration(values: bad) }
    }

    @Test func flagNames() {
        #expect(WorkerConfiguration.flagName("CLIPPING_WORKER_PORT") == "port")
        #expect(WorkerConfiguration.flagName("WEBHOOK_TIMEOUT_SECONDS") == "webhook-timeout-seconds")
        #expect(WorkerConfiguration.flagName("CLIPPING_WORKER_S3_ACCESS_KEY_ID") == "s3-access-key-id")
        #expect(WorkerConfiguration.isLoopback("127.0.0.2") && WorkerConfiguration.isLoopback("::1"))
        #expect(!WorkerConfiguration.isLoopback("10.0.0.1"))
    }
}
