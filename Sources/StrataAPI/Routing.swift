import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StrataCore
import StrataPostgres
import Synchronization

/// The API's routes as patterns (`/v1/topics/:topic/events`), known once every route group has
/// registered: what a request matches before the router runs it. Rate limiting counts per matched
/// pattern, and a path served under other methods answers 405 with `Allow` instead of 404.
public final class RouteTable: Sendable {
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var pattern: String
        var segments: [Segment]
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case capture
        /// `**`: one or more segments.
        case rest
    }

    private let routes = Mutex<[Route]>([])

    public init() {}

    /// Loads the router's routes (call after every group registered).
    public func load<Context>(_ router: Router<Context>) {
        let loaded = router.routes.map { description -> Route in
            let pattern = "\(description.path)"
            return Route(method: description.method, pattern: pattern, segments: Self.segments(pattern))
        }
        routes.withLock { $0 = loaded }
    }

    static func segments(_ pattern: String) -> [Segment] {
        pattern.split(separator: "/").map { s in
            if s == "**" { return .rest }
            if s == "*" || s.hasPrefix(":") || s.hasPrefix("{") { return .capture }
            return .literal(String(s))
        }
    }

    /// What a request's path matches.
    public enum Match: Sendable, Equatable {
        /// A route: its pattern.
        case route(String)
        /// The path exists, but not for this method: the methods it allows.
        case otherMethods([HTTPRequest.Method])
        case none
    }

    public func match(method: HTTPRequest.Method, path: String) -> Match {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let lookup = method == .head ? HTTPRequest.Method.get : method
        var allowed: [HTTPRequest.Method] = []
        var found: Route?
        for route in routes.withLock({ $0 }) where Self.matches(route.segments, parts) {
            // The most specific route wins, as in the router: fewer wildcards, then more literals.
            if route.method == lookup {
                if Self.specificity(route.segments) > found.map({ Self.specificity($0.segments) }) ?? -1 { found = route }
            } else if !allowed.contains(route.method) {
                allowed.append(route.method)
            }
        }
        if let found { return .route(found.pattern) }
        if !allowed.isEmpty {
            if allowed.contains(.get) { allowed.append(.head) }
            return .otherMethods(allowed.sorted { $0.rawValue < $1.rawValue })
        }
        return .none
    }

    static func specificity(_ segments: [Segment]) -> Int {
        segments.reduce(0) { total, s in
            switch s {
            case .literal: return total + 100
            case .capture: return total + 10
            case .rest: return total
            }
        }
    }

    static func matches(_ segments: [Segment], _ parts: [Substring]) -> Bool {
        var i = 0
        for (n, segment) in segments.enumerated() {
            switch segment {
            case .rest:
                // The rest of the path (at least one segment), then nothing may follow the pattern.
                return n == segments.count - 1 && parts.count > i
            case .capture:
                guard i < parts.count else { return false }
            case .literal(let text):
                guard i < parts.count, parts[i] == text else { return false }
            }
            i += 1
        }
        return i == parts.count
    }
}

/// Matches each request against the route table once: a path that exists under other methods
/// answers 405 (with `Allow`) before the router would answer 404, and the rest are counted against
/// their route's rate limit (when a limiter is given).
public struct RouteMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let table: RouteTable
    let limiter: RateLimiter?

    public init(table: RouteTable, limiter: RateLimiter?) {
        self.table = table
        self.limiter = limiter
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route: String
        switch table.match(method: request.method, path: request.uri.path) {
        case .route(let pattern): route = pattern
        case .otherMethods(let allowed):
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            var error = APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path); allowed: \(list)")
            error.headers[.allow] = list
            throw error
        case .none: route = "(no route)"
        }
        if let limiter {
            let bucket = "\(request.method) \(route)"
            if !RateLimiter.countedByHandler.contains(bucket) {
                try limiter.enforce(request, peer: context.remoteAddress, bucket: bucket)
            }
        }
        return try await next(request, context)
    }
}

extension Request {
    /// The media types a parsed body may have: JSON, JSON Lines, and `+json` types (SPDX,
    /// CycloneDX). A request without `Content-Type` is read as JSON.
    public static let jsonMediaTypes: Set<String> = [
        "application/json", "application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines",
        "application/jsonlines", "text/json",
    ]

    /// Refuses (415) a body whose `Content-Type` is neither JSON nor JSON Lines.
    /// `also` lists further media types the route reads (for example `text/spdx` for SPDX tag-value).
    public func requireJSONContentType(also: [String] = []) throws {
        guard let header = headers[.contentType] else { return }
        let mediaType = header.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if Self.jsonMediaTypes.contains(mediaType) || mediaType.hasSuffix("+json") || also.contains(mediaType) { return }
        throw APIError(.unsupportedMediaType, "unsupported_media_type",
            "Content-Type '\(header)' is not accepted here: send application/json or application/x-ndjson (JSON Lines)"
                + also.map { " or \($0)" }.joined())
    }

    /// The body as bytes, after checking its media type; past `limit` bytes, 413 naming the limit.
    public mutating func jsonBody(limit: Int, alsoAccepting also: [String] = []) async throws -> [UInt8] {
        try requireJSONContentType(also: also)
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        do {
            return Array(try await collectBody(upTo: limit).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit: limit)
        }
    }
}

extension APIError {
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "body_too_large", "the request body is larger than this route accepts (\(limit) bytes)")
    }
}

/// Fault behaviour of every route: while the database is known to be down, requests that need it
/// get 503 at once with the outage's start (`/health` and `/metrics` answer for themselves); and
/// no request waits longer than `deadline` for its response (503 naming the deadline).
public struct AvailabilityMiddleware<Context: RequestContext>: RouterMiddleware {
    let probe: DatabaseProbe?
    let deadline: Duration
    static var exempt: Set<String> { ["/health", "/metrics"] }

    public init(probe: DatabaseProbe?, deadline: Duration) {
        self.probe = probe
        self.deadline = deadline
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.exempt.contains(request.uri.path) { return try await next(request, context) }
        if let probe {
            do {
                try probe.requireUp()
            } catch let error as StrataError {
                var api = APIError.from(error)
                api.headers[.retryAfter] = "2"
                throw api
            }
        }
        let limit = deadline
        return try await withoutActuallyEscaping({ try await next(request, context) }) { handler in
            // The handler runs in a child task that the group always awaits, so it never outlives
            // this call (as `withoutActuallyEscaping` requires); past the deadline it is cancelled,
            // and a wait for a connection or a query ends with it.
            nonisolated(unsafe) let handler = handler
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await handler() }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else {
                    var error = APIError(.serviceUnavailable, "timeout", "the request did not complete within \(limit); a write may or may not have been applied (re-sending it with the same event ids is safe)")
                    error.headers[.retryAfter] = "2"
                    throw error
                }
                return response
            }
        }
    }
}
