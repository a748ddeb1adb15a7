import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Per-client, per-route request limits with a fixed one-minute window (PG Atlas's behaviour): past
/// the limit a request gets 429 with `Retry-After` (seconds until the window ends).
///
/// Clients are told apart by the connection's peer address. Behind a reverse proxy every request
/// comes from the proxy, so with `trustForwardedFor` the client is `X-Real-IP`, else the last
/// `X-Forwarded-For` address — the one the trusted proxy appended; earlier entries are whatever
/// the client sent — falling back to the peer. Only turn that on behind a proxy that sets those
/// headers, since a direct client could otherwise claim a fresh address per request. Routes
/// are bucketed by method and first path segment (`GET /repos/...`).
public struct RateLimitMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let limiter: RateLimiter

    public init(limiter: RateLimiter) { self.limiter = limiter }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let segment = path.split(separator: "/").first.map(String.init) ?? ""
        let limit = limiter.limit(for: request.method, segment: segment)
        let client = limiter.client(of: request, peer: context.remoteAddress)
        if let retryAfter = limiter.take(key: "\(client) \(request.method) /\(segment)", limit: limit) {
            var error = APIError(.tooManyRequests, "rate_limited", "Rate limit exceeded: \(limit) requests per minute on /\(segment)")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
        return try await next(request, context)
    }
}

/// The counters behind `RateLimitMiddleware`, shared by all requests of a server.
public final class RateLimiter: Sendable {
    /// Requests per minute per client and route; 0 turns limiting off.
    public let perMinute: Int
    /// Higher limits for some routes (`/health` and SBOM uploads, as PG Atlas).
    public let overrides: [String: Int]
    /// Whether the client is the one `X-Forwarded-For` / `X-Real-IP` names (behind a proxy).
    public let trustForwardedFor: Bool
    private let state = NIOLockedValueBox<(window: Int64, counts: [String: Int])>((0, [:]))

    public init(perMinute: Int = 100, overrides: [String: Int] = ["GET health": 600, "POST ingest": 600], trustForwardedFor: Bool = false) {
        self.perMinute = perMinute
        self.overrides = overrides
        self.trustForwardedFor = trustForwardedFor
    }

    /// Who a request counts against: the peer's IP address (its port changes per connection), or
    /// with `trustForwardedFor` the address the proxy reports.
    func client(of request: Request, peer: SocketAddress?) -> String {
        if trustForwardedFor {
            // X-Real-IP is set (overwritten) by the proxy; of X-Forwarded-For, the last entry is the
            // one the proxy appended, earlier ones are whatever the client sent.
            if let real = request.headers[HTTPField.Name("X-Real-IP")!] { return real }
            if let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!]?.split(separator: ",").last {
                return forwarded.trimmingCharacters(in: .whitespaces)
            }
        }
        return peer?.ipAddress ?? peer.map { "\($0)" } ?? "unknown"
    }

    func limit(for method: HTTPRequest.Method, segment: String) -> Int {
        overrides["\(method.rawValue) \(segment)"] ?? perMinute
    }

    /// Counts a request; returns the seconds to wait when over the limit.
    func take(key: String, limit: Int, now: Date = Date()) -> Int? {
        guard limit > 0 else { return nil }
        let seconds = Int64(now.timeIntervalSince1970)
        let window = seconds / 60
        return state.withLockedValue { state in
            if state.window != window { state = (window, [:]) }
            let count = state.counts[key, default: 0] + 1
            state.counts[key] = count
            return count > limit ? Int(max(1, (window + 1) * 60 - seconds)) : nil
        }
    }
}
