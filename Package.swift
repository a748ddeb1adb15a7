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
    ],
    targets: [
        // C shim over the system's libzstd: payload compression.
        // glibc's posix_spawn extensions, for running initdb/pg_ctl without leaking descriptors.
        .target(name: "CStrataShims"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // The model: envelopes, topics, the EventLog contract, validation, JSON.
        .target(
            name: "StrataCore",
            dependencies: [
                "CZstd",
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
                "StrataCore",
                "CStrataShims",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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

        // Composition: configuration -> backends -> services.
        .target(
            name: "StrataApp",
            dependencies: [
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
                "StrataCore",
                "StrataPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "StrataCLI",
            dependencies: [
                "StrataCore",
                "StrataProjections",
                "StrataApp",
                "StrataPostgres",
                "StrataBenchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Test harness: a private PostgreSQL per test process, a database per test.
        .target(
            name: "StrataTestSupport",
            dependencies: [
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
            name: "StrataCoreTests",
            dependencies: ["StrataCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataLogTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataApp", "StrataTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StrataProjectionTests",
            dependencies: [
                "StrataCore", "StrataPostgres", "StrataProjections", "StrataApp", "StrataTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
