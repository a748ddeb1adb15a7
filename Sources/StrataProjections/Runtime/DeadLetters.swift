import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// Parked poison events: list them, retry them (after the projection is fixed), or discard them.
public struct DeadLetters: Sendable {
    public let client: PostgresClient
    public let log: any EventLog
    public let logger: Logger

    public init(client: PostgresClient, log: any EventLog, logger: Logger) {
        self.client = client
        self.log = log
        self.logger = logger
    }

    /// Where a dead letter stands: parked until an operator retries (applied) or discards it.
    /// The values are those of `strata.dead_letters.status` (a CHECK constraint holds them).
    public enum Status: String, Sendable, CaseIterable {
        case parked
        case applied
        case discarded
    }

    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var projection: String
        public var generation: Int
        public var topic: String
        public var partition: Int
        public var offset: Int64
        public var eventID: String
        public var eventType: String
        public var error: String
        public var attempts: Int
        public var status: Status
        public var parkedAt: Date

        public var json: JSONValue {
            ["id": .int(id), "projection": .string(projection), "generation": .int(generation), "topic": .string(topic),
             "partition": .int(partition), "offset": .int(offset), "event_id": .string(eventID), "type": .string(eventType),
             "error": .string(error), "attempts": .int(attempts), "status": .string(status.rawValue), "parked_at": .string(RFC3339.format(parkedAt))]
        }
    }

    public func list(projection: String? = nil, status: Status? = .parked, limit: Int = 100) async throws -> [Entry] {
        do {
            return try await entries("""
                SELECT \(unescaped: Self.columns) FROM strata.dead_letters
                 WHERE (\(projection)::text IS NULL OR projection = \(projection))
                   AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                 ORDER BY id
                 LIMIT \(limit)
                """)
        } catch {
            throw PostgresErrors.wrap(error, "listing dead letters")
        }
    }

    private static let columns = "id, projection, generation, topic, partition, log_offset, event_id, event_type, error, attempts, status, parked_at"

    /// The entries a query selecting `columns` returns.
    private func entries(_ query: PostgresQuery) async throws -> [Entry] {
        var entries: [Entry] = []
        for try await (id, p, g, t, part, off, eid, type, err, attempts, st, at) in try await client.query(query, logger: logger).decode(
            (Int64, String, Int, String, Int, Int64, String, String, String, Int, String, Date).self)
        {
            guard let status = Status(rawValue: st) else {
                throw StrataError(.backend, "dead letter \(id) has status '\(st)', which this version does not know")
            }
            entries.append(Entry(id: id, projection: p, generation: g, topic: t, partition: part, offset: off, eventID: eid,
                eventType: type, error: err, attempts: attempts, status: status, parkedAt: at))
        }
        return entries
    }

    /// How many entries `list` would return without a limit.
    public func count(projection: String? = nil, status: Status? = .parked) async throws -> Int {
        do {
            var count = 0
            for try await n in try await client.query("""
                SELECT count(*)::int8 FROM strata.dead_letters
                 WHERE (\(projection)::text IS NULL OR projection = \(projection))
                   AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                """, logger: logger).decode(Int64.self) { count = Int(n) }
            return count
        } catch {
            throw PostgresErrors.wrap(error, "counting dead letters")
        }
    }

    /// The ids of the parked entries, of one projection or all, oldest first.
    public func parkedIDs(projection: String?) async throws -> [Int64] {
        do {
            var ids: [Int64] = []
            for try await id in try await client.query("""
                SELECT id FROM strata.dead_letters
                 WHERE status = \(Status.parked.rawValue) AND (\(projection)::text IS NULL OR projection = \(projection))
                 ORDER BY id
                """, logger: logger).decode(Int64.self) { ids.append(id) }
            return ids
        } catch {
            throw PostgresErrors.wrap(error, "listing dead letters")
        }
    }

    /// One entry by id.
    public func entry(id: Int64) async throws -> Entry? {
        do {
            return try await entries("SELECT \(unescaped: Self.columns) FROM strata.dead_letters WHERE id = \(id)").first
        } catch {
            throw PostgresErrors.wrap(error, "reading dead letter \(id)")
        }
    }

    public enum Resolution: Sendable, Equatable {
        case applied
        case discarded
        /// The event failed again; it stays parked with the new error.
        case failedAgain(String)
    }

    /// Applies a parked event to its generation now. If the partition was halted at this event,
    /// its checkpoint moves past it and the partition resumes.
    public func retry(id: Int64, projections: [any Projection]) async throws -> Resolution {
        try await resolve(id: id, projections: projections, apply: true)
    }

    /// Gives up on a parked event. If the partition was halted at it, the partition resumes after it.
    public func discard(id: Int64) async throws -> Resolution {
        try await resolve(id: id, projections: [], apply: false)
    }

    private func resolve(id: Int64, projections: [any Projection], apply: Bool) async throws -> Resolution {
        guard let entry = try await entry(id: id) else {
            throw StrataError(.notFound, "no dead letter with id \(id)")
        }
        var projection: (any Projection)?
        var event: Event?
        if apply {
            guard let p = projections.first(where: { $0.name == entry.projection }) else {
                throw StrataError(.notFound, "projection '\(entry.projection)' is not known to this process")
            }
            projection = p
            guard let e = try await log.read(topic: entry.topic, partition: entry.partition, from: entry.offset, limit: 1).first,
                e.offset == entry.offset
            else {
                throw StrataError(.notFound, "event \(entry.topic)/\(entry.partition)@\(entry.offset) is not in the log")
            }
            event = e
        }
        do {
            return try await client.withTransaction(logger: logger) { conn in
                // Lock the entry and check it again: two retries racing must not both apply it.
                var current: String?
                for try await s in try await conn.query(
                    "SELECT status FROM strata.dead_letters WHERE id = \(id) FOR UPDATE", logger: logger
                ).decode(String.self) { current = s }
                guard current == Status.parked.rawValue else {
                    throw StrataError(.conflict, "dead letter \(id) is already \(current ?? "gone")")
                }
                var state = ""
                for try await s in try await conn.query(
                    "SELECT state FROM strata.generations WHERE projection = \(entry.projection) AND generation = \(entry.generation)",
                    logger: logger
                ).decode(String.self) { state = s }
                if let projection, let event {
                    guard state == "live" || state == "building" else {
                        throw StrataError(.conflict, "generation \(entry.generation) of '\(entry.projection)' is \(state.isEmpty ? "gone" : state); a replay re-applies its events")
                    }
                    let context = ProjectionContext(connection: conn, schema: quoted(Generation.schema(entry.projection, entry.generation)),
                        generation: entry.generation, logger: logger)
                    try await context.execute("SAVEPOINT strata_retry")
                    do {
                        try await projection.apply([event], context)
                    } catch {
                        guard BatchApplier.isEventFailure(error) else { throw error }
                        try await context.execute("ROLLBACK TO SAVEPOINT strata_retry")
                        let message = BatchApplier.describe(error)
                        try await conn.query(
                            "UPDATE strata.dead_letters SET error = \(message), attempts = attempts + 1 WHERE id = \(id)", logger: logger)
                        return .failedAgain(message)
                    }
                }
                try await conn.query("""
                    UPDATE strata.dead_letters SET status = \((apply ? Status.applied : Status.discarded).rawValue), resolved_at = now() WHERE id = \(id)
                    """, logger: logger)
                // A halted partition waits at this event: move past it and resume.
                try await conn.query("""
                    UPDATE strata.checkpoints SET next_offset = \(entry.offset + 1), halted_at = NULL, halted_reason = NULL, updated_at = now()
                     WHERE projection = \(entry.projection) AND generation = \(entry.generation) AND topic = \(entry.topic)
                       AND partition = \(entry.partition) AND halted_at IS NOT NULL AND next_offset = \(entry.offset)
                    """, logger: logger)
                return apply ? .applied : .discarded
            }
        } catch {
            throw PostgresErrors.wrap(error, "resolving dead letter \(id)")
        }
    }
}
