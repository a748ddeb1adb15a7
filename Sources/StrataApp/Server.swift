import Foundation
import Hummingbird
import Logging
import StrataAPI
import StrataCore
import StrataLedger
import StrataProjections

/// HTTP settings for `strata serve`.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Bearer token for write endpoints (env STRATA_API_TOKEN); nil disables writes.
    public var writeToken: String? = ProcessInfo.processInfo.environment["STRATA_API_TOKEN"]

    public init() {}
}

/// Domain modules add their read routes here.
public enum RouteRegistry {
    public static func all() -> [any APIRoutes] { [LedgerRoutes()] }
}

extension StrataContext {
    public func apiDependencies(writeToken: String?, metrics: Bool) -> APIDependencies {
        APIDependencies(log: log, producer: producer, client: client, logger: logger, writeToken: writeToken,
            metrics: metrics ? StrataMetrics.registry() : nil)
    }

    /// The HTTP application serving the API.
    public func makeApplication(_ settings: ServerSettings) -> some ApplicationProtocol {
        let router = buildRouter(apiDependencies(writeToken: settings.writeToken, metrics: true), routes: RouteRegistry.all())
        return Application(router: router, configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "strata"),
            logger: logger)
    }
}
