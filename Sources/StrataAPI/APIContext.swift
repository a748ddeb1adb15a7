import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import StrataCore
import StrataPostgres
import StrataProjections

/// What the API's handlers need.
public struct APIDependencies: Sendable {
    public var log: any EventLog
    public var producer: EventProducer
    public var client: PostgresClient
    public var logger: Logger
    /// Bearer token for write endpoints; nil disables writes.
    public var writeToken: String?
    /// Prometheus registry behind `/metrics`.
    public var metrics: PrometheusCollectorRegistry?
    /// Secret GitHub signs webhook deliveries with; nil disables `POST /webhooks/github`.
    public var webhookSecret: String?
    /// Request limits; nil disables rate limiting.
    public var rateLimiter: RateLimiter?
    /// Whether the database answers; while it does not, requests get 503 at once.
    public var probe: DatabaseProbe?
    /// The process's sources (data lake followers, ...), reported in `/health`.
    public var sources: SourceHealth?
    /// The longest a request may take to produce its response (a streamed body may go on).
    public var requestDeadline: Duration = .seconds(15)

    public init(log: any EventLog, producer: EventProducer, client: PostgresClient, logger: Logger, writeToken: String?,
        metrics: PrometheusCollectorRegistry?, webhookSecret: String? = nil)
    {
        self.webhookSecret = webhookSecret
        self.log = log
        self.producer = producer
        self.client = client
        self.logger = logger
        self.writeToken = writeToken
        self.metrics = metrics
    }
}

extension APIDependencies {
    /// Appends for a request, bounded by the request deadline whatever the database does (a write
    /// that times out may or may not have been applied; re-sending the same ids is safe).
    public func append(_ drafts: [EventDraft]) async throws -> [AppendReceipt] {
        let producer = self.producer
        return try await withDeadline(requestDeadline, "appending \(drafts.count) events") { try await producer.append(drafts) }
    }
}

/// A group of routes a module (a domain, the log, the runtime) adds to the API.
public protocol APIRoutes: Sendable {
    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies)
}

/// The request context of Strata's API: Hummingbird's core context plus the connected peer's
/// address, which rate limiting keys on.
public struct StrataRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Builds the API's router from route groups.
public func buildRouter(_ deps: APIDependencies, routes: [any APIRoutes]) -> Router<StrataRequestContext> {
    let router = Router(context: StrataRequestContext.self)
    let table = RouteTable()
    router.add(middleware: ErrorMappingMiddleware())
    router.add(middleware: RouteMiddleware(table: table, limiter: deps.rateLimiter))
    router.add(middleware: AvailabilityMiddleware(probe: deps.probe, deadline: deps.requestDeadline))
    for r in [LogRoutes(), ProjectionRoutes(), HealthRoutes()] as [any APIRoutes] + routes {
        r.register(on: router, deps)
    }
    table.load(router)
    return router
}

extension Request {
    /// An optional integer query parameter with bounds, or a 400 naming it.
    public func intQuery(_ name: String, default value: Int? = nil, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let text = uri.queryParameters[name[...]].map(String.init) else { return value }
        guard let n = Int(text) else { throw APIError.badRequest("query parameter '\(name)' must be an integer, got '\(text)'") }
        if let range, !range.contains(n) {
            throw APIError.badRequest("query parameter '\(name)' must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
        }
        return n
    }

    public func stringQuery(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init)
    }

    /// Requires `Authorization: Bearer <token>` matching the configured write token.
    public func requireWriteToken(_ deps: APIDependencies) throws {
        guard let token = deps.writeToken, !token.isEmpty else {
            throw APIError(.forbidden, "writes_disabled", "writes are disabled: start the server with --api-token (or STRATA_API_TOKEN)")
        }
        guard let header = headers[.authorization], header.hasPrefix("Bearer "),
            constantTimeEquals(String(header.dropFirst(7)), token)
        else {
            var error = APIError(.unauthorized, "unauthorized", "a valid bearer token is required")
            error.headers[.wwwAuthenticate] = "Bearer"
            throw error
        }
    }
}

/// Compares secrets without leaking where they differ through timing.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
    return diff == 0
}
