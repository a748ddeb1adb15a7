import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataCrawl

/// Crawls GitHub for the graph's repositories: repository metadata (stars, forks, archived,
/// pushed_at, default branch) as `registry.repository.observed`, the dependency-graph SBOM export as
/// `sbom.submitted`, and, when asked, commits (for repositories without a local clone) as
/// `git.commits.observed` — the events `strata ingest sbom` / `ingest git` and webhooks make.
/// Requests carry `GITHUB_TOKEN` when set; GitHub's rate-limit headers are honoured by the client.
public struct GitHubCrawler: Sendable {
    public var base = "https://api.github.com"
    /// Also crawl commits (the last `commitMonths` months, 100 per page, following `Link: next`).
    public var commits = false
    /// With `commits`, only for these repositories (nil: every one crawled).
    public var commitsFor: Set<String>?
    public var commitMonths = 24
    public var maximumCommitPages = 50
    let client: CrawlClient
    let producer: EventProducer
    let schemas: SchemaCatalog
    let logger: Logger
    let now: @Sendable () -> Date

    public init(client: CrawlClient, producer: EventProducer, schemas: SchemaCatalog, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.producer = producer
        self.schemas = schemas
        self.logger = logger
        self.now = now
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var repositories = 0
        public var found = 0
        public var requests = 0
        public var notModified = 0
        public var appended = 0
        public var failures: [String] = []
        public var description: String {
            "\(repositories) repositories (\(found) found): \(requests) requests, \(notModified) not modified; \(appended) events appended"
                + (failures.isEmpty ? "" : "; \(failures.count) failed: \(failures.prefix(5).joined(separator: "; "))")
        }
    }

    /// The GitHub repositories of the Atlas graph, as OWNER/REPO.
    public static func graphRepositories(_ db: PostgresClient, logger: Logger) async throws -> [String] {
        var repos: [String] = []
        for try await id in try await db.query("""
            SELECT canonical_id FROM atlas.vertices WHERE canonical_id LIKE 'pkg:github/%' ORDER BY canonical_id
            """, logger: logger).decode(String.self)
        {
            repos.append(String(id.dropFirst("pkg:github/".count)))
        }
        return repos
    }

    /// The graph's GitHub repositories without any commit yet (no local clone was ingested, no push
    /// webhook came): those whose commits a crawl should fetch.
    public static func repositoriesWithoutCommits(_ db: PostgresClient, logger: Logger) async throws -> [String] {
        var repos: [String] = []
        for try await id in try await db.query("""
            SELECT canonical_id FROM atlas.vertices WHERE canonical_id LIKE 'pkg:github/%' AND latest_commit_date IS NULL ORDER BY canonical_id
            """, logger: logger).decode(String.self)
        {
            repos.append(String(id.dropFirst("pkg:github/".count)))
        }
        return repos
    }

    public func crawl(_ repositories: [String]) async throws -> Report {
        try await client.prepare()
        var report = Report()
        report.repositories = repositories.count
        for repo in repositories {
            guard repo.split(separator: "/").count == 2 else {
                report.failures.append("\(repo): not OWNER/REPO")
                continue
            }
            do {
                try await crawl(repo, &report)
            } catch {
                report.failures.append("\(repo): \(error)")
            }
        }
        return report
    }

    func crawl(_ repo: String, _ report: inout Report) async throws {
        let meta = try await client.fetch("\(base)/repos/\(repo)")
        report.requests += 1
        guard meta.status == 200 || meta.status == 304 else {
            if meta.status != 404 { report.failures.append("\(repo): HTTP \(meta.status) for the repository") }
            return
        }
        report.found += 1
        if meta.notModified {
            report.notModified += 1
        } else {
            let value = try JSONParser.parse(meta.body)
            var payload: [String: JSONValue] = ["repository_url": .string("https://github.com/\(value["full_name"]?.stringValue ?? repo)")]
            if let n = value["stargazers_count"]?.intValue { payload["stars"] = .int(n) }
            if let n = value["forks_count"]?.intValue { payload["forks"] = .int(n) }
            if let b = value["archived"]?.boolValue { payload["archived"] = .bool(b) }
            payload["pushed_at"] = value["pushed_at"]?.stringValue.map(JSONValue.string) ?? .null
            payload["default_branch"] = value["default_branch"]?.stringValue.map(JSONValue.string) ?? .null
            let draft = EventDraft(topic: AtlasEvents.registryTopic, key: payload["repository_url"]!.stringValue!, type: AtlasEvents.repositoryObserved,
                source: "crawl:github", payload: .object(payload), location: InputLocation(source: meta.url))
            report.appended += try await client.appendChanged(CrawlClient.stamp([draft], sources: [meta.url]), producer: producer)
        }

        let sbom = try await client.fetch("\(base)/repos/\(repo)/dependency-graph/sbom")
        report.requests += 1
        if sbom.status == 200 {
            let draft = try AtlasIngest(schemas: schemas).sbomDraft(sbom.body, source: sbom.url, repository: repo, submittedBy: "crawl:github")
            report.appended += try await producer.append(CrawlClient.stamp([draft], sources: [sbom.url])).filter { !$0.duplicate }.count
        } else if sbom.notModified {
            report.notModified += 1
        }

        guard commits, commitsFor?.contains(repo) ?? true else { return }
        let since = RFC3339.format(Calendar(identifier: .gregorian).date(byAdding: .month, value: -commitMonths, to: now()) ?? now())
        var url: String? = "\(base)/repos/\(repo)/commits?per_page=100&since=\(since)"
        var found: [AtlasIngest.Commit] = []
        var changed = false
        var pages = 0
        while let current = url, pages < maximumCommitPages {
            let page = try await client.fetch(current)
            report.requests += 1
            pages += 1
            guard page.status == 200 || page.status == 304 else { break }
            if page.notModified { report.notModified += 1 } else { changed = true }
            for c in (try JSONParser.parse(page.body)).arrayValue ?? [] {
                guard let sha = c["sha"]?.stringValue, let author = c["commit"]?["author"], let email = author["email"]?.stringValue, !email.isEmpty,
                    let date = author["date"]?.stringValue.flatMap(RFC3339.parse)
                else { continue }
                let name = author["name"]?.stringValue ?? ""
                if AtlasIngest.isBot(name: name, email: email) || c["author"]?["type"]?.stringValue == "Bot" { continue }
                found.append(AtlasIngest.Commit(sha: sha.lowercased(), authorName: name, emailHash: AtlasIngest.emailHash(email), authoredAt: date))
            }
            url = page.next
        }
        if changed && !found.isEmpty {
            report.appended += try await producer.append(CrawlClient.stamp(AtlasIngest.commitDrafts(found, repository: repo, source: "github-api"),
                sources: ["\(base)/repos/\(repo)/commits"])).filter { !$0.duplicate }.count
        }
    }
}
