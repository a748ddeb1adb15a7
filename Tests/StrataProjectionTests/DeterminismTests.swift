import Foundation
import PostgresNIO
import StrataApp
import StrataCore
import StrataProjections
import StrataTestSupport
import Testing

/// The batch-boundary harness on the reference projection: random batch sizes, events arriving in
/// several ingests, partitions interleaving and workers restarting give the tables of one replay.
@Suite struct DemoDeterminismTests {
    @Test func demoCountsIsDeterministicAcrossBatchBoundaries() async throws {
        var random = SeededGenerator(seed: 11)
        var parts: [[EventDraft]] = []
        var n = 0
        for _ in 0..<5 {
            var part: [EventDraft] = []
            for _ in 0..<Int.random(in: 10...60, using: &random) {
                part.append(demoDraft(key: "k\(Int.random(in: 0..<12, using: &random))", amount: Int.random(in: -50...500, using: &random), id: "d-\(n)"))
                n += 1
            }
            parts.append(part)
        }
        let outcome = try await DeterminismHarness.check(projections: [DemoCountsProjection()], parts: parts, seeds: [1, 2, 3])
        #expect(outcome.tables.sorted() == ["demo_counts.event_index", "demo_counts.key_counts"])
        #expect(outcome.rows["demo_counts.event_index"] == n)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches)")
    }
}
