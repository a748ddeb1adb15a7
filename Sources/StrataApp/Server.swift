import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import StrataAPI
import StrataATProtoIndex
import StrataAtlas
import StrataJobs
import StrataCore
import StrataLedger
import StrataProjections

/// HTTP settings for `strata serve`.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Bearer token for write endpoints; nil disables writes. (`strata serve` takes it from
    /// `--api-token` or STRATA_API_TOKEN.)
    public var writeToken: String?
    /// Secret for GitHub webhook signatures; nil disables webhooks. (`--github-webhook-secret` or
    /// STRATA_GITHUB_WEBHOOK_SECRET.)
    public var webhookSecret: String?
    /// Requests per minute per client and route; 0 disables rate limiting.
    public var rateLimitPerMinute = 100
    /// Rate-limit the client `X-Forwarded-For` names rather than the connection's peer (behind a proxy).
    public var trustForwardedFor = false
    /// The sources this process runs, for `/health`.
    public var sources: SourceHealth?
    /// GitHub Actions OIDC tokens accepted on `POST /ingest/sbom`; nil: only the API token.
    /// (`--github-oidc-audience`, `--github-oidc-issuer`, `--github-oidc-jwks-url`.)
    public var githubOIDC: GitHubOIDCVerifier.Configuration?

    public init() {}
}

/// Domain modules add their read routes here.
public enum RouteRegistry {
    public static func all(oidc: GitHubOIDCVerifier? = nil) -> [any APIRoutes] { [LedgerRoutes(), AtlasRoutes(oidc: oidc), JobRoutes(), ATProtoRoutes()] }
}

extension StrataContext {
    public func apiDependencies(
        writeToken: String?, metrics: Bool, webhookSecret: String? = nil, rateLimitPerMinute: Int = 0, trustForwardedFor: Bool = false,
        sources: SourceHealth? = nil
    ) -> APIDependencies {
        var deps = APIDependencies(log: log, producer: producer, client: client, logger: logger, writeToken: writeToken,
            metrics: metrics ? StrataMetrics.registry() : nil, webhookSecret: webhookSecret)
        deps.probe = probe
        deps.sources = sources
        if rateLimitPerMinute > 0 { deps.rateLimiter = RateLimiter(perMinute: rateLimitPerMinute, trustForwardedFor: trustForwardedFor) }
        return deps
    }

    /// The HTTP application serving the API.
    public func makeApplication(_ settings: ServerSettings) -> some ApplicationProtocol {
        let deps = apiDependencies(writeToken: settings.writeToken, metrics: true, webhookSecret: settings.webhookSecret,
            rateLimitPerMinute: settings.rateLimitPerMinute, trustForwardedFor: settings.trustForwardedFor, sources: settings.sources)
        let oidc = settings.githubOIDC.map { GitHubOIDCVerifier(configuration: $0, logger: logger) }
        let router = buildRouter(deps, routes: RouteRegistry.all(oidc: oidc))
        // WebSocket upgrades (GET /subscribe) go to their own router; every other request to the API's.
        return Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: JetstreamRoutes.webSocketRouter(log: log, logger: logger)),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "strata"), logger: logger)
    }
}
