import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import PostgresNIO
import StrataCore
import Synchronization

/// How crawlers talk to the services they read.
public struct CrawlSettings: Sendable {
    /// Deadline of one request (headers and body).
    public var timeout: Duration = .seconds(20)
    /// Further tries after a network error, a timeout, a 5xx or a 429.
    public var retries = 4
    /// Before the first retry; doubles each time (a 429's `Retry-After` wins).
    public var backoff: Duration = .milliseconds(500)
    /// The longest a `Retry-After` or a rate-limit reset is waited for; beyond it the request fails.
    public var maximumWait: Duration = .seconds(120)
    /// Requests in flight per host.
    public var perHostConcurrency = 4
    /// Requests started per second per host (0: unlimited).
    public var perHostRate = 10.0
    /// Sent as `Authorization: Bearer` to the hosts in `githubTokenHosts`.
    public var githubToken: String?
    /// GitHub's API host, plus a GitHub Enterprise host when one is crawled.
    public var githubTokenHosts: Set<String> = ["api.github.com"]
    public var userAgent = "strata-crawler (+https://github.com/strata)"
    /// Largest response body kept.
    public var maximumBody = 32 << 20

    public init() {}
}

/// One response, after conditional requests and retries.
public struct Fetched: Sendable {
    public var url: String
    public var status: Int
    public var body: [UInt8]
    /// 304: the resource did not change since the cached copy (which `body` is).
    public var notModified: Bool
    /// The `Link: <...>; rel="next"` page (kept with the cached copy for a 304).
    public var next: String?

    /// The `rel="next"` URL of a `Link` header.
    static func nextLink(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = pieces.first, target.hasPrefix("<"), target.hasSuffix(">"),
                pieces.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == "rel=\"next\"" })
            else { continue }
            return String(target.dropFirst().dropLast())
        }
        return nil
    }
}

/// HTTP for crawlers, through async-http-client: per-host concurrency and request rate, a deadline
/// per request, retries with backoff on network errors, timeouts and 5xx, `429` with `Retry-After`
/// and GitHub's rate-limit headers (`x-ratelimit-remaining: 0` waits for `x-ratelimit-reset`)
/// honoured, and conditional GETs: the `ETag` / `Last-Modified` of every 200 and its body are kept
/// in `strata.http_cache`, sent back as `If-None-Match` / `If-Modified-Since`, and a 304 answers from
/// the cache.
public final class CrawlClient: Sendable {
    let http: HTTPClient
    let db: PostgresClient
    let settings: CrawlSettings
    let logger: Logger
    let hosts = HostGates()
    /// The validators of every cached URL, loaded once by `prepare()` (bodies are read only when a
    /// 304 needs one), so a crawl does not query the cache for each request.
    let validators = Mutex<[String: (etag: String?, lastModified: String?)]?>(nil)

    public init(http: HTTPClient, db: PostgresClient, settings: CrawlSettings, logger: Logger) {
        self.http = http
        self.db = db
        self.settings = settings
        self.logger = logger
    }

    /// Creates the cache tables when missing.
    public func prepare() async throws {
        try await db.query("""
            CREATE TABLE IF NOT EXISTS strata.http_cache (
                url text PRIMARY KEY, etag text, last_modified text, body bytea NOT NULL, fetched_at timestamptz NOT NULL DEFAULT now(), link text
            )
            """, logger: logger)
        try await db.query("CREATE TABLE IF NOT EXISTS strata.crawl_last (key text PRIMARY KEY, digest text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
            logger: logger)
        var loaded: [String: (etag: String?, lastModified: String?)] = [:]
        for try await (url, etag, modified) in try await db.query("SELECT url, etag, last_modified FROM strata.http_cache", logger: logger)
            .decode((String, String?, String?).self) {
            loaded[url] = (etag, modified)
        }
        validators.withLock { $0 = loaded }
    }

    /// The cached validators of `url` (from the preloaded map when `prepare()` ran).
    func validators(_ url: String) async throws -> (etag: String?, lastModified: String?)? {
        if let map = validators.withLock({ $0 }) { return map[url] }
        return try await cached(url).map { ($0.etag, $0.lastModified) }
    }

    /// Where and when a crawled observation came from, as event headers (`strata-crawl-source`:
    /// the URLs, space-separated; `strata-crawl-fetched-at`), outside the payload and its id.
    public static func stamp(_ drafts: [EventDraft], sources: [String], at date: Date = Date()) -> [EventDraft] {
        let source = String(sources.joined(separator: " ").prefix(8000))
        return drafts.map { d in
            var d = d
            d.headers["strata-crawl-source"] = source
            d.headers["strata-crawl-fetched-at"] = RFC3339.format(date)
            return d
        }
    }

    /// Appends the drafts whose content differs from the last observation appended for their
    /// entity (key, and the payload's `id` when it has one: a project's grant applications share
    /// its key), each with an id naming its content and the one before it — so a value that comes
    /// back after a change is appended again, and a repeated crawl is a no-op. Returns how many
    /// were appended.
    public func appendChanged(_ drafts: [EventDraft], producer: EventProducer) async throws -> Int {
        let entities = drafts.map { "\($0.topic) \($0.key)" + ($0.payload["id"]?.stringValue.map { " \($0)" } ?? "") }
        var last: [String: String] = [:]
        for try await (key, digest) in try await db.query(
            "SELECT key, digest FROM strata.crawl_last WHERE key = ANY(\(Array(Set(entities))))", logger: logger
        ).decode((String, String).self) {
            last[key] = digest
        }
        var fresh: [(draft: EventDraft, entity: String, digest: String)] = []
        for (var draft, entity) in zip(drafts, entities) {
            let digest = SHA256.hash(data: Array(JSONWriter.string(draft.payload).utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
            let previous = last[entity]
            if previous == digest { continue }
            if let earlier = fresh.firstIndex(where: { $0.entity == entity }) { fresh.remove(at: earlier) }  // the page's last word wins
            let name = SHA256.hash(data: Array(entity.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
            draft.id = "crawl:\(name):\(digest):after:\(previous ?? "none")"
            fresh.append((draft, entity, digest))
        }
        guard !fresh.isEmpty else { return 0 }
        let receipts = try await producer.append(fresh.map(\.draft))
        try await db.query("""
            INSERT INTO strata.crawl_last (key, digest) SELECT * FROM unnest(\(fresh.map(\.entity)), \(fresh.map(\.digest)))
            ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()
            """, logger: logger)
        return receipts.filter { !$0.duplicate }.count
    }

    struct Cached {
        var etag: String?
        var lastModified: String?
        var body: [UInt8]
        var link: String?
    }

    func cached(_ url: String) async throws -> Cached? {
        for try await (etag, modified, body, link) in try await db.query(
            "SELECT etag, last_modified, body, link FROM strata.http_cache WHERE url = \(url)", logger: logger
        ).decode((String?, String?, ByteBuffer, String?).self) {
            return Cached(etag: etag, lastModified: modified, body: Array(body.readableBytesView), link: link)
        }
        return nil
    }

    /// The cached body of `url`.
    public func cachedBody(_ url: String) async throws -> [UInt8] {
        guard let stored = try await cached(url) else { throw StrataError(.backend, "\(url): the cached copy is gone") }
        return stored.body
    }

    func store(_ url: String, etag: String?, lastModified: String?, body: [UInt8], link: String?) async throws {
        try await db.query("""
            INSERT INTO strata.http_cache (url, etag, last_modified, body, fetched_at, link)
            VALUES (\(url), \(etag), \(lastModified), \(ByteBuffer(bytes: body)), now(), \(link))
            ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, body = EXCLUDED.body, fetched_at = now(),
                link = EXCLUDED.link
            """, logger: logger)
    }

    /// GET (or POST with a JSON `body`, never cached) `url`. 404 and other 4xx come back as their
    /// status; what cannot be fetched after the retries throws, naming the URL and the last problem.
    ///
    /// With `bodyOn304: false` a 304 comes back with an empty body (read it with `cachedBody` if it
    /// turns out to be needed), sparing a cache read per unchanged resource.
    /// `cache: false` sends no validators and stores nothing (a repository export, fetched when its
    /// revision moved, is not worth keeping twice); `accept` is the Accept header.
    public func fetch(_ url: String, post body: [UInt8]? = nil, bodyOn304: Bool = true, cache useCache: Bool = true,
        accept: String = "application/json") async throws -> Fetched
    {
        guard let host = URL(string: url)?.host else { throw StrataError(.invalidInput, "not a URL: \(url)") }
        let cache = body == nil && useCache ? try await validators(url) : nil
        var attempt = 0
        var lastProblem = ""
        while true {
            if attempt > settings.retries {
                Counter(label: "strata_crawl_failures_total", dimensions: [("host", host)]).increment()
                throw StrataError(.backend, "\(url): gave up after \(attempt) attempts: \(lastProblem)")
            }
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = body == nil ? .GET : .POST
            request.headers.add(name: "User-Agent", value: settings.userAgent)
            request.headers.add(name: "Accept", value: accept)
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            if let etag = cache?.etag { request.headers.add(name: "If-None-Match", value: etag) }
            if let modified = cache?.lastModified { request.headers.add(name: "If-Modified-Since", value: modified) }
            if let token = settings.githubToken, settings.githubTokenHosts.contains(host) {
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            }
            let outcome: (status: Int, headers: HTTPHeaders, body: [UInt8])
            let prepared = request
            do {
                outcome = try await hosts.gate(host, concurrency: settings.perHostConcurrency, rate: settings.perHostRate) {
                    let deadline = NIODeadline.now() + .milliseconds(Int64(self.settings.timeout / .milliseconds(1)))
                    let response = try await self.http.execute(prepared, deadline: deadline)
                    let bytes = try await response.body.collect(upTo: self.settings.maximumBody)
                    return (Int(response.status.code), response.headers, Array(bytes.readableBytesView))
                }
            } catch {
                lastProblem = "\(error)"
                logger.warning("crawl request failed; retrying", metadata: ["url": "\(url)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: backoff(attempt))
                continue
            }
            Counter(label: "strata_crawl_requests_total", dimensions: [("host", host), ("status", String(outcome.status))]).increment()
            switch outcome.status {
            case 304:
                guard cache != nil else {
                    lastProblem = "304 Not Modified without a cached copy"
                    continue
                }
                if !bodyOn304 { return Fetched(url: url, status: 304, body: [], notModified: true) }
                guard let stored = try await cached(url) else {
                    lastProblem = "304 Not Modified, and the cached copy is gone"
                    continue
                }
                return Fetched(url: url, status: 304, body: stored.body, notModified: true, next: Fetched.nextLink(stored.link))
            case 200..<300:
                let link = outcome.headers.first(name: "Link")
                if body == nil && useCache {
                    let (etag, modified) = (outcome.headers.first(name: "ETag"), outcome.headers.first(name: "Last-Modified"))
                    try await store(url, etag: etag, lastModified: modified, body: outcome.body, link: link)
                    validators.withLock { map in if map != nil { map![url] = (etag, modified) } }
                }
                return Fetched(url: url, status: outcome.status, body: outcome.body, notModified: false, next: Fetched.nextLink(link))
            case 429, 403 where outcome.headers.first(name: "x-ratelimit-remaining") == "0":
                let wait = Self.wait(outcome.headers, fallback: backoff(attempt))
                guard wait <= settings.maximumWait else {
                    throw StrataError(.backend, "\(url): rate limited (\(outcome.status)) for \(wait), longer than the \(settings.maximumWait) allowed")
                }
                lastProblem = "HTTP \(outcome.status) (rate limited)"
                logger.notice("rate limited; waiting", metadata: ["url": "\(url)", "wait": "\(wait)"])
                try await Task.sleep(for: wait)
            case 500..<600:
                lastProblem = "HTTP \(outcome.status)"
                logger.warning("crawl request failed; retrying", metadata: ["url": "\(url)", "attempt": "\(attempt)", "status": "\(outcome.status)"])
                try await Task.sleep(for: backoff(attempt))
            default:
                return Fetched(url: url, status: outcome.status, body: outcome.body, notModified: false)
            }
        }
    }

    func backoff(_ attempt: Int) -> Duration {
        settings.backoff * Int(pow(2, Double(min(attempt - 1, 10))))
    }

    /// `Retry-After` (seconds or an HTTP date), else GitHub's `x-ratelimit-reset` (epoch seconds).
    /// A server's number is clamped to a day (and NaN or infinity ignored), so no header can trap.
    static func wait(_ headers: HTTPHeaders, fallback: Duration, now: Date = Date()) -> Duration {
        func seconds(_ s: Double) -> Duration? {
            s.isFinite ? .milliseconds(Int64(min(max(0, s), 86400) * 1000)) : nil
        }
        if let value = headers.first(name: "Retry-After") {
            if let wait = Double(value.trimmingCharacters(in: .whitespaces)).flatMap(seconds) { return wait }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let wait = formatter.date(from: value).flatMap({ seconds($0.timeIntervalSince(now)) }) { return wait }
        }
        if let wait = headers.first(name: "x-ratelimit-reset").flatMap(Double.init).flatMap({ seconds($0 - now.timeIntervalSince1970 + 1) }) {
            return wait
        }
        return fallback
    }
}

/// Per-host limits: at most `concurrency` requests in flight, started at most `rate` per second.
actor HostGates {
    struct Gate {
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var nextStart = ContinuousClock.now
    }
    var gates: [String: Gate] = [:]

    func gate<T: Sendable>(_ host: String, concurrency: Int, rate: Double, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(host, concurrency: concurrency)
        defer { release(host) }
        if rate > 0 {
            let start = reserve(host, interval: .milliseconds(Int64(1000 / rate)))
            if start > .now { try await Task.sleep(until: start, clock: .continuous) }
        }
        return try await body()
    }

    private func acquire(_ host: String, concurrency: Int) async {
        if gates[host, default: Gate()].inFlight < max(1, concurrency) {
            gates[host, default: Gate()].inFlight += 1
            return
        }
        await withCheckedContinuation { continuation in gates[host, default: Gate()].waiters.append(continuation) }
    }

    private func release(_ host: String) {
        if gates[host]?.waiters.isEmpty == false {
            gates[host]!.waiters.removeFirst().resume()  // the slot passes to the next waiter
        } else {
            gates[host]?.inFlight -= 1
        }
    }

    private func reserve(_ host: String, interval: Duration) -> ContinuousClock.Instant {
        let start = max(gates[host, default: Gate()].nextStart, .now)
        gates[host]!.nextStart = start + interval
        return start
    }
}
