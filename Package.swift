// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "strata",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "strata", targets: ["StrataCLI"]),
        .library(name: "StrataCore", targets: ["StrataCore"]),
        .library(name: "StrataPostgres", targets: ["StrataPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // C shim over the system's libzstd: payload compression.
        // glibc's posix_spawn extensions (SpawnedProcess): children get no descriptor they were not given.
        .target(name: "CStrataShims"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // librdkafka (Debian's librdkafka-dev) and the C helpers Swift cannot express (variadic calls,
        // the rd_kafka_vu_t union, C callbacks).
        .systemLibrary(name: "CRdKafka", path: "Sources/CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(name: "CRdKafkaShims", dependencies: ["CRdKafka"]),
        // libsecp256k1 (Debian's libsecp256k1-dev): verifying atproto commits signed with K-256 keys.
        .systemLibrary(name: "CSecp256k1", path: "Sources/CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),

        // The model: envelopes, topics, the EventLog contract, validation, JSON.
        .target(
            name: "StrataCore",
            dependencies: [
                "CZstd",
                "CStrataShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // The PostgreSQL log backend, its migrations and the embedded cluster.
        .target(
            name: "StrataPostgres",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The Kafka log backend: KafkaEventLog on librdkafka, and librdkafka's mock cluster.
        .target(
            name: "StrataKafka",
            dependencies: [
                "StrataCore",
                "CRdKafka",
                "CRdKafkaShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The projection runtime: generations, checkpoints, leases, dead letters, lag.
        .target(
            name: "StrataProjections",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The HTTP API: read routes, appends, live tail (SSE), health and Prometheus metrics.
        .target(
            name: "StrataAPI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        // Stellar XDR: a pure codec (no database, no HTTP), testable and reusable on its own.
        .target(
            name: "StrataStellarXDR",
            dependencies: [
                "StrataCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // The Stellar ledger domain: ingest, bronze/silver/index projections, read routes.
        .target(
            name: "StrataLedger",
            dependencies: [
                "StrataStellarXDR",
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                "StrataAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The Atlas model: SBOM parsing, registry responses, the dependency graph and its metrics
        // (no database, no HTTP).
        .target(
            name: "StrataAtlasModel",
            dependencies: [
                "StrataCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // The Atlas domain: SBOMs, grants, commits and registry data into a dependency graph with metrics.
        .target(
            name: "StrataAtlas",
            dependencies: [
                "StrataAtlasModel",
                "StrataCrawl",
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                "StrataAPI",
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // GitHub Actions OIDC tokens on SBOM submissions: RS256 against the issuer's JWKS.
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),

        // ATProto's data model, pure (no database, no HTTP): DAG-CBOR, CIDs, CAR files, the MST,
        // commits, identifier syntax.
        .target(
            name: "StrataATProto",
            dependencies: [
                "StrataCore",
                "CSecp256k1",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // How crawlers fetch: per-host gates, deadlines, retries, rate-limit headers, conditional requests.
        .target(
            name: "StrataCrawl",
            dependencies: [
                "StrataCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        // The ATProto index: the atproto topic's events, its projection and routes, CAR ingest,
        // the crawler and the firehose subscriber.
        .target(
            name: "StrataATProtoIndex",
            dependencies: [
                "StrataATProto",
                "StrataCrawl",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                "StrataAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        // Jobs as events: the jobs file, the scheduler (one runner per job through leases), the
        // jobs projection and its routes.
        .target(
            name: "StrataJobs",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                "StrataAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Composition: configuration -> backends -> services.
        .target(
            name: "StrataApp",
            dependencies: [
                "StrataKafka",
                "StrataAtlas",
                "StrataATProtoIndex",
                "StrataLedger",
                "StrataJobs",
                .product(name: "Metrics", package: "swift-metrics"),
                "StrataAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "StrataCore",
                "StrataPostgres",
                "StrataProjections",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Benchmarks run by `strata bench` (results in docs/benchmarks.md).
        .target(
            name: "StrataBenchmarks",
            dependencies: [
                "StrataKafka",
                "StrataATProto",
                "StrataATProtoIndex",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                "StrataCrawl",
                "StrataAtlasModel",
                "StrataStellarXDR",
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                "StrataAtlas",
                "StrataLedger",
                "StrataPostgres",
                "StrataProjections",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "StrataCLI",
            dependencies: [
                "StrataKafka",
                "StrataCrawl",
                "StrataATProto",
                "StrataATProtoIndex",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "StrataAtlas",
                "StrataLedger",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "StrataCore",
                "StrataProjections",
                "StrataApp",
                "StrataPostgres",
                "StrataBenchmarks",
                "StrataJobs",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // A seeded random number generator for property tests (no other dependency).
        .target(
            name: "StrataSeededRandom",
            path: "Tests/StrataSeededRandom",
            swiftSettings: swiftSettings
        ),
        // Test harness: a private PostgreSQL per test process, a database per test.
        .target(
            name: "StrataTestSupport",
            dependencies: [
                "StrataKafka",
                "StrataSeededRandom",
                "StrataAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "StrataCore",
                "StrataProjections",
                "StrataPostgres",
                "StrataApp",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StrataTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataATProtoTests",
            dependencies: [
                "StrataATProto", "StrataATProtoIndex", "StrataCore", "StrataTestSupport", "StrataProjections", "StrataAPI", "StrataApp",
                "StrataCrawl",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataCoreTests",
            dependencies: ["StrataCore", "StrataSeededRandom"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataLogTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataApp", "StrataTestSupport", "StrataKafka",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataAPITests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataAPI", "StrataAtlas", "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pure unit tests of the XDR codec: no database, no app.
        .testTarget(
            name: "StrataStellarXDRTests",
            dependencies: ["StrataCore", "StrataStellarXDR"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataAtlasModelTests",
            dependencies: ["StrataCore", "StrataAtlasModel", "StrataSeededRandom"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataLedgerTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataAPI", "StrataLedger", "StrataTestSupport",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataAtlasTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataAPI", "StrataAtlas", "StrataAtlasModel", "StrataTestSupport",
                "StrataCrawl",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataJobsTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataAPI", "StrataJobs", "StrataTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataProjectionTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataAPI", "StrataTestSupport", "StrataKafka",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
