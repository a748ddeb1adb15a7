import Foundation
import Logging
import PostgresNIO
import StrataAtlasModel
import StrataCore
import StrataProjections

/// The Atlas: projects, repos, packages, contributors and their edges, with criticality, pony
/// factor and adoption, maintained incrementally as SBOM, grant, commit and registry events arrive.
///
/// The graph is a function of the facts in the log (each repository's latest SBOM, each package's
/// latest registry observation, each project's latest record, the set of commits), never of the
/// order in which partitions are applied, so replays give the same tables.
///
/// Criticality needs the whole graph; it is kept in memory (`CriticalityEngine`) and updated per
/// batch for the affected nodes only. Batches from different partitions are serialized by an
/// advisory lock, and a version row tells a worker whether its in-memory graph is current (another
/// worker may have applied batches); if not, it reloads from the tables once.
public struct AtlasProjection: Projection {
    public let name = "atlas"
    public let topics = [AtlasEvents.sbomTopic, AtlasEvents.grantsTopic, AtlasEvents.commitsTopic, AtlasEvents.registryTopic]
    /// 2: submissions keep the OIDC claims they came with.
    public let version = 2
    let cache = EngineCache()

    public init() {}

    public func createTables(_ context: ProjectionContext) async throws {
        try await AtlasTables.create(context)
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        try await context.query("SELECT pg_advisory_xact_lock(hashtext(\(context.schema)))")
        var graphVersion: Int64 = 0
        for try await v in try await context.query("SELECT version FROM \(unescaped: context.table("graph_state"))").decode(Int64.self) {
            graphVersion = v
        }
        var engine: CriticalityEngine
        if let cached = await cache.take(schema: context.schema, version: graphVersion) {
            engine = cached
        } else {
            engine = try await AtlasGraphLoader.load(context)
        }
        var batch = AtlasBatch()
        let handlers = AtlasHandlers(context: context)
        for event in events {
            let payload = try event.payloadJSON()
            switch event.type {
            case AtlasEvents.sbomSubmitted: try await handlers.sbom(payload, event: event, into: &batch)
            case AtlasEvents.grantProject: try await handlers.project(payload, into: &batch)
            case AtlasEvents.grantPool: try await handlers.pool(payload)
            case AtlasEvents.grantApplication: try await handlers.application(payload)
            case AtlasEvents.commitsObserved: try await handlers.commits(payload, into: &batch)
            case AtlasEvents.packageObserved: try await handlers.package(payload, into: &batch)
            case AtlasEvents.repositoryObserved: try await handlers.repository(payload, into: &batch)
            default: throw ProjectionError("atlas does not know event type \(event.type)")
            }
        }
        try await handlers.recomputeEffectiveEdges(&batch)
        let changes = engine.apply(batch.mutations)
        try await handlers.writeCriticality(changes)
        try await handlers.writePonyFactors(repos: batch.touchedRepos, projects: batch.touchedProjects)
        // The version counts the events applied, not the batches: it grows with every batch (so a
        // cached graph is never taken for a newer one) and ends the same however the log was batched.
        let next = graphVersion + Int64(events.count)
        try await context.query("UPDATE \(unescaped: context.table("graph_state")) SET version = \(next)")
        // Published before commit under the new version: if the transaction rolls back, the stored
        // version stays behind and the next batch reloads instead of using this graph.
        await cache.put(engine, schema: context.schema, version: next)
    }
}

/// What a batch changes, gathered while its events are handled.
struct AtlasBatch {
    var mutations: [GraphMutation] = []
    /// Nodes whose effective out-edges must be recomputed.
    var edgeSources: Set<String> = []
    var touchedRepos: Set<String> = []
    var touchedProjects: Set<String> = []
}

/// The one in-memory graph per generation. `take` hands the engine out (so mutating it does not
/// copy it) and `put` returns it; a failed batch simply never returns it.
actor EngineCache {
    private var engine: CriticalityEngine?
    private var schema = ""
    private var version: Int64 = -1

    func take(schema: String, version: Int64) -> CriticalityEngine? {
        guard self.schema == schema, self.version == version, let engine else { return nil }
        self.engine = nil
        return engine
    }

    func put(_ engine: CriticalityEngine, schema: String, version: Int64) {
        self.engine = engine
        self.schema = schema
        self.version = version
    }
}
