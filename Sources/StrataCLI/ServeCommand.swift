import ArgumentParser
import Foundation
import ServiceLifecycle
import StrataApp
import StrataCore
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
    @Option(name: .customLong("rate-limit"), help: "Requests per minute per client and route (0: off).") var rateLimit = 100
    @Flag(name: .customLong("trust-forwarded-for"),
        help: "Rate-limit by the client X-Forwarded-For / X-Real-IP names, not the connection's address (only behind a proxy that sets them).")
    var trustForwardedFor = false
    @Flag(name: .customLong("no-workers"), help: "Serve only; run projections elsewhere (strata work).") var noWorkers = false
    @Flag(help: "Load the demo data first.") var demo = false

    func run() async throws {
        var server = ServerSettings()
        server.host = host
        server.port = port
        let env = ProcessInfo.processInfo.environment
        server.writeToken = apiToken ?? env["STRATA_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        server.webhookSecret = webhookSecret ?? env["STRATA_GITHUB_WEBHOOK_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        guard rateLimit >= 0 else { throw ValidationError("--rate-limit must be 0 or more") }
        server.rateLimitPerMinute = rateLimit
        server.trustForwardedFor = trustForwardedFor
        let settings = try worker.settings()
        let (noWorkers, demo) = (self.noWorkers, self.demo)
        let demoData = env["STRATA_DEMO_DATA"]
        let serverSettings = server
        try await options.run { strata in
            _ = StrataMetrics.registry()
            let projections = ProjectionRegistry.runnable(in: strata.topology).run
            try await strata.registerProjections(projections)
            if demo { try await DemoData.load(into: strata, dataDirectory: demoData) }
            var services: [any Service] = [strata.makeApplication(serverSettings), LagReporter(strata: strata)]
            if !noWorkers {
                services.append(ProjectionWorker(projections: projections, log: strata.log, client: strata.client,
                    settings: settings, logger: strata.logger, onBatch: StrataMetrics.recordBatch))
            }
            FileHandle.standardError.write(Data("""
                strata serving http://\(serverSettings.host):\(serverSettings.port) on \(strata.databaseDescription)
                  health: /health  metrics: /metrics  API: docs/api.md\(serverSettings.writeToken == nil ? "  (writes disabled: no --api-token)" : "")
                  workers: \(noWorkers ? "none (--no-workers)" : projections.map(\.name).joined(separator: ", "))

                """.utf8))
            try await strata.runServices(services)
        }
    }
}
