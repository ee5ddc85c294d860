// swift-tools-version:6.0
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "clipping-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "clipping-worker", targets: ["clipping-worker"]),
        .executable(name: "delivery-bench", targets: ["delivery-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
        // Already in the graph through Hummingbird; named for NIOHTTPTypes (RequestSizeGate).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // libcurl, seen by CurlTransport only.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // Domain types and the seams (store, sender, clock); no I/O.
        .target(
            name: "WebhookCore",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        // Standard Webhooks signing and verification.
        .target(
            name: "WebhookSigning",
            dependencies: [
                "WebhookCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The libcurl multi sender.
        .target(
            name: "CurlTransport",
            dependencies: ["CCurl", "WebhookCore"],
            swiftSettings: strictSettings
        ),
        // The durable outbox on SQLite.
        .target(
            name: "OutboxSQLite",
            dependencies: [
                "WebhookCore",
                "WorkerCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The shared outbox and job store on PostgreSQL, for several workers on one database (SPEC section 8).
        .target(
            name: "OutboxPostgres",
            dependencies: [
                "WebhookCore",
                "WorkerCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // JSON-lines delivery log.
        .target(
            name: "DeliveryLog",
            dependencies: ["WebhookCore", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strictSettings
        ),
        // The job model: statuses, validated requests, API errors.
        .target(
            name: "WorkerCore",
            dependencies: ["WebhookCore"],
            swiftSettings: strictSettings
        ),
        // Dispatcher, throttle, publisher.
        .target(
            name: "WebhookDispatch",
            dependencies: [
                "WebhookCore",
                "WebhookSigning",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The pipeline: download, engines, runner.
        .target(
            name: "WorkerPipeline",
            dependencies: [
                "WorkerCore", "WebhookCore", "WebhookDispatch", "CurlTransport",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Starting a program with posix_spawn: only its three descriptors, no blocked signal, and
        // a thread that waits for its exit (the engine's programs and the tests' alike).
        .target(
            name: "ChildProcess",
            swiftSettings: strictSettings
        ),
        // The ffmpeg engine.
        .target(
            name: "FFmpegEngine",
            dependencies: ["ChildProcess", "WorkerPipeline", "WorkerCore", "WebhookCore"],
            swiftSettings: strictSettings
        ),
        // The HTTP API on Hummingbird.
        .target(
            name: "WorkerAPI",
            dependencies: [
                "WorkerCore", "WorkerPipeline", "WebhookCore", "WebhookDispatch", "OutboxSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // Configuration and the composition root.
        .target(
            name: "WorkerService",
            dependencies: [
                "WorkerAPI", "WorkerPipeline", "FFmpegEngine", "WorkerCore", "WebhookCore", "WebhookDispatch", "WebhookSigning",
                "CurlTransport", "OutboxSQLite", "OutboxPostgres", "DeliveryLog",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The CLI.
        .executableTarget(
            name: "clipping-worker",
            dependencies: [
                "WorkerService", "WorkerAPI", "WorkerPipeline", "WorkerCore", "WebhookCore", "WebhookDispatch", "WebhookSigning",
                "CurlTransport", "OutboxSQLite", "DeliveryLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Test doubles and a scriptable loopback HTTP receiver, shared by tests and the benchmark.
        .target(
            name: "WebhookTestSupport",
            dependencies: [
                "ChildProcess", "WebhookCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "delivery-bench",
            dependencies: [
                "WebhookCore", "WebhookSigning", "CurlTransport", "OutboxSQLite", "OutboxPostgres", "DeliveryLog",
                "WebhookDispatch", "WebhookTestSupport", "WorkerCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebhookCoreTests",
            dependencies: ["WebhookCore", "WebhookDispatch", "WebhookTestSupport", "WorkerCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkerCoreTests",
            dependencies: ["WorkerCore", "WebhookCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkerPipelineTests",
            dependencies: [
                "WorkerPipeline", "WorkerCore", "WebhookCore", "WebhookDispatch", "WebhookSigning", "CurlTransport",
                "OutboxSQLite", "WebhookTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkerServiceTests",
            dependencies: [
                "WorkerService", "WebhookCore", "CurlTransport", "WebhookSigning", "WebhookTestSupport", "OutboxPostgres",
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "clipping-worker", "WebhookCore", "WebhookSigning", "CurlTransport", "WebhookTestSupport", "DeliveryLog",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FFmpegEngineTests",
            dependencies: [
                "FFmpegEngine", "WorkerPipeline", "WorkerCore", "WebhookCore", "WebhookDispatch", "WebhookSigning",
                "CurlTransport", "OutboxSQLite", "WebhookTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebhookSigningTests",
            dependencies: ["WebhookCore", "WebhookSigning", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CurlTransportTests",
            dependencies: ["CurlTransport", "WebhookCore", "WebhookTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OutboxSQLiteTests",
            dependencies: [
                "OutboxSQLite", "WebhookCore", "WorkerCore", "WebhookTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // The store conformance suite (SQLite and PostgreSQL) and the PostgreSQL-only tests: they need
        // a server, whose URL scripts/test.sh hands over in CLIPPING_WORKER_TEST_DATABASE_URL.
        .testTarget(
            name: "OutboxPostgresTests",
            dependencies: [
                "OutboxPostgres", "OutboxSQLite", "WebhookCore", "WorkerCore", "WebhookTestSupport", "WebhookDispatch",
                "WebhookSigning", "CurlTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DeliveryLogTests",
            dependencies: ["DeliveryLog", "WebhookCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebhookDispatchTests",
            dependencies: [
                "WebhookDispatch", "WebhookCore", "WebhookSigning", "WebhookTestSupport",
                "CurlTransport", "OutboxSQLite", "DeliveryLog", "WorkerCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
