import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// One projection's state for `strata status` and `GET /v1/projections`.
public struct ProjectionStatus: Sendable {
    public var projection: String
    public var liveGeneration: Int?
    public var liveVersion: Int?
    public var building: (generation: Int, applied: Int64, total: Int64)?
    public var lagEvents: Int64
    public var lagSeconds: Double
    public var haltedPartitions: Int
    public var deadLetters: Int
    public var workers: [String]
    /// Partitions with events waiting whose checkpoint has not moved for `LagMonitor.stallAfter` s.
    public var stalledPartitions = 0

    /// What a projection is doing, most urgent first.
    public enum State: String, Sendable {
        case halted
        case stalled
        case replaying
        case stopped
        case upToDate = "up to date"
        case catchingUp = "catching up"

        /// Whether `/health` reports it as degraded.
        public var isDegraded: Bool { self == .halted || self == .stalled }
    }

    public var state: State {
        if haltedPartitions > 0 { return .halted }
        if stalledPartitions > 0 && !workers.isEmpty { return .stalled }
        if building != nil { return .replaying }
        if workers.isEmpty { return .stopped }
        return lagEvents == 0 ? .upToDate : .catchingUp
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "projection": .string(projection), "state": .string(state.rawValue), "lag_events": .int(lagEvents),
            "lag_seconds": .double((lagSeconds * 1000).rounded() / 1000), "halted_partitions": .int(haltedPartitions), "stalled_partitions": .int(stalledPartitions),
            "dead_letters": .int(deadLetters), "workers": .array(workers.map { .string($0) }),
        ]
        if let liveGeneration { o["live_generation"] = .int(liveGeneration) }
        if let liveVersion { o["version"] = .int(liveVersion) }
        if let building {
            o["replay"] = ["generation": .int(building.generation), "applied": .int(building.applied), "total": .int(building.total)]
        }
        return .object(o)
    }

    /// `lag`: the partitions' lag if the caller already measured it (measured here otherwise).
    public static func all(client: PostgresClient, log: any EventLog, logger: Logger, lag measured: [PartitionLag]? = nil) async throws
        -> [ProjectionStatus]
    {
        var lag = measured ?? []
        if measured == nil { lag = try await LagMonitor(client: client, log: log, logger: logger).measure() }
        var statuses: [String: ProjectionStatus] = [:]
        do {
            for try await (name, live, version) in try await client.query("""
                SELECT p.projection, p.live_generation, g.version
                  FROM strata.projections p LEFT JOIN strata.generations g ON g.projection = p.projection AND g.generation = p.live_generation
                 ORDER BY p.projection
                """, logger: logger).decode((String, Int?, Int?).self)
            {
                statuses[name] = ProjectionStatus(projection: name, liveGeneration: live, liveVersion: version, building: nil,
                    lagEvents: 0, lagSeconds: 0, haltedPartitions: 0, deadLetters: 0, workers: [])
            }
            for try await (name, count) in try await client.query(
                "SELECT projection, count(*)::int FROM strata.dead_letters WHERE status = \(DeadLetters.Status.parked.rawValue) GROUP BY projection", logger: logger
            ).decode((String, Int).self) {
                statuses[name]?.deadLetters = count
            }
            for try await (name, owner) in try await client.query("""
                SELECT DISTINCT projection, owner FROM strata.leases WHERE owner IS NOT NULL AND expires_at > now() ORDER BY 1, 2
                """, logger: logger).decode((String, String).self)
            {
                statuses[name]?.workers.append(owner)
            }
        } catch {
            throw PostgresErrors.wrap(error, "reading projection status")
        }
        for row in lag {
            guard var s = statuses[row.projection] else { continue }
            if row.stalled { s.stalledPartitions += 1 }
            if row.state == .live {
                s.lagEvents += row.events
                s.lagSeconds = max(s.lagSeconds, row.seconds)
                if row.halted != nil { s.haltedPartitions += 1 }
            } else {
                let b = s.building ?? (row.generation, 0, 0)
                s.building = (b.generation, b.applied + row.checkpoint, b.total + row.endOffset)
            }
            statuses[row.projection] = s
        }
        return statuses.values.sorted { $0.projection < $1.projection }
    }
}
