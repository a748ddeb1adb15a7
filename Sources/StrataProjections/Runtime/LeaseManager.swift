import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// How a worker runs.
public struct WorkerSettings: Sendable {
    /// Events per batch transaction for the live generation (small batches: low latency).
    public var batchSize = 500
    /// Events per batch transaction while a generation replays, or catches up from far behind (large
    /// batches: fewer upserts of the same rows, fewer commits).
    public var catchUpBatchSize = 50_000
    /// Stored (possibly compressed) payload bytes per batch, whatever the event count: ledgers are
    /// large, demo events small.
    public var maxBatchBytes = 8 << 20
    /// Attempts per poison event before it is parked.
    public var maxAttempts = 3
    /// Backoff before the second attempt; doubles each time.
    public var retryBackoff: Duration = .milliseconds(100)
    /// A lease not renewed for this long may be taken over.
    public var leaseTTL: Duration = .seconds(10)
    /// How often leases are renewed and the assignment recomputed.
    public var heartbeat: Duration = .seconds(2)
    /// Longest wait for new events before re-checking generations (new replays).
    public var idleWait: Duration = .seconds(2)
    /// Deadline of each read or query of a partition loop.
    public var queryDeadline: Duration = .seconds(15)
    /// Deadline of applying one batch (its transaction). A batch that misses it is retried at half
    /// the size (down to one event), and the size grows back after batches that make it.
    public var batchDeadline: Duration = .seconds(30)
    /// How far past its step's deadline a loop may be before it counts as stalled (its lease is no
    /// longer renewed and it is restarted).
    public var stallGrace: Duration = .seconds(5)
    /// This worker's identity in `strata.workers` and `strata.leases`.
    public var workerID: String

    public init(workerID: String = WorkerSettings.defaultWorkerID()) {
        self.workerID = workerID
    }

    public static func defaultWorkerID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    }
}

/// A unit of work a lease covers: one partition of one topic for one projection (all of its
/// active generations).
public struct LeaseUnit: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var projection: String
    public var topic: String
    public var partition: Int

    public static func < (a: LeaseUnit, b: LeaseUnit) -> Bool {
        (a.projection, a.topic, a.partition) < (b.projection, b.topic, b.partition)
    }

    public var description: String { "\(projection):\(topic)/\(partition)" }
}

/// Shares partitions between worker processes through leases in PostgreSQL.
///
/// Every heartbeat, a worker records itself as alive, reads which workers are alive, and computes
/// the same deterministic assignment every other worker computes: for each projection, its units
/// sorted, dealt round-robin over the live workers that run it (sorted by id). It renews the leases
/// it holds, and takes the units assigned to it whose leases are free or expired. A worker that
/// dies stops renewing; after the TTL, the others take its units over. A worker that joins gets its
/// share as the others release what is no longer theirs.
struct LeaseManager: Sendable {
    let client: PostgresClient
    let settings: WorkerSettings
    let projections: [String]
    let logger: Logger

    var ttlMilliseconds: Int64 { Int64(settings.leaseTTL.components.seconds * 1000 + settings.leaseTTL.components.attoseconds / 1_000_000_000_000_000) }

    /// One heartbeat. `running` are the units this worker still has tasks for (renewed until they
    /// stop); returns the units to run now.
    func tick(running: Set<LeaseUnit>) async throws -> Set<LeaseUnit> {
        let me = settings.workerID
        let ttl = ttlMilliseconds
        return try await client.withConnection { conn in
            try await conn.query("""
                INSERT INTO strata.workers (worker_id, host, pid, projections)
                VALUES (\(me), \(ProcessInfo.processInfo.hostName), \(Int(getpid())), \(projections))
                ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(), projections = EXCLUDED.projections
                """, logger: logger)
            var eligible: [String: [String]] = [:]
            for try await (worker, theirs) in try await conn.query("""
                SELECT worker_id, projections FROM strata.workers
                 WHERE heartbeat_at > now() - make_interval(secs => \(Double(ttl) / 1000))
                 ORDER BY worker_id
                """, logger: logger).decode((String, [String]).self)
            {
                for p in theirs { eligible[p, default: []].append(worker) }
            }
            var units: [LeaseUnit] = []
            for try await (projection, topic, partition) in try await conn.query("""
                SELECT projection, topic, partition FROM strata.leases WHERE projection = ANY(\(projections))
                """, logger: logger).decode((String, String, Int).self)
            {
                units.append(LeaseUnit(projection: projection, topic: topic, partition: partition))
            }
            let desired = Self.assignment(units: units, eligible: eligible, me: me)
            let keep = desired.union(running)
            let keepArrays = Self.columns(keep)
            let wantArrays = Self.columns(desired)
            // Renew what we hold and still run or want; take what we want if free or expired.
            var held: Set<LeaseUnit> = []
            for try await (projection, topic, partition) in try await conn.query("""
                UPDATE strata.leases l
                   SET owner = \(me), expires_at = now() + make_interval(secs => \(Double(ttl) / 1000)),
                       acquired_at = CASE WHEN l.owner = \(me) THEN l.acquired_at ELSE now() END
                  FROM unnest(\(keepArrays.0 + wantArrays.0), \(keepArrays.1 + wantArrays.1), \(keepArrays.2 + wantArrays.2))
                       AS u(projection, topic, partition)
                 WHERE l.projection = u.projection AND l.topic = u.topic AND l.partition = u.partition
                   AND (l.owner = \(me) OR l.owner IS NULL OR l.expires_at < now())
                RETURNING l.projection, l.topic, l.partition
                """, logger: logger).decode((String, String, Int).self)
            {
                held.insert(LeaseUnit(projection: projection, topic: topic, partition: partition))
            }
            // Run what is ours by assignment, and what is still running until it winds down.
            return held.filter { desired.contains($0) }
        }
    }

    /// Gives a unit back so another worker can take it at once.
    func release(_ unit: LeaseUnit) async {
        do {
            try await client.query("""
                UPDATE strata.leases SET owner = NULL, expires_at = NULL
                 WHERE projection = \(unit.projection) AND topic = \(unit.topic) AND partition = \(unit.partition)
                   AND owner = \(settings.workerID)
                """, logger: logger)
        } catch {
            // Cancelled (not shut down gracefully): the lease simply expires after its TTL.
            logger.log(level: error is CancellationError ? .debug : .warning, "could not release lease",
                metadata: ["unit": "\(unit)", "error": "\(PostgresErrors.message(error))"])
        }
    }

    /// Leaves the worker table (on shutdown), so others rebalance without waiting for the TTL.
    func leave() async {
        _ = try? await client.query("DELETE FROM strata.workers WHERE worker_id = \(settings.workerID)", logger: logger)
    }

    static func assignment(units: [LeaseUnit], eligible: [String: [String]], me: String) -> Set<LeaseUnit> {
        var mine: Set<LeaseUnit> = []
        let byProjection = Dictionary(grouping: units, by: \.projection)
        for (projection, list) in byProjection {
            guard let workers = eligible[projection], let index = workers.firstIndex(of: me) else { continue }
            for (i, unit) in list.sorted().enumerated() where i % workers.count == index {
                mine.insert(unit)
            }
        }
        return mine
    }

    static func columns(_ units: Set<LeaseUnit>) -> ([String], [String], [Int32]) {
        let sorted = units.sorted()
        return (sorted.map(\.projection), sorted.map(\.topic), sorted.map { Int32($0.partition) })
    }
}
