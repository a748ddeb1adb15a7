import Foundation
import StrataAtlasModel
import PostgresNIO
import StrataApp
import StrataAtlas
import StrataCore
import StrataProjections
import StrataTestSupport
import Testing

/// The Atlas projection passes the batch-boundary harness on the real inputs (SBOMs, grants,
/// registry responses, git history), arriving in ingests of random sizes.
@Suite struct AtlasDeterminismTests {
    @Test func atlasIsDeterministicAcrossBatchBoundaries() async throws {
        let git = try ScratchGitRepository(commits: AtlasPipelineTests.commits)
        defer { git.remove() }
        let drafts = try AtlasPipelineTests.allDrafts(try TestEnvironment.schemas(), git: git)
        var random = SeededGenerator(seed: 5)
        var parts: [[EventDraft]] = []
        var start = 0
        while start < drafts.count {
            let end = min(drafts.count, start + Int.random(in: 1...(drafts.count / 3 + 1), using: &random))
            parts.append(Array(drafts[start..<end]))
            start = end
        }
        let outcome = try await DeterminismHarness.check(projections: [AtlasProjection()], parts: parts, seeds: [3], maxBatch: 40)
        #expect(outcome.tables.contains("atlas.vertices"))
        #expect((outcome.rows["atlas.depends_on"] ?? 0) > 100)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches)")
    }
}

@Suite struct AtlasPonyFactorTests {
    /// PG Atlas's answer for a repository with no commits is pony factor 0, not NULL; packages
    /// outside the ecosystem keep none.
    @Test func aRepoWithoutCommitsHasPonyFactorZero() async throws {
        try await TestEnvironment.withStrata { strata in
            try await AtlasPipelineTests.ingestAll(strata)
            let rows = try await strata.client.query("""
                SELECT count(*)::int, count(*) FILTER (WHERE v.pony_factor = 0)::int FROM atlas.vertices v
                 WHERE v.vertex_type = 'repo' AND NOT EXISTS (SELECT 1 FROM atlas.commits c WHERE c.repo_id = v.canonical_id)
                """).decode((Int, Int).self)
            for try await (total, zero) in rows {
                #expect(total > 0)
                #expect(zero == total)
            }
        }
    }
}

/// The Atlas graph built from a Kafka log (a 3-broker mock cluster) equals the one built from the
/// PostgreSQL log on the same inputs, table by table.
@Suite struct AtlasOnKafkaTests {
    @Test func atlasFromKafkaEqualsAtlasFromPostgres() async throws {
        var dumps: [LogBackend: [String: String]] = [:]
        for backend in LogBackend.allCases {
            dumps[backend] = try await backend.withStrata { strata in
                let drafts = try AtlasPipelineTests.allDrafts(strata.schemas)
                for start in stride(from: 0, to: drafts.count, by: 200) {
                    try await strata.producer.append(Array(drafts[start..<min(start + 200, drafts.count)]))
                }
                try await ProjectionHarness.runUntilCaughtUp(
                    strata, [AtlasProjection()], settings: AtlasPipelineTests.loadedMachineSettings(), timeout: .seconds(480))
                return try await DeterminismHarness.dumpAll(strata, [AtlasProjection()])
            }
        }
        let pg = dumps[.postgres] ?? [:]
        let kafka = dumps[.kafka] ?? [:]
        #expect(pg["atlas.depends_on"].map { $0.count > 1000 } == true)
        #expect(pg.keys.sorted() == kafka.keys.sorted())
        // submitted_at is the append time (each run appends anew); everything else is the events'.
        let appendTime = /"submitted_at":"[^"]*"/
        for table in pg.keys.sorted() {
            #expect(pg[table]?.replacing(appendTime, with: "") == kafka[table]?.replacing(appendTime, with: ""), "\(table) differs")
        }
    }
}
