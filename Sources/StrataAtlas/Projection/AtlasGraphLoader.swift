import Foundation
import PostgresNIO
import StrataAtlasModel
import StrataCore
import StrataProjections

/// Builds the in-memory graph from the projection's tables: at a worker's first batch, after a
/// failed batch, or when another worker has applied batches since.
enum AtlasGraphLoader {
    static func load(_ context: ProjectionContext) async throws -> CriticalityEngine {
        var graph = DependencyGraph()
        for try await (id, type, project) in try await context.query(
            "SELECT canonical_id, vertex_type, project_id FROM \(unescaped: context.table("vertices"))"
        ).decode((String, String, String?).self) {
            graph.addNode(id, kind: type == "repo" ? .repo : .externalPackage)
            if let project { graph.setProject(id, project) }
        }
        for try await (id, status) in try await context.query(
            "SELECT canonical_id, activity_status FROM \(unescaped: context.table("projects"))"
        ).decode((String, String).self) {
            graph.setProjectStatus(id, ProjectActivityStatus(parsing: status))
        }
        var edges: [DependencyEdge] = []
        for try await (from, to) in try await context.query(
            "SELECT DISTINCT in_id, out_id FROM \(unescaped: context.table("depends_on"))"
        ).decode((String, String).self) {
            edges.append(DependencyEdge(from: from, to: to))
        }
        graph.addEdges(edges)
        return CriticalityEngine(graph: graph)
    }
}
