import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import StrataApp
import StrataATProtoIndex
import StrataAtlas
import StrataCore
import StrataCrawl

struct Crawl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Crawl the services the Atlas graph is built from and append what changed.",
        discussion: "Run by hand or as a job (topology/jobs.yaml: strata: [crawl, registries]). See docs/runbook.md#crawling.",
        subcommands: [Registries.self, Grants.self, GitHub.self, ATProto.self])

    /// The crawl settings shared by every crawler's command.
    struct HTTPOptions: ParsableArguments {
        @Option(name: .customLong("per-host-concurrency"), help: "Requests in flight per host.") var perHost = 4
        @Option(name: .customLong("rate"), help: "Requests started per second per host (0: unlimited).") var rate = 10.0
        @Option(help: "Seconds a request may take.") var timeout = 20.0
        @Option(help: "Retries after a network error, a timeout, a 5xx or a 429.") var retries = 4

        func validate() throws {
            guard perHost > 0, rate >= 0, timeout > 0, (0...20).contains(retries) else {
                throw ValidationError("need --per-host-concurrency > 0, --rate >= 0, --timeout > 0 and --retries 0-20")
            }
        }

        var settings: CrawlSettings {
            var settings = CrawlSettings()
            settings.perHostConcurrency = perHost
            settings.perHostRate = rate
            settings.timeout = .milliseconds(Int64(timeout * 1000))
            settings.retries = retries
            settings.githubToken = ProcessInfo.processInfo.environment["GITHUB_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return settings
        }
    }

    /// Runs `body` with a crawl client on this process's database, then shuts the HTTP client down
    /// (also when `body` fails), and prints the report with the time it took.
    static func crawling<R: CustomStringConvertible & Sendable>(
        _ options: GlobalOptions, _ settings: CrawlSettings, _ body: @escaping @Sendable (StrataContext, CrawlClient) async throws -> R
    ) async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await options.run { strata in
                let started = ContinuousClock.now
                let report = try await body(strata, CrawlClient(http: http, db: strata.client, settings: settings, logger: strata.logger))
                printLine("crawled \(report) in \(ContinuousClock.now - started)")
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    struct Registries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "crates.io, npm, PyPI (+ pypistats), pub.dev, Packagist and deps.dev for the graph's external packages.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var http: HTTPOptions
        @Option(name: .customLong("package"), help: "Crawl this purl (repeatable; default: every external package in the graph).")
        var packages: [String] = []
        @Option(name: .customLong("base-url"), help: "NAME=URL: another base URL for a registry (crates, npm, npm-downloads, pypi, pypistats, pub, packagist, depsdev, or * for all).")
        var baseURLs: [String] = []
        @Option(help: "Packages crawled at once.") var concurrency = 8

        func validate() throws {
            guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
        }

        func run() async throws {
            var endpoints = RegistryEndpoints()
            for assignment in baseURLs { try endpoints.set(assignment) }
            let (packages, concurrency, configured) = (self.packages, self.concurrency, endpoints)
            try await Crawl.crawling(options, http.settings) { strata, client in
                var crawler = RegistryCrawler(endpoints: configured, client: client, producer: strata.producer, db: strata.client, logger: strata.logger)
                crawler.concurrency = concurrency
                let purls = packages.isEmpty ? try await RegistryCrawler.graphPackages(strata.client, logger: strata.logger) : packages
                if purls.isEmpty { FileHandle.standardError.write(Data("no external packages in the graph yet (ingest SBOMs first, or name them with --package)\n".utf8)) }
                let report = try await crawler.crawl(purls) { r in
                    let done = r.found + r.failures.count
                    if done > 0 && done % 100 == 0 { FileHandle.standardError.write(Data("  \(done)/\(purls.count) packages...\n".utf8)) }
                }
                if !report.failures.isEmpty && report.found == 0 {
                    throw StrataError(.backend, "every package failed: \(report.failures.prefix(3).joined(separator: "; "))")
                }
                return report
            }
        }
    }

    struct GitHub: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "github",
            abstract: "GitHub repository metadata and dependency-graph SBOMs (and commits with --commits) for the graph's repositories.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var http: HTTPOptions
        @Option(name: .customLong("repository"), help: "Crawl OWNER/REPO (repeatable; default: every GitHub repository in the graph).")
        var repositories: [String] = []
        @Flag(help: "Also crawl commits (24 months) of the repositories that have none in the graph yet (no local clone ingested, no webhook); with --repository, of those named.")
        var commits = false
        @Option(name: .customLong("base-url"), help: "The GitHub API (GitHub Enterprise: https://HOST/api/v3).") var baseURL = "https://api.github.com"

        func run() async throws {
            guard let host = URL(string: baseURL)?.host else { throw ValidationError("--base-url must be a URL") }
            var settings = http.settings
            settings.githubTokenHosts.insert(host)
            let (repositories, commits, base) = (self.repositories, self.commits, self.baseURL)
            try await Crawl.crawling(options, settings) { strata, client in
                var crawler = GitHubCrawler(client: client, producer: strata.producer, schemas: strata.schemas, logger: strata.logger)
                crawler.base = base.hasSuffix("/") ? String(base.dropLast()) : base
                crawler.commits = commits
                let repos = repositories.isEmpty ? try await GitHubCrawler.graphRepositories(strata.client, logger: strata.logger) : repositories
                if commits && repositories.isEmpty {
                    crawler.commitsFor = Set(try await GitHubCrawler.repositoriesWithoutCommits(strata.client, logger: strata.logger))
                }
                return try await crawler.crawl(repos)
            }
        }
    }

    struct Grants: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "OpenGrants (DAOIP-5) listings of projects, grant pools and applications, following their pagination.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var http: HTTPOptions
        @Argument(help: "Listing URLs (each a paginated DAOIP-5 response: {data: [...], pagination: {...}}).") var urls: [String]

        func validate() throws {
            for url in urls {
                guard let u = URL(string: url), u.scheme == "http" || u.scheme == "https", u.host != nil else {
                    throw ValidationError("not an http(s) URL: \(url)")
                }
            }
        }

        func run() async throws {
            let urls = self.urls
            try await Crawl.crawling(options, http.settings) { strata, client in
                try await GrantsCrawler(client: client, producer: strata.producer, logger: strata.logger).crawl(urls)
            }
        }
    }

    struct ATProto: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "atproto",
            abstract: "Backfill ATProto hosts (PDSes): every active repository's export, verified, into the atproto topic.",
            discussion: """
                For each host: describeServer, listRepos (all pages), then getRepo for each active account whose revision the \
                index does not hold yet. Each export is verified whole (blocks, MST, the commit's DID and, unless \
                --no-verify-signatures, its signature against the DID document from the PLC directory or did:web) and its \
                records of the --collection prefixes appended in one batch. Inactive accounts are recorded as such. A host is \
                HOSTNAME (https) or localhost:PORT (http).

                With --follow, each host's firehose (com.atproto.sync.subscribeRepos) is followed instead, until SIGTERM/SIGINT: \
                from the cursor stored in the log (a host without one is backfilled as above while its stream is followed live), \
                every commit verified before its records are appended together with the cursor. See docs/runbook.md.
                """)
        @OptionGroup var options: GlobalOptions
        @OptionGroup var http: HTTPOptions
        @Argument(help: "Hostnames of PDSes.") var hosts: [String] = []
        @Flag(help: "Also every host listed to crawl (requestCrawl, POST /v1/atproto/hosts): the re-crawl a job runs.") var registered = false
        @Option(name: .customLong("collection"), help: "Collection prefix to index (repeatable; * for every collection).")
        var collections: [String] = ["io.atcr."]
        @Option(name: .customLong("plc"), help: "The PLC directory resolving did:plc documents.") var plc = "https://plc.directory"
        @Flag(name: .customLong("no-verify-signatures"), help: "Do not resolve DID documents nor check commit signatures.")
        var noVerify = false
        @Flag(name: .customLong("allow-high-s"), help: "Accept high-S signatures (repositories signed before atproto required low-S).")
        var allowHighS = false
        @Option(help: "Repositories fetched at once per host.") var concurrency = 4
        @Flag(help: "Follow each host's firehose (subscribeRepos) and keep running.") var follow = false
        @Flag(name: .customLong("backfill"), inversion: .prefixedNo, help: "With --follow: crawl the host too (default: when the log holds no cursor for it).")
        var backfill: Bool?
        @Option(name: .customLong("batch-frames"), help: "With --follow: frames appended at most per batch.") var batchFrames = 500

        struct Reports: CustomStringConvertible, Sendable {
            var reports: [RepoCrawler.Report]
            var followed: [FirehoseSubscriber.Progress] = []
            var description: String { (reports.map(\.description) + followed.map(\.description)).joined(separator: "\n") }
        }

        func validate() throws {
            guard !hosts.isEmpty || registered, concurrency > 0, concurrency <= 64 else {
                throw ValidationError("name at least one host (or --registered); --concurrency 1-64")
            }
            guard (1...10_000).contains(batchFrames) else { throw ValidationError("--batch-frames must be between 1 and 10000") }
            for host in hosts where host.contains("/") || host.contains(" ") {
                throw ValidationError("a host is a hostname (or localhost:PORT), not a URL: \(host)")
            }
        }

        func run() async throws {
            var settings = RepoCrawler.Settings()
            settings.collections = collections
            settings.plcURL = plc
            settings.verifySignatures = !noVerify
            settings.allowHighS = allowHighS
            settings.concurrency = concurrency
            let (named, crawl, registered) = (self.hosts, settings, self.registered)
            var following = FirehoseSubscriber.Settings()
            following.crawl = settings
            following.backfill = backfill
            following.batchFrames = batchFrames
            let (follow, subscriberSettings) = (self.follow, following)
            try await Crawl.crawling(options, http.settings) { strata, client in
                let crawler = RepoCrawler(client: client, producer: strata.producer, db: strata.client, settings: crawl, logger: strata.logger)
                var hosts = named
                if registered {
                    for host in try await RepoCrawler.registeredHosts(strata.client, logger: strata.logger) where !hosts.contains(host) { hosts.append(host) }
                }
                if follow {
                    let subscribers = hosts.map { host in
                        FirehoseSubscriber(host: host, crawler: crawler, producer: strata.producer, log: strata.log, db: strata.client, settings: subscriberSettings,
                            logger: strata.logger)
                    }
                    try await strata.runServices(subscribers)
                    return Reports(reports: [], followed: subscribers.map(\.progress))
                }
                var reports: [RepoCrawler.Report] = []
                var failed: [String] = []
                for host in hosts {
                    do {
                        reports.append(try await crawler.crawl(host: host) { report in
                            strata.logger.info("crawling", metadata: ["host": "\(report.host)", "listed": "\(report.listed)", "fetched": "\(report.fetched)",
                                "failed": "\(report.failures.count)"])
                        })
                    } catch {
                        // The other hosts are still crawled; the command fails at the end, naming this one.
                        strata.logger.error("host not crawled", metadata: ["host": "\(host)", "error": "\(error)"])
                        failed.append("\(host): \(error)")
                    }
                }
                if !failed.isEmpty {
                    printLine(reports.map(\.description).joined(separator: "\n"))
                    throw StrataError(.backend, "\(failed.count) of \(hosts.count) hosts could not be crawled:\n" + failed.joined(separator: "\n"))
                }
                return Reports(reports: reports)
            }
        }
    }
}
