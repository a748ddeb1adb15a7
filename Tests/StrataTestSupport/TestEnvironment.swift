import Foundation
import Logging
import PostgresNIO
import StrataApp
import StrataCore
import StrataPostgres

/// Shared set-up for integration tests: one private PostgreSQL cluster per test run (the same
/// embedded harness `strata` uses), and a fresh database per test, so tests run in parallel without
/// seeing each other. `STRATA_TEST_DATABASE_URL` points the tests at an existing server instead.
public enum TestEnvironment {
    public static let repositoryRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("cannot find the repository root above \(#filePath)")
    }()

    /// The real datasets: the workspace's `../shared/data` when present, else the copy under
    /// `Tests/Fixtures/shared-data` (so a clone anywhere tests the same way).
    public static var sharedData: URL {
        let workspace = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
        if FileManager.default.fileExists(atPath: workspace.appendingPathComponent("stellar/etl").path) { return workspace }
        return repositoryRoot.appendingPathComponent("Tests/Fixtures/shared-data")
    }

    public static let logger: Logger = {
        var logger = Logger(label: "strata-test") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["STRATA_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    public static func topology() throws -> Topology {
        try Topology.load(from: repositoryRoot.appendingPathComponent("topology/topics.yaml"))
    }

    public static func schemas() throws -> SchemaCatalog {
        try SchemaCatalog.load(from: repositoryRoot.appendingPathComponent("schemas"))
    }

    /// The server the tests use: the configured one, or the shared embedded cluster (started once).
    static let server = ServerHandle()

    /// Runs `body` against a database created for it and dropped afterwards.
    public static func withDatabase<T: Sendable>(_ body: @Sendable (TestDatabase) async throws -> T) async throws -> T {
        let base = try await server.baseURL()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await admin(base) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var url = base
        url.database = String(name)
        let database = TestDatabase(url: url, name: String(name))
        do {
            let result = try await body(database)
            try? await drop(name: String(name), base: base)
            return result
        } catch {
            try? await drop(name: String(name), base: base)
            throw error
        }
    }

    /// Like `withDatabase`, connected: migrations applied and the repository's topology declared.
    /// With `logURL` (`kafka://...`), the log is there and views and checkpoints in the database.
    public static func withStrata<T: Sendable>(
        topology: Topology? = nil, logURL: String? = nil, _ body: @Sendable (StrataContext) async throws -> T
    ) async throws -> T {
        try await withDatabase { db in
            var configuration = db.configuration
            configuration.logURL = logURL
            return try await StrataContext.with(configuration, logger: logger, topologyOverride: topology, body)
        }
    }

    static func drop(name: String, base: DatabaseURL) async throws {
        try await admin(base) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    static func admin(_ url: DatabaseURL, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: 2), backgroundLogger: logger)
        try await client.whileRunning { try await body($0) }
    }
}

/// A database for one test.
public struct TestDatabase: Sendable {
    public var url: DatabaseURL
    public var name: String
    public var urlString: String {
        "postgres://\(url.user):\(url.password ?? "")@\(url.host):\(url.port)/\(url.database)"
    }

    /// A configuration pointing at this database and the repository's topology and schemas.
    public var configuration: StrataConfiguration {
        StrataConfiguration(
            databaseURL: urlString,
            topologyFile: TestEnvironment.repositoryRoot.appendingPathComponent("topology/topics.yaml"),
            schemaDirectory: TestEnvironment.repositoryRoot.appendingPathComponent("schemas"), logLevel: TestEnvironment.logger.logLevel)
    }

    /// Runs `body` with a connected client.
    public func withClient<T: Sendable>(maximumConnections: Int = 20, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(
            configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: TestEnvironment.logger)
        return try await client.whileRunning { try await body($0) }
    }
}

/// Starts the embedded test cluster once per process.
actor ServerHandle {
    private var url: DatabaseURL?

    func baseURL() throws -> DatabaseURL {
        if let url { return url }
        let env = ProcessInfo.processInfo.environment
        let resolved: DatabaseURL
        if let configured = env["STRATA_TEST_DATABASE_URL"], !configured.isEmpty {
            resolved = try DatabaseURL(configured)
        } else {
            // One cluster per user, reused across runs: initdb once, then only starts.
            let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("strata-test-cluster-\(getuid())")
            let cluster = EmbeddedPostgres(directory: directory, serverSettings: [
                // Tests need isolation, not durability.
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "400",
            ])
            resolved = try DatabaseURL(cluster.url(settings: try cluster.start()))
        }
        url = resolved
        return resolved
    }
}
