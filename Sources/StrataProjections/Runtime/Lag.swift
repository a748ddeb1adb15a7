import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// How far a projection's generation is behind the log, per partition.
public struct PartitionLag: Sendable, Equatable {
    public var projection: String
    public var generation: Int
    public var state: String
    public var topic: String
    public var partition: Int
    public var checkpoint: Int64
    public var endOffset: Int64
    /// Events appended but not yet applied.
    public var events: Int64 { max(0, endOffset - checkpoint) }
    /// Age of the oldest unapplied event (zero when caught up).
    public var seconds: Double
    public var halted: String?

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "projection": .string(projection), "generation": .int(generation), "state": .string(state), "topic": .string(topic),
            "partition": .int(partition), "checkpoint": .int(checkpoint), "end_offset": .int(endOffset), "lag_events": .int(events),
            "lag_seconds": .double((seconds * 1000).rounded() / 1000),
        ]
        if let halted { o["halted"] = .string(halted) }
        return .object(o)
    }
}

/// Measures lag: head offset minus checkpoint, and now minus the append time of the oldest
/// unapplied event. End offsets and append times come from the log's own API, so this works with
/// any backend.
public struct LagMonitor: Sendable {
    public let client: PostgresClient
    public let log: any EventLog
    public let logger: Logger

    public init(client: PostgresClient, log: any EventLog, logger: Logger) {
        self.client = client
        self.log = log
        self.logger = logger
    }

    public func measure(projection: String? = nil) async throws -> [PartitionLag] {
        var rows: [PartitionLag] = []
        do {
            for try await (p, g, state, topic, partition, next, halted) in try await client.query("""
                SELECT c.projection, c.generation, g.state, c.topic, c.partition, c.next_offset, c.halted_reason
                  FROM strata.checkpoints c JOIN strata.generations g USING (projection, generation)
                 WHERE g.state IN ('live', 'building') AND (\(projection)::text IS NULL OR c.projection = \(projection))
                 ORDER BY c.projection, g.state = 'live' DESC, c.generation, c.topic, c.partition
                """, logger: logger).decode((String, Int, String, String, Int, Int64, String?).self)
            {
                rows.append(PartitionLag(projection: p, generation: g, state: state, topic: topic, partition: partition,
                    checkpoint: next, endOffset: 0, seconds: 0, halted: halted))
            }
        } catch {
            throw PostgresErrors.wrap(error, "reading checkpoints")
        }
        var ends: [String: [Int64]] = [:]
        let now = Date()
        for i in rows.indices {
            let topic = rows[i].topic
            if ends[topic] == nil { ends[topic] = try await log.endOffsets(topic: topic) }
            let end = ends[topic]![rows[i].partition]
            rows[i].endOffset = end
            if rows[i].checkpoint < end,
                let oldest = try await log.appendedAt(topic: topic, partition: rows[i].partition, offset: rows[i].checkpoint)
            {
                rows[i].seconds = max(0, now.timeIntervalSince(oldest))
            }
        }
        return rows
    }
}
