import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresNIO
import StrataApp
import StrataAtlas
import StrataCore
import StrataCrawl
import StrataProjections
import StrataTestSupport
import Synchronization
import Testing

/// The registries on loopback, answering with the real responses in ../shared/data/atlas/registry
/// at the paths the real services use. Each answer has an ETag (its content's hash) and a matching
/// `If-None-Match` gets 304; crates.io's reverse dependencies come in two pages; and, once each, one
/// URL answers 429 with `Retry-After`, one 500, and one hangs.
final class FakeRegistries: Sendable {
    let requests = Mutex<[String]>([])
    let conditional = Mutex(0)
    /// The URLs answered 304 (a request retried after a client timeout on a loaded machine counts once).
    let notModified = Mutex<Set<String>>([])
    let faults = Mutex<[String: String]>([:])
    let routes: [String: String]
    let directory: URL

    init(directory: URL) {
        self.directory = directory
        routes = [
            "/api/v1/crates/serde": "crates_package.json",
            "/api/v1/crates/serde/1.0.228/dependencies": "crates_dependencies.json",
            "/@npmcli/arborist": "npm_package.json",
            "/downloads/point/last-month/@npmcli/arborist": "npm_downloads.json",
            "/pypi/requests/json": "pypi_package.json",
            "/api/packages/requests/recent?period=month": "pypi_stats_recent.json",
            "/api/packages/stellar_flutter_sdk": "pubdev_package.json",
            "/api/packages/stellar_flutter_sdk/metrics": "pubdev_metrics.json",
            "/api/search?q=dependency:stellar_flutter_sdk": "pubdev_search.json",
            "/api/packages/tiny_package": "pubdev_package_minimal.json",
            "/api/search?q=dependency:tiny_package": "pubdev_search_empty.json",
            "/packages/soneso/stellar-php-sdk.json": "packagist_package.json",
            "/packages/soneso/stellar-php-sdk/downloads.json": "packagist_downloads.json",
            "/packages/soneso/stellar-php-sdk/dependents.json": "packagist_dependents.json",
            "/packages/example/dev-only-pkg.json": "packagist_package_dev_only.json",
            "/packages/example/dev-only-pkg/dependents.json": "packagist_dependents_empty.json",
            "/v3/systems/PYPI/packages/stellar-sdk": "depsdev_package_stellar_sdk.json",
            "/v3/systems/PYPI/packages/stellar-sdk/versions/11.1.0:requirements": "depsdev_requirements_stellar_sdk.json",
            "/v3alpha/projectbatch": "depsdev_project_batch_stellarcn.json",
        ]
    }

    func body(_ target: String) -> [UInt8]? {
        if target.hasPrefix("/api/v1/crates/serde/reverse_dependencies?per_page=100") {
            // Two pages: the first half of the dependents with every version, then the rest.
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("crates_reverse_dependencies.json").path),
                let whole = try? JSONParser.parse(Array(data)), let all = whole["dependencies"]?.arrayValue, var object = whole.objectValue
            else { return nil }
            let half = all.count / 2
            if target.hasSuffix("&page=2") {
                object["dependencies"] = .array(Array(all[half...]))
                object["versions"] = .array([])
            } else {
                object["dependencies"] = .array(Array(all[..<half]))
            }
            return Array(JSONWriter.string(.object(object)).utf8)
        }
        guard let file = routes[target] else { return nil }
        return FileManager.default.contents(atPath: directory.appendingPathComponent(file).path).map(Array.init)
    }

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        @Sendable func answer(_ request: Request) async throws -> Response {
            let raw = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            let target = raw.removingPercentEncoding ?? raw
            requests.withLock { $0.append(target) }
            switch faults.withLock({ $0.removeValue(forKey: target) }) {
            case "429": return Response(status: .tooManyRequests, headers: [.retryAfter: "1"])
            case "500": return Response(status: .internalServerError)
            case "hang":
                try await Task.sleep(for: .seconds(5))
            default: break
            }
            guard let bytes = body(target) else { return Response(status: .notFound) }
            let etag = "\"" + SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined() + "\""
            if request.headers[.ifNoneMatch] == etag {
                conditional.withLock { $0 += 1 }
                _ = notModified.withLock { $0.insert(target) }
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            return Response(status: .ok, headers: [.contentType: "application/json", .eTag: etag], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("**") { request, _ in try await answer(request) }
        router.post("**") { request, _ in try await answer(request) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

@Suite(.serialized) struct RegistryCrawlerTests {
    static let purls = [
        "pkg:cargo/serde", "pkg:npm/%40npmcli/arborist", "pkg:pypi/requests", "pkg:pub/stellar_flutter_sdk", "pkg:pub/tiny_package",
        "pkg:composer/soneso/stellar-php-sdk", "pkg:composer/example/dev-only-pkg", "pkg:pypi/stellar-sdk",
    ]

    /// A crawl through paging, a 429, a 500 and a hang builds the graph `strata ingest registry`
    /// builds from the same responses; a second crawl, everything unchanged, gets 304s and appends
    /// nothing.
    @Test func aCrawlEqualsTheIngestAndARecrawlAppendsNothing() async throws {
        let directory = TestEnvironment.sharedData.appendingPathComponent("atlas/registry")
        let fake = FakeRegistries(directory: directory)
        fake.faults.withLock {
            $0["/pypi/requests/json"] = "429"
            $0["/api/v1/crates/serde"] = "500"
            $0["/packages/soneso/stellar-php-sdk.json"] = "hang"
        }
        // What `strata ingest registry` makes of the same files, one package's files at a time.
        let ingested = try await TestEnvironment.withStrata { strata -> [String: String] in
            let ingest = AtlasIngest(schemas: strata.schemas)
            for group in AtlasIngest.sampleRegistryGroups {
                try await strata.producer.append(try ingest.registryDrafts(paths: group.map { directory.appendingPathComponent($0).path }))
            }
            try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
            // The packages a crawl of this graph would ask about: packages, not GitHub repositories.
            let inGraph = try await RegistryCrawler.graphPackages(strata.client, logger: TestEnvironment.logger)
            #expect(inGraph.contains("pkg:cargo/serde") && inGraph.contains("pkg:composer/soneso/stellar-php-sdk"), "\(inGraph.prefix(20))")
            #expect(!inGraph.contains { $0.hasPrefix("pkg:github/") })
            return try await DeterminismHarness.dumpAll(strata, [AtlasProjection()])
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await fake.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let bound = try #require(await iterator.next())
                var settings = CrawlSettings()
                settings.timeout = .seconds(1)
                settings.backoff = .milliseconds(50)
                settings.perHostRate = 0
                let client = CrawlClient(http: http, db: strata.client, settings: settings, logger: TestEnvironment.logger)
                let crawler = RegistryCrawler(endpoints: RegistryEndpoints(all: "http://127.0.0.1:\(bound)"), client: client,
                    producer: strata.producer, db: strata.client, logger: TestEnvironment.logger)
                let first = try await crawler.crawl(Self.purls)
                #expect(first.failures.isEmpty, "\(first)")
                #expect(first.found == Self.purls.count, "\(first)")
                #expect(first.appended > 0)
                #expect(fake.faults.withLock { $0.isEmpty }, "every fault was hit")
                let requests = fake.requests.withLock { $0 }
                #expect(requests.filter { $0 == "/pypi/requests/json" }.count == 2, "the 429 was retried")
                #expect(requests.contains("/api/v1/crates/serde/reverse_dependencies?per_page=100&page=2"), "the second page was asked for")
                try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
                let crawled = try await DeterminismHarness.dumpAll(strata, [AtlasProjection()])
                #expect(crawled.keys.sorted() == ingested.keys.sorted())
                let vertices = (try? JSONParser.parse(Array((ingested["atlas.vertices"] ?? "[]").utf8)))?.arrayValue?.count ?? 0
                #expect(vertices > 30, "the registry responses make a graph: \(vertices) vertices")
                for table in ingested.keys.sorted() {
                    #expect(crawled[table] == ingested[table], "\(table) differs:\ncrawl: \(crawled[table]?.prefix(1500) ?? "")\ningest: \(ingested[table]?.prefix(1500) ?? "")")
                }

                // Each observation says where and when it was fetched.
                let serde = try await strata.log.read(topic: "registry", partition: Partitioner.partition(forKey: "pkg:cargo/serde", partitions: 2),
                    from: 0, limit: 100).first { $0.key == "pkg:cargo/serde" }
                #expect(serde?.headers["strata-crawl-source"]?.contains("/api/v1/crates/serde/1.0.228/dependencies") == true, "\(serde?.headers ?? [:])")
                #expect(serde?.headers["strata-crawl-fetched-at"].flatMap(RFC3339.parse) != nil)
                let ends = try await strata.log.endOffsets(topic: "registry")
                let second = try await crawler.crawl(Self.purls)
                #expect(second.appended == 0, "\(second)")
                #expect(second.unchanged == Self.purls.count, "\(second)")
                #expect(second.notModified > 0 && fake.notModified.withLock { $0.count } == second.notModified, "\(second)")
                #expect(try await strata.log.endOffsets(topic: "registry") == ends)
                group.cancelAll()
            }
        }
    }
}

/// OpenGrants on loopback: the recorded listings, the projects' cut into pages of 100 as the API
/// pages them (`limit`/`offset`, `pagination.hasNext`), each answer with an ETag.
final class FakeOpenGrants: Sendable {
    let directory: URL
    let conditional = Mutex(0)
    init(directory: URL) { self.directory = directory }

    func page(_ path: String, query: [String: String]) throws -> [UInt8]? {
        func file(_ name: String) throws -> [UInt8]? { FileManager.default.contents(atPath: directory.appendingPathComponent(name).path).map(Array.init) }
        switch path {
        case "/projects":
            guard let bytes = try file("opengrants_projects.json.gz") else { return nil }
            let whole = try JSONParser.parse(try Gunzip.decompress(bytes, source: "projects"))
            let all = whole["data"]?.arrayValue ?? []
            let limit = Int(query["limit"] ?? "100") ?? 100
            let offset = Int(query["offset"] ?? "0") ?? 0
            var object = whole.objectValue ?? [:]
            object["data"] = .array(Array(all.dropFirst(offset).prefix(limit)))
            object["pagination"] = ["totalCount": .int(all.count), "limit": .int(limit), "offset": .int(offset),
                                    "currentPage": .int(offset / limit + 1), "hasNext": .bool(offset + limit < all.count)]
            return Array(JSONWriter.string(.object(object)).utf8)
        case "/pools": return try file("opengrants_pools.json.gz")
        case "/applications/1": return try file("opengrants_applications_round1.json")
        case "/applications/30": return try file("opengrants_applications_round30.json.gz")
        case "/applications/39": return try file("opengrants_applications_round39.json.gz")
        case "/applications/48": return try file("opengrants_applications_round48.json")
        default: return nil
        }
    }

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { _, b in b })
            guard let bytes = try self.page(request.uri.path, query: query) else { return Response(status: .notFound) }
            let etag = "\"" + SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined() + "\""
            if request.headers[.ifNoneMatch] == etag {
                self.conditional.withLock { $0 += 1 }
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            return Response(status: .ok, headers: [.eTag: etag], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

@Suite(.serialized) struct GrantsCrawlerTests {
    /// A crawl of the listings (the projects' over 7 pages) builds what `strata ingest grants` builds
    /// from the same files; a second crawl gets 304s and appends nothing.
    @Test func aCrawlEqualsTheIngestAndARecrawlAppendsNothing() async throws {
        let directory = TestEnvironment.sharedData.appendingPathComponent("atlas/opengrants")
        let ingested = try await TestEnvironment.withStrata { strata -> [String: String] in
            try await strata.producer.append(try AtlasIngest(schemas: strata.schemas).grantDrafts(paths: [directory.path]))
            try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
            return try await DeterminismHarness.dumpAll(strata, [AtlasProjection()])
        }
        let fake = FakeOpenGrants(directory: directory)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await fake.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let base = "http://127.0.0.1:\(try #require(await iterator.next()))"
                var settings = CrawlSettings()
                settings.perHostRate = 0
                let crawler = GrantsCrawler(client: CrawlClient(http: http, db: strata.client, settings: settings, logger: TestEnvironment.logger),
                    producer: strata.producer, logger: TestEnvironment.logger)
                let listings = ["\(base)/projects?limit=100", "\(base)/pools"] + [1, 30, 39, 48].map { "\(base)/applications/\($0)" }
                let first = try await crawler.crawl(listings)
                #expect(first.pages == 7 + 5, "\(first)")
                #expect(first.appended > 600, "\(first)")
                try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
                let crawled = try await DeterminismHarness.dumpAll(strata, [AtlasProjection()])
                let projects = (try? JSONParser.parse(Array((ingested["atlas.projects"] ?? "[]").utf8)))?.arrayValue?.count ?? 0
                #expect(projects > 500, "the listings make projects: \(projects)")
                // graph_state counts the events applied: the projects listing gives one project
                // (wellspring) twice; the ingest appends both versions, the crawl only the last,
                // which is the one both graphs end with.
                for table in ingested.keys.sorted() where table != "atlas.graph_state" {
                    #expect(crawled[table] == ingested[table], "\(table) differs")
                }
                let ends = try await strata.log.endOffsets(topic: "grants")
                let second = try await crawler.crawl(listings)
                #expect(second.appended == 0 && second.notModified == second.pages, "\(second)")
                #expect(fake.conditional.withLock { $0 } == second.pages)
                #expect(try await strata.log.endOffsets(topic: "grants") == ends)
                group.cancelAll()
            }
        }
    }
}

/// GitHub's API on loopback: a repository (its metadata shaped as GitHub documents it), its
/// dependency-graph SBOM (the recorded export), two pages of commits linked by `Link: rel="next"`,
/// ETags; the first request is refused with GitHub's rate-limit headers.
final class FakeGitHub: Sendable {
    let authorizations = Mutex<[String]>([])
    let rateLimited = Mutex(false)
    let sbom: URL
    init(sbom: URL) { self.sbom = sbom }

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        let base = Mutex("")
        router.get("**") { request, _ -> Response in
            self.authorizations.withLock { $0.append(request.headers[.authorization] ?? "") }
            if !self.rateLimited.withLock({ let was = $0; $0 = true; return was }) {
                return Response(status: .forbidden, headers: [HTTPField.Name("x-ratelimit-remaining")!: "0",
                    HTTPField.Name("x-ratelimit-reset")!: String(Int(Date().timeIntervalSince1970) + 1)])
            }
            let path = request.uri.path
            let page = request.uri.queryParameters["page"].map(String.init) ?? "1"
            var link: String?
            let body: String
            switch path {
            case "/repos/withObsrvr/nebu":
                body = #"{"full_name": "withObsrvr/nebu", "stargazers_count": 42, "forks_count": 7, "archived": false, "pushed_at": "2026-11-30T10:00:00Z", "default_branch": "main"}"#
            case "/repos/withObsrvr/nebu/dependency-graph/sbom":
                body = try String(contentsOf: self.sbom, encoding: .utf8)
            case "/repos/withObsrvr/nebu/commits":
                func commit(_ n: Int, _ name: String, _ email: String) -> String {
                    #"{"sha": "\#(String(format: "%040x", n))", "commit": {"author": {"name": "\#(name)", "email": "\#(email)", "date": "2026-1\#(n % 2)-0\#(n % 9 + 1)T12:00:00Z"}}}"#
                }
                if page == "1" {
                    body = "[" + (1...3).map { commit($0, "Dana", "dana@example.com") }.joined(separator: ",") + "]"
                    link = "<\(base.withLock { $0 })\(path)?per_page=100&page=2>; rel=\"next\", <\(base.withLock { $0 })\(path)?per_page=100&page=2>; rel=\"last\""
                } else {
                    body = "[" + [commit(4, "Eve", "eve@example.com"), commit(5, "dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")]
                        .joined(separator: ",") + "]"
                }
            default:
                return Response(status: .notFound)
            }
            let etag = "\"" + SHA256.hash(data: Array(body.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined() + "\""
            if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
            var headers: HTTPFields = [.eTag: etag, .contentType: "application/json"]
            if let link { headers[HTTPField.Name("Link")!] = link }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                base.withLock { $0 = "http://127.0.0.1:\(channel.localAddress?.port ?? 0)" }
                await port(channel.localAddress?.port ?? 0)
            })
        try await app.runService()
    }
}

@Suite(.serialized) struct GitHubCrawlerTests {
    /// Metadata, the SBOM export and commits (paged, bots left out) reach the graph; a token goes
    /// to the API host only; the rate limit is waited out; a recrawl appends nothing.
    @Test func repositoriesSBOMsAndCommitsFromGitHub() async throws {
        let fake = FakeGitHub(sbom: TestEnvironment.sharedData.appendingPathComponent("atlas/sbom/spdx-2.3/github_dep_graph.spdx.json"))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections([AtlasProjection()])
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await fake.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let base = "http://127.0.0.1:\(try #require(await iterator.next()))"
                var settings = CrawlSettings()
                settings.perHostRate = 0
                settings.githubToken = "t0k3n"
                settings.githubTokenHosts = ["127.0.0.1"]
                var crawler = GitHubCrawler(client: CrawlClient(http: http, db: strata.client, settings: settings, logger: TestEnvironment.logger),
                    producer: strata.producer, schemas: strata.schemas, logger: TestEnvironment.logger,
                    now: { RFC3339.parse("2026-12-01T00:00:00Z")! })
                crawler.base = base
                crawler.commits = true
                let started = ContinuousClock.now
                let first = try await crawler.crawl(["withObsrvr/nebu", "ghost/none"])
                #expect(ContinuousClock.now - started >= .milliseconds(500), "the rate limit was waited out")
                #expect(first.found == 1 && first.failures.isEmpty, "\(first)")
                #expect(first.appended == 3, "metadata, SBOM, commits: \(first)")
                #expect(fake.authorizations.withLock { $0 }.allSatisfy { $0 == "Bearer t0k3n" })
                try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
                let rows = try await strata.client.query("""
                    SELECT adoption_stars, adoption_forks, has_sbom, latest_commit_date IS NOT NULL FROM atlas.vertices WHERE canonical_id = 'pkg:github/withObsrvr/nebu'
                    """).decode((Int64?, Int64?, Bool, Bool).self)
                var seen = false
                for try await (stars, forks, sbom, commits) in rows {
                    seen = true
                    #expect(stars == 42 && forks == 7 && sbom && commits)
                }
                #expect(seen)
                let contributors = try await strata.client.query("SELECT count(*)::int FROM atlas.contributors").decode(Int.self)
                for try await n in contributors { #expect(n == 2, "Dana and Eve; the bot left out") }
                // The SBOM's packages are repositories too; nebu has commits now, so a default
                // `--commits` crawl leaves it to its clone or webhook.
                let withoutCommits = try await GitHubCrawler.repositoriesWithoutCommits(strata.client, logger: TestEnvironment.logger)
                #expect(!withoutCommits.contains("withObsrvr/nebu"))
                #expect(try await GitHubCrawler.graphRepositories(strata.client, logger: TestEnvironment.logger).contains("withObsrvr/nebu"))
                let second = try await crawler.crawl(["withObsrvr/nebu"])
                #expect(second.appended == 0 && second.notModified == second.requests, "\(second)")
                group.cancelAll()
            }
        }
    }
}
