import Foundation
import Logging
import StrataCore
import StrataCrawl

/// Crawls OpenGrants (DAOIP-5) listings — projects, grant pools, applications — following their
/// pagination, and appends the items as the `grants.*.upserted` events `strata ingest grants` makes
/// from the same pages. Unchanged pages (304) and unchanged items append nothing.
public struct GrantsCrawler: Sendable {
    let client: CrawlClient
    let producer: EventProducer
    let logger: Logger
    /// Pages followed per listing at most.
    public var maximumPages = 1000

    public init(client: CrawlClient, producer: EventProducer, logger: Logger) {
        self.client = client
        self.producer = producer
        self.logger = logger
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var listings = 0
        public var pages = 0
        public var notModified = 0
        public var items = 0
        public var appended = 0
        public var description: String {
            "\(listings) listings: \(pages) pages (\(notModified) not modified), \(items) items, \(appended) events appended"
        }
    }

    /// The next page's URL from a DAOIP-5 `pagination` object (`hasNext`, `limit`, `offset`), nil at the end.
    public static func nextPage(of url: String, pagination: JSONValue?) -> String? {
        guard let p = pagination, p["hasNext"]?.boolValue == true, let limit = p["limit"]?.intValue, limit > 0,
            var components = URLComponents(string: url)
        else { return nil }
        let offset = (p["offset"]?.intValue ?? 0) + limit
        var items = (components.queryItems ?? []).filter { $0.name != "offset" && $0.name != "limit" && $0.name != "page" }
        items.append(URLQueryItem(name: "limit", value: String(limit)))
        items.append(URLQueryItem(name: "offset", value: String(offset)))
        components.queryItems = items
        return components.string
    }

    public func crawl(_ listings: [String]) async throws -> Report {
        try await client.prepare()
        var report = Report()
        report.listings = listings.count
        for listing in listings {
            var url: String? = listing
            var pages = 0
            while let current = url, pages < maximumPages {
                let fetched = try await client.fetch(current)
                pages += 1
                report.pages += 1
                guard fetched.status == 200 || fetched.status == 304 else {
                    throw StrataError(.backend, "\(current): HTTP \(fetched.status)")
                }
                let (drafts, pagination) = try AtlasIngest.grantDrafts(page: fetched.body, source: current, producer: "crawl:grants")
                report.items += drafts.count
                if fetched.notModified {
                    report.notModified += 1
                } else {
                    report.appended += try await client.appendChanged(CrawlClient.stamp(drafts, sources: [current]), producer: producer)
                }
                url = Self.nextPage(of: current, pagination: pagination)
            }
        }
        return report
    }
}
