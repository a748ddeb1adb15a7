import Foundation
import Logging
import PostgresNIO
import StrataApp
import StrataCore
import StrataProjections

/// Helpers for driving projections in tests.
public enum ProjectionHarness {
    /// Short intervals so tests do not wait on heartbeats.
    public static func fastSettings(batchSize: Int = 100, id: String = "test-\(UUID().uuidString.prefix(6))") -> WorkerSettings {
        var s = WorkerSettings(workerID: id)
        s.batchSize = batchSize
        s.heartbeat = .milliseconds(200)
        s.leaseTTL = .seconds(2)
        s.idleWait = .milliseconds(200)
        s.retryBackoff = .milliseconds(10)
        return s
    }

    /// Runs a worker for `projections` until every active generation has applied everything in
    /// the log and no replay is pending, then stops it.
    public static func runUntilCaughtUp(
        _ strata: StrataContext, _ projections: [any Projection], settings: WorkerSettings = fastSettings(), timeout: Duration = .seconds(180)
    ) async throws {
        let worker = ProjectionWorker(projections: projections, log: strata.log, client: strata.client, settings: settings, logger: strata.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            group.addTask { try await waitUntilCaughtUp(strata, projections.map(\.name), timeout: timeout) }
            try await group.next()
            group.cancelAll()
        }
    }

    public static func waitUntilCaughtUp(_ strata: StrataContext, _ names: [String], timeout: Duration = .seconds(180)) async throws {
        let monitor = LagMonitor(client: strata.client, log: strata.log, logger: strata.logger)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var done = true
            for name in names {
                let rows = try await monitor.measure(projection: name)
                if rows.isEmpty || rows.contains(where: { $0.events > 0 && $0.halted == nil }) || rows.contains(where: { $0.state == .building }) {
                    done = false
                }
            }
            if done { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StrataError(.conflict, "projections \(names) did not catch up within \(timeout)")
    }

    /// A table's rows as canonical JSON text, ordered by `orderBy`: equal strings mean equal tables.
    public static func dump(_ client: PostgresClient, _ table: String, orderBy: String) async throws -> String {
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT coalesce(json_agg(t ORDER BY \(orderBy))::text, '[]') FROM \(table) t
            """), logger: TestEnvironment.logger).decode(String.self)
        for try await text in rows { return text }
        return "[]"
    }
}
