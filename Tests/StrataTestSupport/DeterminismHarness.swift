import Foundation
import PostgresNIO
import StrataApp
import StrataCore
import StrataProjections

/// The batch-boundary harness every projection must pass: projections are deterministic functions
/// of the log, so the same events give the same tables however they fall into batches, in how many
/// ingests they arrive, how partitions interleave, and whether workers restart part-way.
///
/// For each seed, in a database of its own: the events arrive ingest by ingest, each applied live by
/// a new worker (a restart) with random batch sizes, some workers cancelled mid-way and replaced.
/// Then every projection is replayed from offset zero in large batches (a new generation from the
/// same log), and every table of every projection's readers' schema must equal the live one, row
/// for row.
public enum DeterminismHarness {
    public struct Outcome: Sendable {
        /// Tables compared, `schema.table`.
        public var tables: [String] = []
        /// Rows per table (the replay's, in the last run).
        public var rows: [String: Int] = [:]
        /// Tables that differed between live and replay, with the seed of the run.
        public var mismatches: [String] = []
    }

    /// - Parameters:
    ///   - parts: the events, in the ingests they arrive in (each appended whole, in order).
    ///   - maxBatch: batch sizes are drawn from 1...maxBatch.
    public static func check(
        projections: [any Projection], parts: [[EventDraft]], seeds: [UInt64], maxBatch: Int = 8, timeout: Duration = .seconds(120)
    ) async throws -> Outcome {
        var outcome = Outcome()
        for seed in seeds {
            // The plan is drawn from the seed up front: per ingest, maybe a worker stopped after a
            // random moment (mid-batch as often as not), then a fresh one that finishes the part —
            // restarts between and within ingests, each with its own batch sizes.
            var random = SeededGenerator(seed: seed)
            let plan = parts.map { _ in
                (interrupted: Bool.random(using: &random) ? randomSettings(maxBatch, &random) : nil,
                 runFor: Duration.milliseconds(Int.random(in: 5...150, using: &random)),
                 final: randomSettings(maxBatch, &random))
            }
            let (live, replayed) = try await TestEnvironment.withStrata { strata -> ([String: String], [String: String]) in
                for (part, step) in zip(parts, plan) {
                    try await strata.producer.append(part)
                    if let settings = step.interrupted {
                        let worker = ProjectionWorker(
                            projections: projections, log: strata.log, client: strata.client, settings: settings, logger: strata.logger)
                        await withTaskGroup(of: Void.self) { group in
                            group.addTask { try? await worker.run() }
                            group.addTask { try? await Task.sleep(for: step.runFor) }
                            await group.next()
                            group.cancelAll()
                        }
                    }
                    try await ProjectionHarness.runUntilCaughtUp(strata, projections, settings: step.final, timeout: timeout)
                }
                let live = try await dumpAll(strata, projections)
                let catalog = GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger)
                for p in projections { _ = try await catalog.startReplay(p) }
                var settings = ProjectionHarness.fastSettings(batchSize: 50_000)
                settings.catchUpBatchSize = 50_000
                try await ProjectionHarness.runUntilCaughtUp(strata, projections, settings: settings, timeout: timeout)
                return (live, try await dumpAll(strata, projections))
            }
            outcome.tables = replayed.keys.sorted()
            for (table, json) in replayed {
                outcome.rows[table] = (try? JSONParser.parse(json))?.arrayValue?.count ?? 0
            }
            for table in Set(live.keys).union(replayed.keys).sorted() where live[table] != replayed[table] {
                outcome.mismatches.append("\(table) (seed \(seed))")
            }
        }
        return outcome
    }

    static func randomSettings(_ maxBatch: Int, _ random: inout SeededGenerator) -> WorkerSettings {
        var settings = ProjectionHarness.fastSettings(batchSize: Int.random(in: 1...maxBatch, using: &random))
        settings.catchUpBatchSize = Int.random(in: 1...maxBatch, using: &random)
        return settings
    }

    /// Every table (view) of each projection's readers' schema, rows as canonical JSON in a total order.
    public static func dumpAll(_ strata: StrataContext, _ projections: [any Projection]) async throws -> [String: String] {
        var result: [String: String] = [:]
        for p in projections {
            var names: [String] = []
            for try await name in try await strata.client.query("""
                SELECT table_name::text FROM information_schema.views WHERE table_schema = \(p.name) ORDER BY 1
                """).decode(String.self) {
                names.append(name)
            }
            for name in names {
                let table = "\"\(p.name)\".\"\(name)\""
                result["\(p.name).\(name)"] = try await ProjectionHarness.dump(strata.client, table, orderBy: "t::text")
            }
        }
        return result
    }
}
