import Foundation
import Logging
import Metrics
import PostgresNIO
import StrataATProto
import StrataCore
import StrataPostgres
import StrataCrawl

/// Backfills a PDS: `com.atproto.server.describeServer` confirms the host, `com.atproto.sync.listRepos`
/// (paged) lists its accounts with their revisions and status, and `com.atproto.sync.getRepo`
/// fetches every active repository whose revision the index does not already hold. Each export is
/// verified whole (blocks, MST, commit, optionally the signature against the DID document) and its
/// records of the configured collections appended in one batch, so a crash never leaves half a
/// repository; a repository that fails verification is reported and left as it was.
public struct RepoCrawler: Sendable {
    public struct Settings: Sendable {
        /// Collection prefixes to index (`io.atcr.` matches `io.atcr.manifest`); `*` for all.
        public var collections = ["io.atcr."]
        /// Repositories fetched at once per host.
        public var concurrency = 4
        /// Check each commit's signature against the key in the account's DID document.
        public var verifySignatures = true
        /// Accept high-S signatures (repositories signed before atproto required low-S).
        public var allowHighS = false
        /// Where did:plc documents are resolved.
        public var plcURL = "https://plc.directory"
        /// Pages of listRepos followed at most (1000 accounts each).
        public var maximumPages = 100_000

        public init() {}

        public func wants(_ collection: String) -> Bool {
            collections.contains { $0 == "*" || collection.hasPrefix($0) || collection == $0 }
        }
    }

    /// What a host's crawl did.
    public struct Report: Sendable, CustomStringConvertible {
        public var host: String
        public var listed = 0
        public var fetched = 0
        public var unchanged = 0
        public var inactive = 0
        public var records = 0
        public var appended = 0
        public var failures: [(did: String, error: String)] = []

        public var description: String {
            "\(host): \(listed) repositories listed, \(fetched) fetched (\(records) records kept), \(unchanged) unchanged, \(inactive) inactive, "
                + "\(failures.count) failed, \(appended) events appended"
                + failures.prefix(5).map { "\n  \($0.did): \($0.error)" }.joined()
        }
    }

    let client: CrawlClient
    let producer: EventProducer
    let db: PostgresClient
    let settings: Settings
    let logger: Logger

    public init(client: CrawlClient, producer: EventProducer, db: PostgresClient, settings: Settings = Settings(), logger: Logger) {
        self.client = client
        self.producer = producer
        self.db = db
        self.settings = settings
        self.logger = logger
    }

    /// The base URL of a host: `https://HOST`, or `http://` for `localhost:PORT` (a development PDS).
    public static func baseURL(_ host: String) -> String {
        host.hasPrefix("localhost:") || host == "localhost" ? "http://\(host)" : "https://\(host)"
    }

    func json(_ url: String) async throws -> JSONValue {
        let fetched = try await client.fetch(url, cache: false)
        guard fetched.status == 200 else {
            let detail = (try? JSONParser.parse(fetched.body)).flatMap { $0["message"]?.stringValue ?? $0["error"]?.stringValue } ?? ""
            throw StrataError(.backend, "\(url): HTTP \(fetched.status) \(detail)")
        }
        do { return try JSONParser.parse(fetched.body) } catch { throw StrataError(.backend, "\(url): the answer is not JSON: \(error)") }
    }

    /// `fetched` is told each repository appended, with its revision.
    public func crawl(host: String, progress: @Sendable (Report) -> Void = { _ in }, fetched: @Sendable (String, String) -> Void = { _, _ in }) async throws -> Report {
        let base = Self.baseURL(host)
        var report = Report(host: host)
        let server = try await json("\(base)/xrpc/com.atproto.server.describeServer")
        guard let serverDID = server["did"]?.stringValue, Syntax.isValidDID(serverDID) else {
            throw StrataError(.backend, "\(host) is not a PDS: describeServer has no DID")
        }
        // Every account, with its revision and status.
        var accounts: [(did: String, rev: String, active: Bool, status: String?)] = []
        var cursor: String?
        var pages = 0
        repeat {
            pages += 1
            guard pages <= settings.maximumPages else { throw StrataError(.backend, "\(host): listRepos did not end after \(settings.maximumPages) pages") }
            let query = cursor.map { "&cursor=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
            let page = try await json("\(base)/xrpc/com.atproto.sync.listRepos?limit=1000\(query)")
            for repo in page["repos"]?.arrayValue ?? [] {
                guard let did = repo["did"]?.stringValue, Syntax.isValidDID(did) else {
                    report.failures.append((did: repo["did"]?.stringValue ?? "?", error: "listRepos named an invalid DID"))
                    continue
                }
                accounts.append((did, repo["rev"]?.stringValue ?? "", repo["active"]?.boolValue ?? true, repo["status"]?.stringValue))
            }
            let next = page["cursor"]?.stringValue
            guard next == nil || next != cursor else { throw StrataError(.backend, "\(host): listRepos returned the same cursor twice") }
            cursor = next
        } while cursor != nil
        report.listed = accounts.count
        Gauge(label: "strata_atproto_crawl_listed", dimensions: [("host", host)]).record(accounts.count)
        let known = try await indexedRevisions(accounts.map(\.did))

        // Status changes the index does not hold yet: an account gone inactive (no export is
        // fetched), or back to active at a revision already indexed. Each transition is its own
        // event (the marker carries the time), so an account may flip back and forth.
        var statuses: [EventDraft] = []
        let now = Int64(Date().timeIntervalSince1970)
        for account in accounts {
            if !account.active { report.inactive += 1 }
            let indexed = known[account.did]
            let changed = account.active ? indexed?.active == false : indexed?.active != false
            guard changed else { continue }
            statuses.append(ATProtoEvents.statusDraft(did: account.did, active: account.active, status: account.active ? nil : account.status ?? "inactive",
                seq: nil, host: host, source: "crawl:\(host)", marker: "\(account.rev)@\(now)"))
        }
        if !statuses.isEmpty { report.appended += try await producer.append(statuses).filter { !$0.duplicate }.count }

        let todo = accounts.filter { $0.active && !($0.rev.isEmpty == false && known[$0.did]?.rev == $0.rev) }
        report.unchanged = accounts.count - report.inactive - todo.count
        progress(report)
        try await withThrowingTaskGroup(of: (String, Result<(records: Int, appended: Int, rev: String), any Error>).self) { group in
            var next = 0
            func start() {
                guard next < todo.count else { return }
                let account = todo[next]
                next += 1
                group.addTask {
                    do { return (account.did, .success(try await self.fetchRepo(account.did, base: base, host: host))) } catch { return (account.did, .failure(error)) }
                }
            }
            for _ in 0..<max(1, settings.concurrency) { start() }
            while let (did, outcome) = try await group.next() {
                switch outcome {
                case .success(let counts):
                    fetched(did, counts.rev)
                    report.fetched += 1
                    report.records += counts.records
                    report.appended += counts.appended
                    Counter(label: "strata_atproto_crawl_repos_total", dimensions: [("host", host), ("outcome", "fetched")]).increment()
                case .failure(let error):
                    report.failures.append((did, "\(error)"))
                    Counter(label: "strata_atproto_crawl_repos_total", dimensions: [("host", host), ("outcome", "failed")]).increment()
                    logger.warning("repository not indexed", metadata: ["host": "\(host)", "did": "\(did)", "error": "\(error)"])
                }
                progress(report)
                start()
            }
        }
        return report
    }

    /// Fetches, verifies and appends one repository.
    func fetchRepo(_ did: String, base: String, host: String) async throws -> (records: Int, appended: Int, rev: String) {
        let url = "\(base)/xrpc/com.atproto.sync.getRepo?did=\(did)"
        let fetched = try await client.fetch(url, cache: false, accept: "application/vnd.ipld.car")
        guard fetched.status == 200 else { throw StrataError(.backend, "getRepo: HTTP \(fetched.status)") }
        let repo: RepositoryExport
        do { repo = try RepositoryExport(car: fetched.body) } catch { throw StrataError(.invalidInput, "the export does not verify: \(error)") }
        guard repo.commit.did == did else { throw StrataError(.invalidInput, "the export is \(repo.commit.did)'s, not \(did)'s") }
        if settings.verifySignatures {
            let document = try await resolve(did)
            guard document["id"]?.stringValue == did else {
                throw StrataError(.invalidInput, "\(did)'s DID document names \(document["id"]?.stringValue ?? "no id")")
            }
            let key = try RepositoryIngest.signingKey(document)
            guard repo.commit.isSigned(by: key, allowHighS: settings.allowHighS) else {
                throw StrataError(.invalidInput, "the commit \(repo.commitCID) is not signed by \(did)'s #atproto key")
            }
        }
        var kept = repo
        kept.records = repo.records.filter { settings.wants($0.collection) }
        var drafts = try ATProtoEvents.drafts(kept, host: host, source: "crawl:\(host)")
        let receipts = try await producer.append(drafts)
        return (kept.records.count, receipts.filter { !$0.duplicate }.count, repo.commit.rev)
    }

    /// The DID document: did:plc from the PLC directory, did:web from the domain's well-known path.
    func resolve(_ did: String) async throws -> JSONValue {
        if did.hasPrefix("did:plc:") { return try await json("\(settings.plcURL)/\(did)") }
        if did.hasPrefix("did:web:") {
            let domain = String(did.dropFirst("did:web:".count)).removingPercentEncoding ?? ""
            guard Syntax.isValidHandle(domain) || domain.hasPrefix("localhost:") else { throw StrataError(.invalidInput, "\(did): not a resolvable did:web") }
            return try await json("\(Self.baseURL(domain))/.well-known/did.json")
        }
        throw StrataError(.invalidInput, "\(did): only did:plc and did:web are resolved")
    }

    /// The hosts listed to crawl (requestCrawl, admin), in name order: none until the index has a view.
    public static func registeredHosts(_ db: PostgresClient, logger: Logger) async throws -> [String] {
        do {
            return try await withDeadline(.seconds(30), "listing the hosts to crawl") {
                var out: [String] = []
                for try await name in try await db.query("SELECT hostname FROM atproto.hosts WHERE state = 'active' ORDER BY hostname", logger: logger)
                    .decode(String.self) { out.append(name) }
                return out
            }
        } catch where PostgresErrors.isMissingView(error) {
            return []
        }
    }

    /// The revisions and account states the index holds (none when it has no view yet).
    func indexedRevisions(_ dids: [String]) async throws -> [String: (rev: String, active: Bool)] {
        guard !dids.isEmpty else { return [:] }
        do {
            return try await withDeadline(.seconds(60), "reading the index's revisions") {
                var out: [String: (rev: String, active: Bool)] = [:]
                for try await (did, rev, active) in try await db.query("SELECT did, rev, active FROM atproto.repos WHERE did = ANY(\(dids))", logger: logger)
                    .decode((String, String, Bool).self) { out[did] = (rev, active) }
                return out
            }
        } catch where PostgresErrors.isMissingView(error) {
            return [:]
        }
    }
}
