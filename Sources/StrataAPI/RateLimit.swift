import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Per-client, per-route request limits with a fixed one-minute window (PG Atlas's behaviour): past
/// the limit a request gets 429 with `Retry-After` (seconds until the window ends).
///
/// A bucket is the client and the route the request matches, as the router names it (`GET
/// /v1/topics/:topic/partitions/:partition/events`), so heavy use of one route never locks a client
/// out of another. Reads and writes have separate limits (writes sized for producers). Paths that
/// match no route share one bucket per client. GitHub webhook deliveries are counted by their
/// route only after their signature checks out (`RateLimiter.enforce`); rejected ones count in a
/// bucket of their own, so forged requests cannot use up a real sender's budget.
///
/// Clients are told apart by the connection's peer address. Behind a reverse proxy every request
/// comes from the proxy, so with `trustForwardedFor` the client is `X-Real-IP`, else the last
/// `X-Forwarded-For` address — the one the trusted proxy appended; earlier entries are whatever
/// the client sent — falling back to the peer. Only turn that on behind a proxy that sets those
/// headers, since a direct client could otherwise claim a fresh address per request.
///
/// One limiter is shared by all requests of a server.
public final class RateLimiter: Sendable {
    /// Read requests (GET, HEAD) per minute per client and route; 0 turns limiting off.
    public let perMinute: Int
    /// Write requests (POST and the rest) per minute per client and route; 0 turns it off.
    public let writesPerMinute: Int
    /// Limits of particular buckets (`METHOD /route/pattern`), over the two defaults.
    public let overrides: [String: Int]
    /// Whether the client is the one `X-Forwarded-For` / `X-Real-IP` names (behind a proxy).
    public let trustForwardedFor: Bool
    private let state = Mutex<(window: Int64, counts: [String: Int])>((0, [:]))

    /// Buckets whose handlers count requests themselves (after authenticating them).
    public static let countedByHandler: Set<String> = ["POST /webhooks/github"]

    // Valid field names (constant tokens), so the initializer cannot fail.
    static let realIP = HTTPField.Name("X-Real-IP")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// `requestCrawl` is public and each accepted request makes a crawler do work: few per client.
    public static let defaultOverrides = ["GET /health": 600, "POST /xrpc/com.atproto.sync.requestCrawl": 30]

    /// The time windows are taken from (tests fix it so a window cannot roll over mid-test).
    let clock: @Sendable () -> Date

    public init(
        perMinute: Int = 100, writesPerMinute: Int = 6000, overrides: [String: Int] = RateLimiter.defaultOverrides,
        trustForwardedFor: Bool = false, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.clock = clock
        self.perMinute = perMinute
        self.writesPerMinute = writesPerMinute
        self.overrides = overrides
        self.trustForwardedFor = trustForwardedFor
    }

    /// Counts a request against its client's `bucket`; throws 429 past the limit.
    public func enforce(_ request: Request, peer: SocketAddress?, bucket: String, limit explicit: Int? = nil) throws {
        let limit = explicit ?? limit(for: request.method, bucket: bucket)
        let client = client(of: request, peer: peer)
        if let retryAfter = take(key: "\(client) \(bucket)", limit: limit, now: clock()) {
            var error = APIError(.tooManyRequests, "rate_limited", "Rate limit exceeded: \(limit) requests per minute on \(bucket)")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
    }

    /// Who a request counts against: the peer's IP address (its port changes per connection), or
    /// with `trustForwardedFor` the address the proxy reports.
    func client(of request: Request, peer: SocketAddress?) -> String {
        if trustForwardedFor {
            // X-Real-IP is set (overwritten) by the proxy; of X-Forwarded-For, the last entry is the
            // one the proxy appended, earlier ones are whatever the client sent.
            if let real = request.headers[Self.realIP] { return real }
            if let forwarded = request.headers[Self.forwardedFor]?.split(separator: ",").last {
                return forwarded.trimmingCharacters(in: .whitespaces)
            }
        }
        return peer?.ipAddress ?? peer.map { "\($0)" } ?? "unknown"
    }

    func limit(for method: HTTPRequest.Method, bucket: String) -> Int {
        if let override = overrides[bucket] { return override }
        return method == .get || method == .head ? perMinute : writesPerMinute
    }

    /// Counts a request; returns the seconds to wait when over the limit.
    func take(key: String, limit: Int, now: Date = Date()) -> Int? {
        guard limit > 0 else { return nil }
        let seconds = Int64(now.timeIntervalSince1970)
        let window = seconds / 60
        return state.withLock { state in
            if state.window != window { state = (window, [:]) }
            let count = state.counts[key, default: 0] + 1
            state.counts[key] = count
            return count > limit ? Int(max(1, (window + 1) * 60 - seconds)) : nil
        }
    }
}
