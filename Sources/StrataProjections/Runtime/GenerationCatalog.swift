import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// A generation of a projection's tables: the live one readers see, or one being built by replay.
public struct Generation: Sendable, Hashable {
    public enum State: String, Sendable { case building, live, retired, aborted }
    public var projection: String
    public var number: Int
    public var version: Int
    public var state: State

    /// The schema holding this generation's tables (unquoted).
    public var schema: String { Self.schema(projection, number) }
    static func schema(_ projection: String, _ number: Int) -> String { "\(projection)_g\(number)" }
}

/// Creates, switches and drops generations. Readers query the schema named after the projection,
/// which holds one view per table pointing at the live generation; switching generations replaces
/// those views in one transaction, so a reader sees the complete old generation or the complete new
/// one, never a mix or a half-built table.
public struct GenerationCatalog: Sendable {
    public let client: PostgresClient
    public let log: any EventLog
    public let logger: Logger

    public init(client: PostgresClient, log: any EventLog, logger: Logger) {
        self.client = client
        self.log = log
        self.logger = logger
    }

    static func validate(_ projection: any Projection) throws {
        let name = projection.name
        guard !name.isEmpty, name.count <= 40, name.first!.isLetter,
            name.allSatisfy({ ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "_" })
        else {
            throw StrataError(.invalidConfiguration, "projection name '\(name)' must be 1-40 of a-z, 0-9, _ starting with a letter")
        }
    }

    /// Makes sure the projection exists with a live generation; the first time, generation 1 is
    /// created live and fills from offset zero.
    public func register(_ projection: any Projection) async throws {
        try Self.validate(projection)
        try await run("registering \(projection.name)") {
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("INSERT INTO strata.projections (projection) VALUES (\(projection.name)) ON CONFLICT DO NOTHING", logger: logger)
                let live = try await conn.query(
                    "SELECT live_generation FROM strata.projections WHERE projection = \(projection.name) FOR UPDATE", logger: logger
                ).decode(Int?.self).first(where: { _ in true }) ?? nil
                guard live == nil else { return }
                let generation = Generation(projection: projection.name, number: 1, version: projection.version, state: .live)
                try await createGeneration(generation, projection, conn: conn)
                try await conn.query("UPDATE strata.projections SET live_generation = 1 WHERE projection = \(projection.name)", logger: logger)
                try await pointViews(at: generation, conn: conn)
            }
        }
    }

    /// The live generation first, then one being built, if any.
    public func activeGenerations(_ projection: String) async throws -> [Generation] {
        try await run("reading generations of \(projection)") {
            let rows = try await client.query("""
                SELECT generation, version, state FROM strata.generations
                 WHERE projection = \(projection) AND state IN ('live', 'building')
                 ORDER BY state = 'live' DESC, generation
                """, logger: logger)
            var result: [Generation] = []
            for try await (number, version, state) in rows.decode((Int, Int, String).self) {
                result.append(Generation(projection: projection, number: number, version: version, state: Generation.State(rawValue: state) ?? .building))
            }
            return result
        }
    }

    /// Starts a replay: a new generation built from offset zero beside the live one. When one is
    /// already being built (an interrupted replay), it is returned and continues where it stopped.
    public func startReplay(_ projection: any Projection) async throws -> (generation: Generation, resumed: Bool) {
        try await register(projection)
        return try await run("starting a replay of \(projection.name)") {
            try await client.withTransaction(logger: logger) { conn in
                _ = try await conn.query("SELECT 1 FROM strata.projections WHERE projection = \(projection.name) FOR UPDATE", logger: logger)
                for try await (number, version) in try await conn.query("""
                    SELECT generation, version FROM strata.generations WHERE projection = \(projection.name) AND state = 'building'
                    """, logger: logger).decode((Int, Int).self)
                {
                    if version == projection.version {
                        return (Generation(projection: projection.name, number: number, version: version, state: .building), true)
                    }
                    // Built by other code: start over with this version.
                    try await abortGeneration(Generation(projection: projection.name, number: number, version: version, state: .building), conn: conn)
                }
                let last = try await conn.query(
                    "SELECT coalesce(max(generation), 0) FROM strata.generations WHERE projection = \(projection.name)", logger: logger
                ).decode(Int.self).first(where: { _ in true }) ?? 0
                let generation = Generation(projection: projection.name, number: last + 1, version: projection.version, state: .building)
                try await createGeneration(generation, projection, conn: conn)
                return (generation, false)
            }
        }
    }

    public enum SwitchOutcome: Sendable, Equatable {
        /// Nothing is being built.
        case nothingToSwitch
        /// The new generation is this many events behind the live one.
        case behind(Int64)
        case switched(from: Int, to: Int)
    }

    /// Switches readers to the generation being built, if it has caught up with the live one in
    /// every partition. Both generations' checkpoints are locked while checking and switching, so
    /// the new generation is never behind what readers of the old one have seen. The old
    /// generation's tables are dropped afterwards.
    public func trySwitch(_ projection: String) async throws -> SwitchOutcome {
        let outcome: (SwitchOutcome, Generation?) = try await run("switching generations of \(projection)") {
            try await retryingLockTimeouts { try await client.withTransaction(logger: logger) { conn in
                // Readers lock the views one by one as a query names them; waiting for all of
                // them while holding some could deadlock with such a reader. Never wait long:
                // give up, let the readers through, and try again.
                try await conn.query("SET LOCAL lock_timeout = '100ms'", logger: logger)
                let live = try await conn.query(
                    "SELECT live_generation FROM strata.projections WHERE projection = \(projection) FOR UPDATE", logger: logger
                ).decode(Int?.self).first(where: { _ in true }) ?? nil
                var building: Generation?
                for try await (number, version) in try await conn.query(
                    "SELECT generation, version FROM strata.generations WHERE projection = \(projection) AND state = 'building'", logger: logger
                ).decode((Int, Int).self) {
                    building = Generation(projection: projection, number: number, version: version, state: .building)
                }
                guard let building else { return (.nothingToSwitch, nil) }
                var offsets: [String: [Int: Int64]] = [:]
                for try await (generation, topic, partition, next) in try await conn.query("""
                    SELECT generation, topic, partition, next_offset FROM strata.checkpoints
                     WHERE projection = \(projection) AND generation IN (\(live ?? -1), \(building.number))
                     ORDER BY generation, topic, partition
                     FOR UPDATE
                    """, logger: logger).decode((Int, String, Int, Int64).self)
                {
                    offsets["\(topic)/\(partition)", default: [:]][generation] = next
                }
                var behind: Int64 = 0
                for (_, byGeneration) in offsets {
                    let old = live.flatMap { byGeneration[$0] } ?? 0
                    let new = byGeneration[building.number] ?? 0
                    behind += max(0, old - new)
                }
                if behind > 0 { return (.behind(behind), nil) }
                try await conn.query("""
                    UPDATE strata.generations SET state = 'retired', ended_at = now()
                     WHERE projection = \(projection) AND generation = \(live ?? -1)
                    """, logger: logger)
                try await conn.query("""
                    UPDATE strata.generations SET state = 'live', live_at = now()
                     WHERE projection = \(projection) AND generation = \(building.number)
                    """, logger: logger)
                try await conn.query(
                    "UPDATE strata.projections SET live_generation = \(building.number) WHERE projection = \(projection)", logger: logger)
                try await pointViews(at: building, conn: conn)
                let retired = live.map { Generation(projection: projection, number: $0, version: 0, state: .retired) }
                return (.switched(from: live ?? 0, to: building.number), retired)
            } }
        }
        if let retired = outcome.1 { try await drop(retired) }
        return outcome.0
    }

    /// Abandons the generation being built, dropping its tables.
    public func abortReplay(_ projection: String) async throws -> Bool {
        try await run("aborting the replay of \(projection)") {
            try await client.withTransaction(logger: logger) { conn in
                var aborted = false
                for try await (number, version) in try await conn.query(
                    "SELECT generation, version FROM strata.generations WHERE projection = \(projection) AND state = 'building' FOR UPDATE",
                    logger: logger
                ).decode((Int, Int).self) {
                    try await abortGeneration(Generation(projection: projection, number: number, version: version, state: .building), conn: conn)
                    aborted = true
                }
                return aborted
            }
        }
    }

    // MARK: - Internals

    private func createGeneration(_ generation: Generation, _ projection: any Projection, conn: PostgresConnection) async throws {
        try await conn.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(quoted(generation.schema)) CASCADE"), logger: logger)
        try await conn.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(quoted(generation.schema))"), logger: logger)
        try await projection.createTables(ProjectionContext(connection: conn, schema: quoted(generation.schema), generation: generation.number, logger: logger))
        try await conn.query("""
            INSERT INTO strata.generations (projection, generation, version, state, live_at)
            VALUES (\(generation.projection), \(generation.number), \(generation.version), \(generation.state.rawValue),
                    CASE WHEN \(generation.state.rawValue) = 'live' THEN now() END)
            """, logger: logger)
        for topic in projection.topics {
            let partitions = try await log.topic(named: topic).partitions
            try await conn.query("""
                INSERT INTO strata.checkpoints (projection, generation, topic, partition)
                SELECT \(generation.projection), \(generation.number), \(topic), g FROM generate_series(0, \(partitions - 1)) AS g
                """, logger: logger)
            try await conn.query("""
                INSERT INTO strata.leases (projection, topic, partition)
                SELECT \(generation.projection), \(topic), g FROM generate_series(0, \(partitions - 1)) AS g
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    private func abortGeneration(_ generation: Generation, conn: PostgresConnection) async throws {
        try await conn.query("""
            UPDATE strata.generations SET state = 'aborted', ended_at = now()
             WHERE projection = \(generation.projection) AND generation = \(generation.number)
            """, logger: logger)
        try await conn.query(
            "DELETE FROM strata.checkpoints WHERE projection = \(generation.projection) AND generation = \(generation.number)", logger: logger)
        try await conn.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(quoted(generation.schema)) CASCADE"), logger: logger)
    }

    /// Replaces the reader-facing views with views of `generation`'s tables.
    private func pointViews(at generation: Generation, conn: PostgresConnection) async throws {
        let stable = generation.projection
        try await conn.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(quoted(stable))"), logger: logger)
        var existing: [String] = []
        for try await name in try await conn.query(
            "SELECT table_name::text FROM information_schema.views WHERE table_schema = \(stable)", logger: logger
        ).decode(String.self) {
            existing.append(name)
        }
        for name in existing {
            try await conn.query(PostgresQuery(unsafeSQL: "DROP VIEW \(quoted(stable)).\(quoted(name))"), logger: logger)
        }
        var tables: [String] = []
        for try await name in try await conn.query("""
            SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = \(generation.schema) AND table_type = 'BASE TABLE' ORDER BY table_name
            """, logger: logger).decode(String.self)
        {
            tables.append(name)
        }
        for name in tables {
            try await conn.query(PostgresQuery(unsafeSQL: """
                CREATE VIEW \(quoted(stable)).\(quoted(name)) AS SELECT * FROM \(quoted(generation.schema)).\(quoted(name))
                """), logger: logger)
        }
    }

    private func drop(_ generation: Generation) async throws {
        try await run("dropping generation \(generation.number) of \(generation.projection)") {
            try await retryingLockTimeouts { try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SET LOCAL lock_timeout = '100ms'", logger: logger)
                try await conn.query(
                    "DELETE FROM strata.checkpoints WHERE projection = \(generation.projection) AND generation = \(generation.number)",
                    logger: logger)
                try await conn.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(quoted(generation.schema)) CASCADE"), logger: logger)
            } }
        }
    }

    /// Runs a transaction that sets a short lock_timeout again until it gets its locks.
    private func retryingLockTimeouts<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch where PostgresErrors.sqlState(error) == "55P03" || PostgresErrors.sqlState(error) == "40P01" {
                attempt += 1
                if attempt >= 100 { throw error }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 10...60)))
            }
        }
    }

    func run<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw PostgresErrors.wrap(error, what)
        }
    }
}

func quoted(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
