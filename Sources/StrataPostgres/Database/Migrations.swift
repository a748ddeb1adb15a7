import Logging
import PostgresNIO
import StrataCore

/// A versioned schema change of one component (`log`, `projections`, a domain...).
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    /// Statements run in order in one transaction (the extended protocol takes one statement at a time).
    public var statements: [String]

    public init(_ version: Int, _ name: String, _ statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Applies migrations at start-up: each in its own transaction, recorded in `strata.migrations`,
/// under an advisory lock so concurrent processes starting together apply each exactly once.
public enum MigrationRunner {
    static let lockKey: Int64 = 0x5354_5241_5441  // "STRATA"

    /// Applies the component's pending migrations; returns the versions applied now.
    @discardableResult
    public static func migrate(component: String, _ migrations: [Migration], client: PostgresClient, logger: Logger) async throws -> [Int] {
        do {
            return try await client.withConnection { conn in
                try await conn.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
                do {
                    let applied = try await apply(component: component, migrations, conn: conn, logger: logger)
                    try await conn.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                    return applied
                } catch {
                    _ = try? await conn.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                    throw error
                }
            }
        } catch {
            throw PostgresErrors.wrap(error, "migrating \(component)")
        }
    }

    private static func apply(component: String, _ migrations: [Migration], conn: PostgresConnection, logger: Logger) async throws -> [Int] {
        try await conn.query("CREATE SCHEMA IF NOT EXISTS strata", logger: logger)
        try await conn.query("""
            CREATE TABLE IF NOT EXISTS strata.migrations (
                component text NOT NULL,
                version int NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """, logger: logger)
        var done: Set<Int> = []
        for try await version in try await conn.query(
            "SELECT version FROM strata.migrations WHERE component = \(component)", logger: logger
        ).decode(Int.self) {
            done.insert(version)
        }
        var applied: [Int] = []
        for m in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(m.version) {
            logger.info("applying migration", metadata: ["component": "\(component)", "version": "\(m.version)", "name": "\(m.name)"])
            try await conn.withTransaction(logger: logger) { tx in
                for statement in m.statements {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await tx.query(
                    "INSERT INTO strata.migrations (component, version, name) VALUES (\(component), \(m.version), \(m.name))",
                    logger: logger)
            }
            applied.append(m.version)
        }
        return applied
    }
}
