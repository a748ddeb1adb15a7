import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// How far a projection's generation is behind the log, per partition.
public struct PartitionLag: Sendable, Equatable {
    public var projection: String
    public var generation: Int
    public var state: Generation.State
    public var topic: String
    public var partition: Int
    public var checkpoint: Int64
    public var endOffset: Int64
    /// Events appended but not yet applied.
    public var events: Int64 { max(0, endOffset - checkpoint) }
    /// Age of the oldest unapplied event (zero when caught up).
    public var seconds: Double
    public var halted: String?
    /// Seconds since the checkpoint last moved (by the database's clock).
    public var secondsSinceProgress: Double = 0

    /// A partition with events to apply whose checkpoint has not moved for `LagMonitor.stallAfter`
    /// and that is not halted: no worker is applying it (none running, or one stuck).
    public var stalled: Bool { events > 0 && halted == nil && secondsSinceProgress > LagMonitor.stallAfter }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "projection": .string(projection), "generation": .int(generation), "state": .string(state.rawValue), "topic": .string(topic),
            "partition": .int(partition), "checkpoint": .int(checkpoint), "end_offset": .int(endOffset), "lag_events": .int(events),
            "lag_seconds": .double((seconds * 1000).rounded() / 1000), "stalled": .bool(stalled),
            "seconds_since_progress": .double((secondsSinceProgress * 10).rounded() / 10),
        ]
        if let halted { o["halted"] = .string(halted) }
        return .object(o)
    }
}

/// Measures lag: head offset minus checkpoint, and now minus the append time of the oldest
/// unapplied event. End offsets and append times come from the log's own API, so this works with
/// any backend.
public struct LagMonitor: Sendable {
    /// Seconds without progress, with events waiting, after which a partition counts as stalled
    /// (a batch commits far more often than this, even a replay's largest).
    public static let stallAfter: Double = 30

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
            for try await (p, g, state, topic, partition, next, halted, idle) in try await client.query("""
                SELECT c.projection, c.generation, g.state, c.topic, c.partition, c.next_offset, c.halted_reason,
                       extract(epoch FROM now() - c.updated_at)::float8
                  FROM strata.checkpoints c JOIN strata.generations g USING (projection, generation)
                 WHERE g.state IN ('live', 'building') AND (\(projection)::text IS NULL OR c.projection = \(projection))
                 ORDER BY c.projection, g.state = 'live' DESC, c.generation, c.topic, c.partition
                """, logger: logger).decode((String, Int, String, String, Int, Int64, String?, Double).self)
            {
                guard let state = Generation.State(rawValue: state) else { continue }
                var row = PartitionLag(projection: p, generation: g, state: state, topic: topic, partition: partition,
                    checkpoint: next, endOffset: 0, seconds: 0, halted: halted)
                row.secondsSinceProgress = max(0, idle)
                rows.append(row)
            }
        } catch {
            throw PostgresErrors.wrap(error, "reading checkpoints")
        }
        var ends: [String: [Int64]] = [:]
        let now = Date()
        for i in rows.indices {
            let topic = rows[i].topic
            if ends[topic] == nil { ends[topic] = try await log.endOffsets(topic: topic) }
            guard let topicEnds = ends[topic], rows[i].partition >= 0, rows[i].partition < topicEnds.count else { continue }
            let end = topicEnds[rows[i].partition]
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
