import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// A read view materialized from the log.
///
/// A projection names the topics it consumes and creates its tables in the schema it is given (one
/// schema per generation, so a replay can build a new generation beside the live one). The runtime
/// hands it batches of one partition's events, in offset order, inside a transaction that also
/// advances the checkpoint: a batch is applied exactly once or not at all.
///
/// Projections must be deterministic functions of the events (no clocks, no randomness, no reads of
/// other projections): the same log gives the same tables, byte for byte.
public protocol Projection: Sendable {
    /// Stable name, lower-case letters, digits and `_`: the schema readers query is named after it.
    var name: String { get }
    /// The topics it consumes.
    var topics: [String] { get }
    /// The version of its table layout and logic. A live generation built by another version is
    /// rebuilt by replay.
    var version: Int { get }
    /// What to do with an event that keeps failing.
    var poisonPolicy: PoisonPolicy { get }

    /// Creates the tables (and indexes) in `context.schema`.
    func createTables(_ context: ProjectionContext) async throws
    /// Applies events of one partition, in offset order.
    func apply(_ events: [Event], _ context: ProjectionContext) async throws
}

extension Projection {
    public var poisonPolicy: PoisonPolicy { .skip }
}

/// Skip parks a poison event and moves on; halt parks it and stops the partition until an operator
/// retries or discards it.
public enum PoisonPolicy: String, Sendable, Codable {
    case skip
    case halt
}

/// What a projection sees while creating tables or applying a batch.
public struct ProjectionContext: Sendable {
    /// The connection, inside the batch's transaction.
    public let connection: PostgresConnection
    /// The generation's schema, already quoted: use it as `\(unescaped: context.schema).table`.
    public let schema: String
    public let generation: Int
    public let logger: Logger

    public init(connection: PostgresConnection, schema: String, generation: Int, logger: Logger) {
        self.connection = connection
        self.schema = schema
        self.generation = generation
        self.logger = logger
    }

    /// `"schema"."table"`.
    public func table(_ name: String) -> String { "\(schema).\"\(name)\"" }

    /// Runs one statement.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger)
    }

    /// Bulk-loads rows into the generation's table `name` with `COPY`: the fastest way to insert
    /// many rows, inside the batch's transaction like any other write. Columns in `rows` follow
    /// `columns`.
    ///
    /// `COPY` names its table unqualified, so the generation's schema goes first on the
    /// transaction's `search_path` (for the rest of the batch; qualified names are unaffected).
    public func copy(into name: String, columns: [String], _ rows: CopyTextRows) async throws {
        guard rows.rows > 0 else { return }
        try await connection.query("""
            SELECT set_config('search_path', \(schema) || ', ' || current_setting('search_path'), true)
            """, logger: logger)
        try await connection.copyFrom(table: name, columns: columns, logger: logger) { writer in
            try await writer.write(rows.buffer)
        }
    }

    /// Runs a statement with no parameters (DDL).
    public func execute(_ sql: String) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}

/// An error a projection throws for an event it cannot apply (bad data, not a transient fault).
public struct ProjectionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
