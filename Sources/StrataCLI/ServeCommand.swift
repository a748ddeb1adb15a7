import ArgumentParser
import AsyncHTTPClient
import Foundation
import ServiceLifecycle
import StrataApp
import StrataATProto
import StrataATProtoIndex
import StrataCrawl
import StrataAtlas
import StrataCore
import StrataLedger
import StrataProjections

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Strata: the read API, projection workers and metrics, until SIGINT/SIGTERM.",
        discussion: """
            Serves http://HOST:PORT (the API, /health, /metrics) and runs every projection's workers. \
            With --demo, first loads sample data into the log so the views have something to show.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var worker: WorkerOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(name: .customLong("api-token"), help: "Bearer token for write endpoints (env STRATA_API_TOKEN).") var apiToken: String?
    @Option(name: .customLong("github-webhook-secret"), help: "Secret for GitHub webhook signatures (env STRATA_GITHUB_WEBHOOK_SECRET).")
    var webhookSecret: String?
    @Option(name: .customLong("github-oidc-audience"),
        help: "Accept GitHub Actions OIDC tokens with this audience on POST /ingest/sbom (env STRATA_GITHUB_OIDC_AUDIENCE; off when unset).")
    var oidcAudience: String?
    @Option(name: .customLong("github-oidc-issuer"), help: "The OIDC tokens' issuer.")
    var oidcIssuer = GitHubOIDCVerifier.Configuration.githubActionsIssuer
    @Option(name: .customLong("github-oidc-jwks-url"), help: "Where the issuer's keys are (default: ISSUER/.well-known/jwks).")
    var oidcJWKS: String?
    @Option(name: .customLong("rate-limit"), help: "Requests per minute per client and route (0: off).") var rateLimit = 100
    @Flag(name: .customLong("trust-forwarded-for"),
        help: "Rate-limit by the client X-Forwarded-For / X-Real-IP names, not the connection's address (only behind a proxy that sets them).")
    var trustForwardedFor = false
    @Flag(name: .customLong("no-workers"), help: "Serve only; run projections and jobs elsewhere (strata work).") var noWorkers = false
    @Option(name: .customLong("jobs"), help: "Jobs file to schedule (env STRATA_JOBS; default: jobs.yaml beside the topology, if any).")
    var jobsFile: String?
    @Flag(help: "Load the demo data first.") var demo = false
    @Option(help: "Follow a Galexie data lake (a directory or an http(s):// base URL) into ledger_meta.") var datalake: String?
    @Option(name: .customLong("datalake-from"), help: "First ledger, while ledger_meta is empty.") var datalakeFrom: UInt32?
    @Option(name: .customLong("datalake-poll-interval"), help: "Seconds between looks for the next object.") var datalakePoll = 2.0
    @Option(name: .customLong("datalake-retry"), help: "Seconds before a stopped data lake source is tried again.") var datalakeRetry = 30.0
    @Option(name: .customLong("atproto-follow"), help: "Follow this PDS's firehose (subscribeRepos) into the atproto topic (repeatable; HOSTNAME or localhost:PORT).")
    var atprotoHosts: [String] = []
    @Option(name: .customLong("atproto-collection"), help: "With --atproto-follow: collection prefix to index (repeatable; * for all).")
    var atprotoCollections: [String] = ["io.atcr."]
    @Option(name: .customLong("atproto-plc"), help: "With --atproto-follow: the PLC directory resolving did:plc documents.") var atprotoPLC = "https://plc.directory"

    func run() async throws {
        var server = ServerSettings()
        server.host = host
        server.port = port
        let env = ProcessInfo.processInfo.environment
        server.writeToken = apiToken ?? env["STRATA_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        server.webhookSecret = webhookSecret ?? env["STRATA_GITHUB_WEBHOOK_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        if let audience = oidcAudience ?? env["STRATA_GITHUB_OIDC_AUDIENCE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            for url in [oidcIssuer] + (oidcJWKS.map { [$0] } ?? []) {
                guard let u = URL(string: url), u.scheme == "https" || u.scheme == "http", u.host != nil else {
                    throw ValidationError("--github-oidc-issuer and --github-oidc-jwks-url must be http(s) URLs, got '\(url)'")
                }
            }
            server.githubOIDC = GitHubOIDCVerifier.Configuration(audience: audience, issuer: oidcIssuer, jwksURL: oidcJWKS)
        }
        guard rateLimit >= 0 else { throw ValidationError("--rate-limit must be 0 or more") }
        server.rateLimitPerMinute = rateLimit
        server.trustForwardedFor = trustForwardedFor
        let settings = try worker.settings()
        let (noWorkers, demo) = (self.noWorkers, self.demo)
        guard datalakePoll > 0, datalakePoll <= 3600, datalakeRetry > 0, datalakeRetry <= 3600 else {
            throw ValidationError("--datalake-poll-interval and --datalake-retry must be between 0 and 3600 seconds")
        }
        let (datalake, datalakeFrom, datalakePoll, datalakeRetry) = (self.datalake, self.datalakeFrom, self.datalakePoll, self.datalakeRetry)
        var normalizedHosts: [String] = []
        for host in self.atprotoHosts {
            do { normalizedHosts.append(try CrawlHostname.normalize(host)) } catch { throw ValidationError("--atproto-follow \(host): \(error)") }
        }
        let atprotoHosts = normalizedHosts
        var following = FirehoseSubscriber.Settings()
        following.crawl.collections = atprotoCollections
        following.crawl.plcURL = atprotoPLC
        let subscriberSettings = following
        // The process's long-running sources (a data lake follower, the job scheduler) report here for /health.
        server.sources = SourceHealth()
        let demoData = env["STRATA_DEMO_DATA"]
        let jobsFile = self.jobsFile ?? env["STRATA_JOBS"]
        let serverSettings = server
        try await options.run(writer: "serve") { strata in
            _ = StrataMetrics.registry()
            let projections = ProjectionRegistry.runnable(in: strata.topology).run
            try await strata.registerProjections(projections)
            if demo { try await DemoData.load(into: strata, dataDirectory: demoData) }
            var services: [any Service] = [strata.makeApplication(serverSettings), LagReporter(strata: strata)]
            if !noWorkers {
                services.append(ProjectionWorker(projections: projections, log: strata.log, client: strata.client,
                    settings: settings, logger: strata.logger, onBatch: StrataMetrics.recordBatch))
            }
            var jobsLine = ""
            if !noWorkers, let file = try strata.jobsFile(jobsFile),
                let scheduler = try strata.jobScheduler(file: file, workerID: settings.workerID, leaseTTL: settings.leaseTTL, tick: settings.heartbeat,
                    health: serverSettings.sources)
            {
                services.append(scheduler)
                jobsLine = "\n  jobs: \(file.path)"
            }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            if let datalake, let health = serverSettings.sources {
                var options = DataLakeSource.Options(from: datalakeFrom, follow: true)
                options.pollInterval = .milliseconds(Int64(datalakePoll * 1000))
                let store: any LedgerObjectStore
                do { store = try dataLakeStore(datalake, client: http, logger: strata.logger) } catch {
                    try? await http.shutdown()
                    throw error
                }
                let source = DataLakeSource(store: store, options: options,
                    ledgers: LedgerMetaLog(log: strata.log, producer: strata.producer), logger: strata.logger)
                services.append(SupervisedDataLakeSource(source: source, health: health, retryInterval: .milliseconds(Int64(datalakeRetry * 1000))))
            }
            if !atprotoHosts.isEmpty, let health = serverSettings.sources {
                let client = CrawlClient(http: http, db: strata.client, settings: CrawlSettings(), logger: strata.logger)
                let crawler = RepoCrawler(client: client, producer: strata.producer, db: strata.client, settings: subscriberSettings.crawl, logger: strata.logger)
                for host in atprotoHosts {
                    services.append(FirehoseSubscriber(host: host, crawler: crawler, producer: strata.producer, log: strata.log, db: strata.client,
                        settings: subscriberSettings, health: health, logger: strata.logger))
                }
            }
            FileHandle.standardError.write(Data("""
                strata serving http://\(serverSettings.host):\(serverSettings.port) on \(strata.logDescription)
                  health: /health  metrics: /metrics  API: docs/api.md\(serverSettings.writeToken == nil ? "  (writes disabled: no --api-token)" : "")
                  workers: \(noWorkers ? "none (--no-workers)" : projections.map(\.name).joined(separator: ", "))\(datalake.map { "\n  data lake: \($0) -> \(LedgerMetaLog.topic)" } ?? "")\(serverSettings.githubOIDC.map { "\n  SBOMs from GitHub Actions: OIDC tokens for audience '\($0.audience)' from \($0.issuer)" } ?? "")\(jobsLine)\(atprotoHosts.isEmpty ? "" : "\n  atproto firehoses: " + atprotoHosts.joined(separator: ", "))

                """.utf8))
            do {
                try await strata.runServices(services)
            } catch {
                try? await http.shutdown()
                throw error
            }
            try? await http.shutdown()
        }
    }
}
