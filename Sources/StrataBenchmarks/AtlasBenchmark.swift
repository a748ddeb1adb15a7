import Foundation
import Logging
import PostgresNIO
import StrataAtlas
import StrataAtlasModel
import StrataCore
import StrataPostgres
import StrataProjections

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Atlas metrics at scale: a synthetic graph of 10,000 nodes and 100,000 edges built from events
/// (SBOMs of repos in projects, registry observations between packages); then, one SBOM at a time,
/// the time from append until the submission reads `processed` through the HTTP API (criticality is
/// committed in the same transaction), beside a full recomputation of the same metrics.
public struct AtlasBenchmark: Sendable {
    public var repos: Int
    public var packages: Int
    public var depsPerRepo: Int
    public var depsPerPackage: Int
    public var samples: Int
    public var apiBaseURL: String

    public init(repos: Int = 2000, packages: Int = 8000, depsPerRepo: Int = 40, depsPerPackage: Int = 3, samples: Int = 200, apiBaseURL: String) {
        self.repos = repos
        self.packages = packages
        self.depsPerRepo = depsPerRepo
        self.depsPerPackage = depsPerPackage
        self.samples = samples
        self.apiBaseURL = apiBaseURL
    }

    public struct Report: Sendable {
        public var nodes: Int
        public var edges: Int
        public var setupSeconds: Double
        public var latencies: LatencyRecorder
        public var incremental: LatencyRecorder
        public var fullBuild: Duration
        public var referenceRecompute: Duration

        public var markdown: String {
            """
            | measurement | result |
            |---|---|
            | graph | \(grouped(Double(nodes))) nodes, \(grouped(Double(edges))) edges (built from events in \(String(format: "%.0f", setupSeconds)) s) |
            | SBOM appended -> criticality visible through the API (\(latencies.samples.count) SBOMs, one at a time) | p50 \(ms(latencies.percentile(50))), **p99 \(ms(latencies.percentile(99)))**, max \(ms(latencies.percentile(100))) |
            | incremental criticality update alone (engine, same changes) | p50 \(ms(incremental.percentile(50))), p99 \(ms(incremental.percentile(99))) |
            | full recomputation of the same metrics: bitset build of all scores | \(ms(fullBuild)) |
            | full recomputation: reference algorithm (BFS per node) | \(ms(referenceRecompute)) |
            """
        }
    }

    public func run(log: PostgresEventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        var rng = SystemRandomNumberGenerator()
        let ingest = AtlasIngest(schemas: producer.schemas)
        let packageIDs = (0..<packages).map { "pkg:npm/bench-\($0)" }
        let repoNames = (0..<repos).map { "org\($0 % 200)/repo\($0)" }
        let clock = ContinuousClock()
        let setupStart = clock.now

        // Projects (200 owners, mostly live or in development), registry layers, SBOMs.
        var drafts: [EventDraft] = []
        let statuses = ["Mainnet", "Mainnet", "Development", "Testnet", "Abandoned"]
        for o in 0..<200 {
            drafts.append(EventDraft(topic: "grants", key: "bench-project-\(o)", type: "grants.project.upserted", source: "bench", payload: [
                "id": .string("bench-project-\(o)"), "name": .string("Bench \(o)"),
                "extensions": ["org.stellar.communityfund": ["org.stellar.communityfund.integrationStatus": .string(statuses[o % statuses.count]),
                                                             "org.stellar.communityfund.github": .string("https://github.com/org\(o)")]]]))
        }
        // Packages depend on packages in lower layers (plus a few cycles), so reach is deep.
        for (i, p) in packageIDs.enumerated() {
            var deps: Set<String> = []
            for _ in 0..<depsPerPackage where i > 0 {
                let j = Int.random(in: 0..<max(1, i), using: &rng)
                deps.insert(packageIDs[j])
            }
            if i % 97 == 0, i + 5 < packageIDs.count { deps.insert(packageIDs[i + 5]) }
            drafts.append(EventDraft(topic: "registry", key: p, type: "registry.package.observed", source: "bench", payload: [
                "ecosystem": "npm", "purl": .string(p), "dependencies": .array(deps.sorted().map { ["purl": .string($0), "version_range": "^1"] })]))
        }
        func repoDeps() -> [String] {
            var deps: Set<String> = []
            while deps.count < depsPerRepo { deps.insert(packageIDs[Int.random(in: 0..<packageIDs.count, using: &rng)]) }
            return deps.sorted()
        }
        for repo in repoNames {
            drafts.append(try ingest.sbomDraft(JSONWriter.bytes(SyntheticSBOM.spdx(repository: repo, dependencies: repoDeps())), source: "bench", repository: repo))
        }
        progress("appending \(drafts.count) setup events...")
        for start in stride(from: 0, to: drafts.count, by: 500) {
            try await producer.append(Array(drafts[start..<min(start + 500, drafts.count)]))
        }

        var settings = WorkerSettings(workerID: "bench-atlas")
        settings.heartbeat = .milliseconds(500)
        settings.idleWait = .milliseconds(500)
        settings.batchSize = 200
        let projection = AtlasProjection()
        let worker = ProjectionWorker(projections: [projection], log: log, client: client, settings: settings, logger: logger)
        let monitor = LagMonitor(client: client, log: log, logger: logger)
        var report = Report(nodes: 0, edges: 0, setupSeconds: 0, latencies: LatencyRecorder(), incremental: LatencyRecorder(),
            fullBuild: .zero, referenceRecompute: .zero)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await log.run() }
            group.addTask { try await worker.run() }
            progress("projecting the setup events...")
            while true {
                let rows = try await monitor.measure(projection: "atlas")
                if !rows.isEmpty && rows.allSatisfy({ $0.events == 0 }) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            report.setupSeconds = (clock.now - setupStart).seconds
            for try await (n, e) in try await client.query(
                "SELECT (SELECT count(*) FROM atlas.vertices)::int, (SELECT count(*) FROM atlas.depends_on)::int", logger: logger
            ).decode((Int, Int).self) {
                report.nodes = n
                report.edges = e
            }
            progress("graph: \(report.nodes) nodes, \(report.edges) edges; measuring \(samples) SBOM updates through the API...")
            let session = URLSession(configuration: .ephemeral)
            for i in 0..<samples {
                let repo = repoNames[Int.random(in: 0..<repoNames.count, using: &rng)]
                var draft = try ingest.sbomDraft(JSONWriter.bytes(SyntheticSBOM.spdx(repository: repo, dependencies: repoDeps())), source: "bench \(i)", repository: repo)
                draft.id = "bench-update-\(i)-\(UUID().uuidString)"
                let t0 = clock.now
                let receipt = try await producer.append([draft])[0]
                let url = URL(string: "\(apiBaseURL)/ingest/sbom/\(receipt.partition)-\(receipt.offset)")!
                while true {
                    let (data, _) = try await session.data(from: url)
                    if let status = try? JSONParser.parse(Array(data))["status"]?.stringValue, status == "processed" { break }
                    try await Task.sleep(for: .milliseconds(2))
                }
                report.latencies.record(clock.now - t0)
            }
            group.cancelAll()
        }

        // The same graph in memory: a full recomputation two ways, and incremental updates alone.
        progress("full recomputation...")
        let graph = try await AtlasBenchmark.loadGraph(client, logger: logger)
        var started = clock.now
        var engine = CriticalityEngine(graph: graph)
        report.fullBuild = clock.now - started
        started = clock.now
        _ = graph.referenceCriticality()
        report.referenceRecompute = clock.now - started
        for _ in 0..<samples {
            let repo = "pkg:github/" + repoNames[Int.random(in: 0..<repoNames.count, using: &rng)]
            let t0 = clock.now
            _ = engine.apply([.setOutEdges(of: repo, to: Set(repoDeps()))])
            report.incremental.record(clock.now - t0)
        }
        return report
    }
}

extension AtlasBenchmark {
    /// The atlas view's graph in memory (vertices, projects' statuses, edges), for a full recomputation.
    static func loadGraph(_ client: PostgresClient, logger: Logger) async throws -> DependencyGraph {
        var graph = DependencyGraph()
        for try await (id, type, project) in try await client.query("SELECT canonical_id, vertex_type, project_id FROM atlas.vertices", logger: logger)
            .decode((String, String, String?).self) {
            graph.addNode(id, kind: type == "repo" ? .repo : .externalPackage)
            if let project { graph.setProject(id, project) }
        }
        for try await (id, status) in try await client.query("SELECT canonical_id, activity_status FROM atlas.projects", logger: logger)
            .decode((String, String).self) { graph.setProjectStatus(id, ProjectActivityStatus(parsing: status)) }
        var edges: [DependencyEdge] = []
        for try await (a, b) in try await client.query("SELECT DISTINCT in_id, out_id FROM atlas.depends_on", logger: logger)
            .decode((String, String).self) { edges.append(DependencyEdge(from: a, to: b)) }
        graph.addEdges(edges)
        return graph
    }
}
