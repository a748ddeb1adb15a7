import Crypto
import Foundation
import Logging
import PostgresNIO
import StrataAtlasModel
import StrataCore
import StrataCrawl

/// Where each registry is (configurable: a mirror, or a test's fake server).
public struct RegistryEndpoints: Sendable {
    public var crates = "https://crates.io"
    public var npm = "https://registry.npmjs.org"
    public var npmDownloads = "https://api.npmjs.org"
    public var pypi = "https://pypi.org"
    public var pypistats = "https://pypistats.org"
    public var pub = "https://pub.dev"
    public var packagist = "https://packagist.org"
    public var depsdev = "https://api.deps.dev"

    public init() {}

    /// Every endpoint at one base URL (a test server, a caching proxy).
    public init(all base: String) {
        (crates, npm, npmDownloads, pypi, pypistats, pub, packagist, depsdev) = (base, base, base, base, base, base, base, base)
    }

    public static let names = ["crates", "npm", "npm-downloads", "pypi", "pypistats", "pub", "packagist", "depsdev"]

    /// Sets one by name (`crates=https://...`), or every one (`*=https://...`).
    public mutating func set(_ assignment: String) throws {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let url = URL(string: parts[1]), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw StrataError(.invalidConfiguration, "--base-url takes NAME=URL (NAME one of \(Self.names.joined(separator: ", ")), or *), got '\(assignment)'")
        }
        var base = parts[1]
        while base.hasSuffix("/") { base.removeLast() }
        switch parts[0] {
        case "*": self = RegistryEndpoints(all: base)
        case "crates": crates = base
        case "npm": npm = base
        case "npm-downloads": npmDownloads = base
        case "pypi": pypi = base
        case "pypistats": pypistats = base
        case "pub": pub = base
        case "packagist": packagist = base
        case "depsdev": depsdev = base
        default: throw StrataError(.invalidConfiguration, "unknown registry '\(parts[0])' in --base-url (known: \(Self.names.joined(separator: ", ")), *)")
        }
    }
}

/// Crawls package registries for packages of the graph and appends what they say as
/// `registry.package.observed` / `registry.repository.observed` events — the events
/// `strata ingest registry` makes from the same responses. Per package it asks every registry that
/// knows its ecosystem (and deps.dev), skips what answers 404, and parses the answers together.
/// A package whose responses all came back 304 costs only conditional requests and appends nothing;
/// an observation equal to the last one appended for its key is not appended again.
public struct RegistryCrawler: Sendable {
    public var endpoints: RegistryEndpoints
    /// Packages crawled at once.
    public var concurrency = 8
    let client: CrawlClient
    let producer: EventProducer
    let db: PostgresClient
    let logger: Logger

    public init(endpoints: RegistryEndpoints, client: CrawlClient, producer: EventProducer, db: PostgresClient, logger: Logger) {
        self.endpoints = endpoints
        self.client = client
        self.producer = producer
        self.db = db
        self.logger = logger
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var packages = 0
        public var found = 0
        public var unchanged = 0
        public var requests = 0
        public var notModified = 0
        public var appended = 0
        public var failures: [String] = []
        public var description: String {
            "\(packages) packages (\(found) found in a registry, \(unchanged) unchanged): \(requests) requests, \(notModified) not modified; "
                + "\(appended) events appended\(failures.isEmpty ? "" : "; \(failures.count) failed: \(failures.prefix(5).joined(separator: "; "))")"
        }
    }

    /// The external packages of the Atlas graph, as purls.
    public static func graphPackages(_ db: PostgresClient, logger: Logger) async throws -> [String] {
        var purls: [String] = []
        for try await id in try await db.query("""
            SELECT canonical_id FROM atlas.vertices
             WHERE vertex_type <> 'repo' AND canonical_id LIKE 'pkg:%' AND canonical_id NOT LIKE 'pkg:github/%' ORDER BY canonical_id
            """, logger: logger).decode(String.self)
        {
            purls.append(id)
        }
        return purls
    }

    public func crawl(_ purls: [String], progress: (@Sendable (Report) -> Void)? = nil) async throws -> Report {
        try await client.prepare()
        var report = Report()
        report.packages = purls.count
        var repositories: Set<String> = []
        try await withThrowingTaskGroup(of: PackageResult.self) { group in
            var iterator = purls.makeIterator()
            func next() {
                guard let purl = iterator.next() else { return }
                group.addTask { await self.package(purl) }
            }
            for _ in 0..<max(1, concurrency) { next() }
            while let result = try await group.next() {
                report.requests += result.requests
                report.notModified += result.notModified
                if let failure = result.failure { report.failures.append(failure) }
                if result.found { report.found += 1 }
                if result.unchanged { report.unchanged += 1 }
                report.appended += result.appended
                repositories.formUnion(result.repositories)
                progress?(report)
                next()
            }
        }
        // Stars and forks of the packages' GitHub repositories, from deps.dev in batches.
        let ids = repositories.filter { $0.hasPrefix("https://github.com/") }.map { String($0.dropFirst("https://".count)) }.sorted()
        for start in stride(from: 0, to: ids.count, by: 100) {
            let chunk = ids[start..<min(ids.count, start + 100)]
            let body = JSONWriter.string(["requests": .array(chunk.map { ["projectKey": ["id": .string($0)]] })])
            do {
                let fetched = try await client.fetch("\(endpoints.depsdev)/v3alpha/projectbatch", post: Array(body.utf8))
                report.requests += 1
                guard fetched.status == 200 else { continue }
                report.appended += try await append(CrawlClient.stamp(AtlasIngest.registryDrafts(
                    try RegistryParser.observations(from: [(path: "depsdev_projectbatch.json", bytes: fetched.body)]), source: "crawl:registry"),
                    sources: [fetched.url]))
            } catch {
                report.failures.append("deps.dev project batch: \(error)")
            }
        }
        return report
    }

    struct PackageResult: Sendable {
        var requests = 0
        var notModified = 0
        var found = false
        var unchanged = false
        var appended = 0
        var repositories: Set<String> = []
        var failure: String?
    }

    /// The requests for one registry's view of a package; a later request may need an earlier answer.
    struct Step {
        var path: String
        var url: (_ answers: [String: Fetched]) -> String?
    }

    func plans(_ purl: String) -> [[Step]] {
        guard purl.hasPrefix("pkg:"), let slash = purl.firstIndex(of: "/") else { return [] }
        let type = String(purl[purl.index(purl.startIndex, offsetBy: 4)..<slash])
        let rawName = String(purl[purl.index(after: slash)...])
        let name = rawName.removingPercentEncoding ?? rawName
        let e = endpoints
        func path(_ s: String) -> String {
            s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
        }
        func latest(_ answer: Fetched?, _ fields: [[String]]) -> String? {
            guard let answer, let value = try? JSONParser.parse(answer.body) else { return nil }
            for field in fields {
                var v: JSONValue? = value
                for f in field { v = v?[f] }
                if let s = v?.stringValue, !s.isEmpty { return s }
            }
            return nil
        }
        var plans: [[Step]] = []
        switch type {
        case "cargo":
            plans.append([
                Step(path: "crates_package.json") { _ in "\(e.crates)/api/v1/crates/\(path(name))" },
                Step(path: "crates_dependencies.json") { a in
                    latest(a["crates_package.json"], [["crate", "max_stable_version"], ["crate", "max_version"], ["crate", "newest_version"]])
                        .map { "\(e.crates)/api/v1/crates/\(path(name))/\(path($0))/dependencies" }
                },
                Step(path: "crates_reverse_dependencies.json") { _ in "\(e.crates)/api/v1/crates/\(path(name))/reverse_dependencies?per_page=100" },
            ])
        case "npm":
            let encoded = name.hasPrefix("@") ? name.replacingOccurrences(of: "/", with: "%2F") : path(name)
            plans.append([
                Step(path: "npm_package.json") { _ in "\(e.npm)/\(encoded)" },
                Step(path: "npm_downloads.json") { _ in "\(e.npmDownloads)/downloads/point/last-month/\(name)" },
            ])
        case "pypi":
            plans.append([
                Step(path: "pypi_package.json") { _ in "\(e.pypi)/pypi/\(path(name))/json" },
                Step(path: "pypi_stats_recent.json") { _ in "\(e.pypistats)/api/packages/\(path(name))/recent?period=month" },
            ])
        case "pub":
            plans.append([
                Step(path: "pubdev_package.json") { _ in "\(e.pub)/api/packages/\(path(name))" },
                Step(path: "pubdev_metrics.json") { _ in "\(e.pub)/api/packages/\(path(name))/metrics" },
                Step(path: "pubdev_search.json") { _ in "\(e.pub)/api/search?q=dependency:\(path(name))" },
            ])
        case "composer":
            plans.append([
                Step(path: "packagist_package.json") { _ in "\(e.packagist)/packages/\(name).json" },
                Step(path: "packagist_downloads.json") { _ in "\(e.packagist)/packages/\(name)/downloads.json" },
                Step(path: "packagist_dependents.json") { _ in "\(e.packagist)/packages/\(name)/dependents.json" },
            ])
        default: break
        }
        let systems = ["pypi": "PYPI", "npm": "NPM", "cargo": "CARGO", "maven": "MAVEN", "golang": "GO", "gem": "RUBYGEMS", "nuget": "NUGET"]
        if let system = systems[type] {
            let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? name
            plans.append([
                Step(path: "depsdev_package.json") { _ in "\(e.depsdev)/v3/systems/\(system)/packages/\(encoded)" },
                Step(path: "depsdev_requirements.json") { a in
                    latest(a["depsdev_package.json"], [["default_version"], ["defaultVersion"]])
                        .map { "\(e.depsdev)/v3/systems/\(system)/packages/\(encoded)/versions/\(path($0)):requirements" }
                },
            ])
        }
        return plans
    }

    func package(_ purl: String) async -> PackageResult {
        var result = PackageResult()
        let plans = self.plans(purl)
        if plans.isEmpty {
            result.failure = "\(purl): no registry known for this package type"
            return result
        }
        for plan in plans {
            var answers: [String: Fetched] = [:]
            do {
                for step in plan {
                    guard let url = step.url(answers) else { continue }
                    // A later step may need this answer's body (the latest version); the last need not.
                    let needed = step.path == "crates_package.json" || step.path == "depsdev_package.json" || step.path == "crates_reverse_dependencies.json"
                    var fetched = try await client.fetch(url, bodyOn304: needed)
                    result.requests += 1
                    if fetched.notModified { result.notModified += 1 }
                    // The first step is the package itself: not there, nothing else to ask.
                    if fetched.status == 404 && answers.isEmpty { break }
                    guard fetched.status == 200 || fetched.status == 304 else { continue }
                    if step.path == "crates_reverse_dependencies.json" { fetched = try await morePages(of: fetched, &result) }
                    answers[step.path] = fetched
                }
            } catch {
                result.failure = "\(purl): \(error)"
                continue
            }
            guard !answers.isEmpty else { continue }
            result.found = true
            if answers.values.allSatisfy(\.notModified) {
                result.unchanged = true
                continue
            }
            do {
                for (path, answer) in answers where answer.notModified && answer.body.isEmpty {
                    answers[path]?.body = try await client.cachedBody(answer.url)
                }
            } catch {
                result.failure = "\(purl): \(error)"
                continue
            }
            do {
                // Named as `strata ingest registry` expects its files (the name says the registry).
                let parsed = try RegistryParser.observations(from: answers.sorted { $0.key < $1.key }.map { (path: $0.key, bytes: $0.value.body) })
                result.repositories.formUnion(parsed.observations.compactMap(\.repositoryURL))
                result.appended += try await append(CrawlClient.stamp(AtlasIngest.registryDrafts(parsed, source: "crawl:registry"),
                    sources: answers.keys.sorted().compactMap { answers[$0]?.url }))
            } catch {
                result.failure = "\(purl): \(error)"
            }
        }
        return result
    }

    /// crates.io's reverse dependencies come 100 at a time: fetches the rest and merges the pages.
    func morePages(of first: Fetched, _ result: inout PackageResult) async throws -> Fetched {
        guard var value = try? JSONParser.parse(first.body), let total = value["meta"]?["total"]?.intValue,
            var dependencies = value["dependencies"]?.arrayValue, dependencies.count < total
        else { return first }
        var versions = value["versions"]?.arrayValue ?? []
        var merged = first
        var page = 2
        while dependencies.count < total, page <= 100 {
            let next = try await client.fetch(first.url + "&page=\(page)")
            result.requests += 1
            if next.notModified { result.notModified += 1 } else { merged.notModified = false }
            guard next.status == 200 || next.status == 304, let body = try? JSONParser.parse(next.body),
                let more = body["dependencies"]?.arrayValue, !more.isEmpty
            else { break }
            dependencies += more
            versions += body["versions"]?.arrayValue ?? []
            page += 1
        }
        var object = value.objectValue ?? [:]
        object["dependencies"] = .array(dependencies)
        object["versions"] = .array(versions)
        value = .object(object)
        merged.body = Array(JSONWriter.string(value).utf8)
        return merged
    }

    func append(_ drafts: [EventDraft]) async throws -> Int {
        try await client.appendChanged(drafts, producer: producer)
    }
}
