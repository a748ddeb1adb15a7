import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import StrataAtlas
import StrataAtlasModel
import StrataCore
import StrataCrawl
import StrataPostgres
import StrataProjections
import Synchronization

/// The registry crawler at scale: a crawl of N crates from a registry on loopback (this process
/// serves it: crates.io's paths and shapes, ETags), requests/s beside async-http-client alone
/// fetching the same URLs at the same concurrency; the time from the crawl's end until the graph's
/// metrics reflect it; a recrawl with nothing changed (all 304); then 1% of the packages publish a
/// version with other dependencies: the recrawl, and the time until criticality is updated
/// incrementally, beside a full recomputation of the graph's criticality.
public struct CrawlBenchmark: Sendable {
    public var packages: Int
    public var concurrency: Int
    public var port: Int

    public init(packages: Int = 10_000, concurrency: Int = 32, port: Int = 18282) {
        self.packages = packages
        self.concurrency = concurrency
        self.port = port
    }

    public struct Report: Sendable {
        public var packages = 0
        public var crawlRequests = 0
        public var crawlSeconds = 0.0
        public var referenceRequests = 0
        public var referenceSeconds = 0.0
        public var appended = 0
        public var untilMetrics = 0.0
        public var recrawlRequests = 0
        public var recrawlSeconds = 0.0
        public var recrawlAppended = 0
        public var changed = 0
        public var changedCrawlSeconds = 0.0
        public var changedUntilMetrics = 0.0
        public var fullRecompute = 0.0
        public var nodes = 0
        public var edges = 0
        public var critical = 0

        public var markdown: String {
            let crawlRate = Double(crawlRequests) / crawlSeconds
            let referenceRate = Double(referenceRequests) / referenceSeconds
            return """
                | measurement | result |
                |---|---|
                | first crawl: \(packages) crates (\(crawlRequests) requests) | \(String(format: "%.1f", crawlSeconds)) s, **\(String(format: "%.0f", crawlRate)) requests/s**; \(appended) events appended |
                | reference: async-http-client alone, the same \(referenceRequests) GETs, same concurrency | \(String(format: "%.1f", referenceSeconds)) s, \(String(format: "%.0f", referenceRate)) requests/s — crawler **\(String(format: "%.2f", crawlRate / referenceRate))x** |
                | crawl end -> graph metrics reflect it (\(nodes) nodes, \(edges) edges, \(critical) with criticality > 0) | \(String(format: "%.1f", untilMetrics)) s |
                | recrawl, nothing changed (\(recrawlRequests) conditional requests, all 304) | \(String(format: "%.1f", recrawlSeconds)) s, \(String(format: "%.0f", Double(recrawlRequests) / recrawlSeconds)) requests/s; \(recrawlAppended) appended |
                | recrawl after \(changed) packages (1%) changed their dependencies | \(String(format: "%.1f", changedCrawlSeconds)) s; then a worker (started after it, reloading the graph) applies the \(changed) observations with incremental criticality in \(String(format: "%.2f", changedUntilMetrics)) s |
                | full recomputation of criticality on the same graph (in memory) | \(String(format: "%.2f", fullRecompute)) s |
                """
        }
    }

    /// The fake crates.io: `bench-i` depends on three others; `generation[i]` is its latest version.
    final class Registry: Sendable {
        let count: Int
        let generation: Mutex<[Int]>
        init(count: Int) {
            self.count = count
            generation = Mutex(Array(repeating: 0, count: count))
        }

        func dependencies(_ i: Int, _ g: Int) -> [Int] {
            [(i * 7 + 1 + g) % count, (i * 13 + 2 + 3 * g) % count, (i * 31 + 3 + 5 * g) % count].filter { $0 != i }
        }

        func body(_ path: String) -> String? {
            let parts = path.split(separator: "/").map(String.init)
            guard parts.count >= 4, parts[0] == "api", parts[1] == "v1", parts[2] == "crates", parts[3].hasPrefix("bench-"),
                let i = Int(parts[3].dropFirst(6)), i >= 0, i < count
            else { return nil }
            let g = generation.withLock { $0[i] }
            if parts.count == 4 {
                return #"{"crate": {"name": "bench-\#(i)", "repository": "https://github.com/bench/bench-\#(i)", "max_stable_version": "1.0.\#(g)", "recent_downloads": \#(i * 3)}, "versions": [{"num": "1.0.\#(g)", "created_at": "2026-01-01T00:00:00Z"}]}"#
            }
            if parts.count == 6, parts[5] == "dependencies" {
                let deps = dependencies(i, g).map { #"{"crate_id": "bench-\#($0)", "req": "^1", "kind": "normal", "optional": false}"# }
                return #"{"dependencies": [\#(deps.joined(separator: ","))]}"#
            }
            if parts.count == 5, parts[4] == "reverse_dependencies" { return #"{"dependencies": [], "versions": [], "meta": {"total": 0}}"# }
            return nil
        }

        func run(port: Int) async throws {
            let router = Router()
            router.get("**") { request, _ -> Response in
                guard let body = self.body(String(request.uri.path.dropFirst())) else { return Response(status: .notFound) }
                let bytes = Array(body.utf8)
                let etag = "\"" + SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined() + "\""
                if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
                return Response(status: .ok, headers: [.eTag: etag, .contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
            }
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
            try await app.runService()
        }
    }

    public func run(log: PostgresEventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        var report = Report()
        report.packages = packages
        let registry = Registry(count: packages)
        let base = "http://127.0.0.1:\(port)"
        let purls = (0..<packages).map { "pkg:cargo/bench-\($0)" }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: .init(idleTimeout: .seconds(30),
            concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)))
        var settings = CrawlSettings()
        settings.perHostConcurrency = concurrency
        settings.perHostRate = 0
        var endpoints = RegistryEndpoints(all: base)
        endpoints.depsdev = base + "/depsdev"  // answers 404: the crates only
        var crawler = RegistryCrawler(endpoints: endpoints, client: CrawlClient(http: http, db: client, settings: settings, logger: logger),
            producer: producer, db: client, logger: logger)
        crawler.concurrency = concurrency
        var workerSettings = WorkerSettings(workerID: "bench-crawl")
        workerSettings.idleWait = .milliseconds(100)
        workerSettings.heartbeat = .milliseconds(200)
        workerSettings.leaseTTL = .seconds(2)
        let worker = ProjectionWorker(projections: [AtlasProjection()], log: log, client: client, settings: workerSettings, logger: logger)
        let monitor = LagMonitor(client: client, log: log, logger: logger)
        let clock = ContinuousClock()
        let running = Mutex<Task<Void, any Error>?>(nil)
        func stopWorker() async {
            let task = running.withLock { t in defer { t = nil }; return t }
            task?.cancel()
            _ = try? await task?.value
        }
        func caughtUp(starting: Bool = false) async throws {
            if starting { running.withLock { $0 = Task { try await worker.run() } } }
            while true {
                let rows = try await monitor.measure(projection: "atlas")
                if !rows.isEmpty && rows.allSatisfy({ $0.events == 0 }) { return }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await registry.run(port: port) }
                group.addTask { try await log.run() }
                // Seeds for criticality: 500 repos of 50 live projects, each depending on 20 of the crates.
                let ingest = AtlasIngest(schemas: producer.schemas)
                var drafts: [EventDraft] = []
                for o in 0..<50 {
                    drafts.append(EventDraft(topic: "grants", key: "bench-project-\(o)", type: "grants.project.upserted", source: "bench", payload: [
                        "id": .string("bench-project-\(o)"), "name": .string("Bench \(o)"),
                        "extensions": ["org.stellar.communityfund": ["org.stellar.communityfund.integrationStatus": "Mainnet",
                                                                     "org.stellar.communityfund.github": .string("https://github.com/org\(o)")]]]))
                }
                for r in 0..<500 {
                    let deps = (0..<20).map { "pkg:cargo/bench-\((r * 37 + $0 * 101) % packages)" }
                    let repo = "org\(r % 50)/repo\(r)"
                    drafts.append(try ingest.sbomDraft(JSONWriter.bytes(SyntheticSBOM.spdx(repository: repo, dependencies: deps)), source: "bench", repository: repo))
                }
                for start in stride(from: 0, to: drafts.count, by: 500) {
                    try await producer.append(Array(drafts[start..<min(start + 500, drafts.count)]))
                }
                try await Task.sleep(for: .milliseconds(500))

                progress("reference: async-http-client alone fetching the crates' URLs...")
                let urls = (0..<packages).flatMap { i in
                    ["\(base)/api/v1/crates/bench-\(i)", "\(base)/api/v1/crates/bench-\(i)/1.0.0/dependencies",
                     "\(base)/api/v1/crates/bench-\(i)/reverse_dependencies?per_page=100", "\(base)/depsdev/v3/systems/CARGO/packages/bench-\(i)"]
                }
                var t0 = clock.now
                try await withThrowingTaskGroup(of: Int.self) { fetches in
                    var next = urls.makeIterator()
                    func add() {
                        guard let url = next.next() else { return }
                        fetches.addTask {
                            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(20))
                            return try await response.body.collect(upTo: 1 << 20).readableBytes
                        }
                    }
                    for _ in 0..<concurrency { add() }
                    while try await fetches.next() != nil { add() }
                }
                report.referenceSeconds = (clock.now - t0).seconds
                report.referenceRequests = urls.count

                progress("crawling \(packages) crates (the projection worker running, as in a live system)...")
                try await caughtUp(starting: true)
                t0 = clock.now
                let first = try await crawler.crawl(purls)
                report.crawlSeconds = (clock.now - t0).seconds
                report.crawlRequests = first.requests
                report.appended = first.appended
                let crawled = clock.now
                try await caughtUp()
                report.untilMetrics = (clock.now - crawled).seconds
                for try await (n, e, c) in try await client.query(
                    """
                    SELECT (SELECT count(*) FROM atlas.vertices)::int, (SELECT count(*) FROM atlas.depends_on)::int,
                           (SELECT count(*) FROM atlas.vertices WHERE criticality_score > 0)::int
                    """, logger: logger
                ).decode((Int, Int, Int).self) {
                    report.nodes = n
                    report.edges = e
                    report.critical = c
                }

                progress("recrawl, nothing changed...")
                t0 = clock.now
                let again = try await crawler.crawl(purls)
                report.recrawlSeconds = (clock.now - t0).seconds
                report.recrawlRequests = again.requests
                report.recrawlAppended = again.appended

                let changed = Array(stride(from: 0, to: packages, by: 100))
                report.changed = changed.count
                registry.generation.withLock { g in for i in changed { g[i] += 1 } }
                progress("\(changed.count) packages publish new dependencies; recrawl with the worker stopped, then time its catching up...")
                await stopWorker()
                t0 = clock.now
                _ = try await crawler.crawl(purls)
                report.changedCrawlSeconds = (clock.now - t0).seconds
                let recrawled = clock.now
                try await caughtUp(starting: true)
                report.changedUntilMetrics = (clock.now - recrawled).seconds
                await stopWorker()
                group.cancelAll()
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()

        progress("full recomputation...")
        let graph = try await AtlasBenchmark.loadGraph(client, logger: logger)
        let t0 = clock.now
        _ = CriticalityEngine(graph: graph)
        report.fullRecompute = (clock.now - t0).seconds
        return report
    }
}
