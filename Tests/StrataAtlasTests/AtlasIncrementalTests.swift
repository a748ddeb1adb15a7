import Foundation
import StrataAtlasModel
import PostgresNIO
import StrataApp
import StrataAtlas
import StrataCore
import StrataProjections
import StrataTestSupport
import Testing

/// The Atlas projection end to end: after every event of a random sequence (SBOMs replacing a
/// repository's dependencies, projects changing status, registry edges), the criticality in the
/// tables equals a from-scratch computation over the same tables; and a replay gives the same tables.
@Suite(.serialized) struct AtlasIncrementalTests {
    /// Scores recomputed from scratch from the projection's own tables.
    static func fromScratch(_ client: PostgresClient) async throws -> [String: Int] {
        var graph = DependencyGraph()
        for try await (id, type, project) in try await client.query("SELECT canonical_id, vertex_type, project_id FROM atlas.vertices")
            .decode((String, String, String?).self) {
            graph.addNode(id, kind: type == "repo" ? .repo : .externalPackage)
            if let project { graph.setProject(id, project) }
        }
        for try await (id, status) in try await client.query("SELECT canonical_id, activity_status FROM atlas.projects").decode((String, String).self) {
            graph.setProjectStatus(id, ProjectActivityStatus(parsing: status))
        }
        var edges: [DependencyEdge] = []
        for try await (a, b) in try await client.query("SELECT DISTINCT in_id, out_id FROM atlas.depends_on").decode((String, String).self) {
            edges.append(DependencyEdge(from: a, to: b))
        }
        graph.addEdges(edges)
        return graph.referenceCriticality()
    }

    static func stored(_ client: PostgresClient) async throws -> [String: Int] {
        var scores: [String: Int] = [:]
        for try await (id, score) in try await client.query("SELECT canonical_id, criticality_score FROM atlas.vertices").decode((String, Int).self) {
            scores[id] = score
        }
        return scores
    }

    @Test func incrementalEqualsFromScratchAfterEveryEvent() async throws {
        try await TestEnvironment.withStrata { strata in
            var rng = SeededGenerator(seed: 7)
            let owners = ["alpha", "beta", "gamma"]
            let repos = (0..<8).map { "\(owners[$0 % 3])/repo\($0)" }
            let packages = (0..<14).map { "pkg:npm/lib\($0)" } + repos.map { "pkg:github/\($0)" }
            let statuses = ["Mainnet", "Development", "Abandoned", "Unknown"]
            let projection = AtlasProjection()
            for step in 0..<25 {
                var draft: EventDraft
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<6:
                    let repo = repos.randomElement(using: &rng)!
                    let deps = packages.filter { $0 != "pkg:github/\(repo)" && Int.random(in: 0..<5, using: &rng) == 0 }
                    draft = try AtlasIngest(schemas: strata.schemas).sbomDraft(JSONWriter.bytes(SyntheticSBOM.spdx(repository: repo, dependencies: deps)), source: "step \(step)", repository: repo)
                case 6..<8:
                    let owner = owners.randomElement(using: &rng)!
                    draft = EventDraft(topic: "grants", key: "p-\(owner)", type: "grants.project.upserted", source: "test", payload: [
                        "id": .string("p-\(owner)"), "name": .string(owner),
                        "extensions": ["org.stellar.communityfund": [
                            "org.stellar.communityfund.integrationStatus": .string(statuses.randomElement(using: &rng)!),
                            "org.stellar.communityfund.github": .string("https://github.com/\(owner)")]]])
                default:
                    let package = (0..<14).map { "pkg:npm/lib\($0)" }.randomElement(using: &rng)!
                    let deps = packages.filter { $0 != package && Int.random(in: 0..<6, using: &rng) == 0 }
                    draft = EventDraft(topic: "registry", key: package, type: "registry.package.observed", source: "test", payload: [
                        "ecosystem": "npm", "purl": .string(package),
                        "dependencies": .array(deps.map { ["purl": .string($0), "version_range": "^1"] })])
                }
                try await strata.producer.append([draft])
                try await ProjectionHarness.runUntilCaughtUp(strata, [projection], settings: ProjectionHarness.fastSettings(batchSize: 1))
                let stored = try await Self.stored(strata.client)
                let expected = try await Self.fromScratch(strata.client)
                for (id, score) in stored { #expect(score == expected[id] ?? 0, "step \(step): \(id)") }
            }
            // And a replay from zero gives the same tables.
            let tables = [("atlas.vertices", "canonical_id"), ("atlas.depends_on", "in_id, out_id, version_range"), ("atlas.projects", "canonical_id")]
            var before: [String] = []
            for (t, order) in tables { before.append(try await ProjectionHarness.dump(strata.client, t, orderBy: order)) }
            _ = try await GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger).startReplay(projection)
            try await ProjectionHarness.runUntilCaughtUp(strata, [projection])
            for (i, (t, order)) in tables.enumerated() {
                let after = try await ProjectionHarness.dump(strata.client, t, orderBy: order)
                #expect(after == before[i], "\(t) differs after replay")
            }
        }
    }
}
