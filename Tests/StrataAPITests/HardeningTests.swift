import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StrataAPI
import StrataApp
import StrataAtlas
import StrataCore
import StrataTestSupport
import Testing

/// What hostile users and unlucky clients found, each pinned: no request kills the server, and
/// errors say what was wrong instead of lying.
@Suite struct HardeningTests {
    static let auth: HTTPFields = [.authorization: "Bearer \(APIHarness.token)", .contentType: "application/x-ndjson"]

    static func withRouter<T: Sendable>(
        rateLimiter: RateLimiter? = nil, webhookSecret: String? = nil,
        _ body: @Sendable (StrataContext, any TestClientProtocol, [String]) async throws -> T
    ) async throws -> T {
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections(ProjectionRegistry.all())
            var deps = strata.apiDependencies(writeToken: APIHarness.token, metrics: true, webhookSecret: webhookSecret)
            deps.rateLimiter = rateLimiter
            let router = buildRouter(deps, routes: RouteRegistry.all())
            // Streams that stay open (the topic tail, the outbound atproto stream) cannot be read to their end.
            let routes = router.routes.map { "\($0.method) \($0.path)" }.filter { !$0.hasSuffix("/tail") && !$0.hasSuffix(" /subscribe") }
            let app = Application(router: router, logger: strata.logger)
            return try await app.test(.router) { client in try await body(strata, client, routes) }
        }
    }

    /// The request that killed the server: an all-colon sort term. Every Atlas list refuses it (422)
    /// and the server goes on answering.
    @Test func allColonSortTermsAreRefusedNotFatal() async throws {
        try await Self.withRouter { _, client, _ in
            for uri in ["/projects?sort=:", "/repos?sort=::", "/contributors?sort=:::", "/projects?sort=display_name:", "/repos?sort=,:,",
                        "/projects?sort=display_name::asc"] {
                let r = try await client.json(uri)
                #expect(r.status == .unprocessableContent, "\(uri)")
                #expect(r.json["error"] == "invalid_sort", "\(uri)")
            }
            #expect(try await client.json("/projects?sort=display_name:desc").status == .ok)
            #expect(try await client.json("/health").status == .ok)
        }
    }

    /// Property-based fuzz over every route the router has: random paths built from each route's
    /// pattern, random query strings and bodies, any method. Nothing may answer 5xx but 503, and
    /// the server still answers `/health` afterwards. Bounded: a fixed number of requests per seed.
    @Test func fuzzEveryRouteNoServerErrors() async throws {
        try await Self.withRouter(rateLimiter: RateLimiter(perMinute: 1_000_000, writesPerMinute: 1_000_000)) { _, client, routes in
            #expect(routes.count >= 30)
            // A fixed seed in CI (reproducible); STRATA_FUZZ_SEED explores others.
            let seed = ProcessInfo.processInfo.environment["STRATA_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20261201
            var random = SeededGenerator(seed: seed)
            let pieces = ["", ":", "::", ",", "-1", "0", "1", "999999999999999999999", "9223372036854775807", "-9223372036854775808",
                          "%00", "%FF%FE", "..", "%2e%2e", "a", "demo", "ledger", "pkg:github/a/b", "%40scope", "é", "💥", "null", "[]", "{}",
                          "true", "1e309", "0x10", " ", "%20", "*", "**", "asc", "desc", "display_name:asc", "abc:def:ghi",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", String(repeating: "z", count: 3000)]
            let names = ["limit", "offset", "from", "cursor", "sort", "search", "status", "projection", "format", "repository", "actor",
                         "project_type", "activity_status", "category", "project_id", "max_pony_factor", "collection", "account", "asset"]
            let bodies = ["", "{", "[", "[]", "{}", "null", "\u{0}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "{\"key\":\"\u{0}\"}",
                          #"{"key":"k","type":"demo.event","payload":{"amount":1}}"#, #"[{"key":"k","type":"demo.event","payload":{}}]"#,
                          #"{"key":"k","type":"demo.event","payload":{"s":"\u0000"}}"#, String(repeating: "{\"a\":", count: 600),
                          #"{"spdxVersion":"SPDX-2.3","packages":[]}"#, #"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#]
            let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options]
            func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
            var failures: [String] = []
            for n in 0..<1500 {
                let route = pick(routes)
                let parts = route.split(separator: " ", maxSplits: 1)
                let pattern = parts.count == 2 ? String(parts[1]) : "/"
                let path = "/" + pattern.split(separator: "/").map { segment -> String in
                    if segment.hasPrefix(":") || segment == "*" { return pick(pieces).isEmpty ? "x" : pick(pieces) }
                    if segment == "**" { return (0..<Int.random(in: 1...3, using: &random)).map { _ in pick(pieces).isEmpty ? "y" : pick(pieces) }.joined(separator: "/") }
                    return String(segment)
                }.joined(separator: "/")
                var query = (0..<Int.random(in: 0...3, using: &random)).map { _ in "\(pick(names))=\(pick(pieces))" }.joined(separator: "&")
                if Bool.random(using: &random) { query += "&sort=\(pick(pieces))" }
                let method = n % 3 == 0 ? pick(methods) : (parts.first.map { HTTPRequest.Method(String($0)) ?? .get } ?? .get)
                var headers: HTTPFields = Bool.random(using: &random) ? Self.auth : [:]
                if Bool.random(using: &random) { headers[.contentType] = pick(["application/json", "text/plain", "application/x-www-form-urlencoded"]) }
                let body = method == .get || method == .head ? nil : pick(bodies)
                let uri = query.isEmpty ? path : "\(path)?\(query)"
                let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                if response.status.code >= 500 && response.status != .serviceUnavailable {
                    failures.append("\(method) \(uri) -> \(response.status.code): \(String(buffer: response.body).prefix(200))")
                }
            }
            #expect(failures.isEmpty, "seed \(seed):\n\(failures.prefix(10).joined(separator: "\n"))")
            #expect(try await client.json("/health").status == .ok)
        }
    }

    @Test func errorsSayWhatWasWrong() async throws {
        try await Self.withRouter { strata, client, _ in
            // A body over the route's limit: 413, not 500.
            let huge = String(repeating: " ", count: (16 << 20) + 10)
            let tooLarge = try await client.json("/ingest/sbom?repository=a/b", method: .post, headers: Self.auth, body: huge)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.json["error"] == "body_too_large")

            // NUL in a key, a header or a payload string is bad input (422, named), not an outage.
            for (line, field) in [(#"{"key":"a\u0000b","type":"demo.event","payload":{}}"#, "event key"),
                                  (#"{"key":"k","type":"demo.event","headers":{"h":"\u0000"},"payload":{}}"#, "header 'h'"),
                                  (#"{"key":"k","type":"demo.event","payload":{"note":"x\u0000"}}"#, "payload.note")] {
                let r = try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: line)
                #expect(r.status == .unprocessableContent, "\(line)")
                #expect(r.json["message"]?.stringValue?.contains(field) == true, "\(r.json)")
            }
            // Headers are bounded.
            let bigHeader = #"{"key":"k","type":"demo.event","headers":{"h":"\#(String(repeating: "x", count: 20_000))"},"payload":{}}"#
            let headersTooLarge = try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: bigHeader)
            #expect(headersTooLarge.status == .unprocessableContent)
            #expect(headersTooLarge.json["message"]?.stringValue?.contains("headers take") == true)

            // An id re-used with other content: 409 naming the id and where it is; the same content
            // stays a harmless duplicate; and the conflicting batch appends nothing at all.
            let first = #"{"key":"k","type":"demo.event","id":"dup-1","payload":{"amount":1}}"#
            #expect(try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: first).status == .created)
            let same = try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: first)
            #expect(same.status == .ok)
            let other = #"{"key":"k","type":"demo.event","id":"fresh-1","payload":{"amount":3}}"# + "\n"
                + #"{"key":"k","type":"demo.event","id":"dup-1","payload":{"amount":2}}"#
            let conflict = try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: other)
            #expect(conflict.status == .conflict)
            let message = conflict.json["message"]?.stringValue ?? ""
            #expect(message.contains("dup-1") && message.contains("offset 0"), "\(message)")
            #expect(try await strata.log.endOffsets(topic: "demo").reduce(0, +) == 1)
            let twiceInOne = #"{"key":"k","type":"demo.event","id":"x","payload":{"amount":1}}"# + "\n"
                + #"{"key":"j","type":"demo.event","id":"x","payload":{"amount":1}}"#
            #expect(try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: twiceInOne).status == .conflict)

            // Wrong method: 405 with Allow, not 404.
            let wrongMethod = try await client.executeRequest(uri: "/v1/topics", method: .post, headers: Self.auth, body: nil)
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.headers[.allow]?.contains("GET") == true)
            #expect(try await client.json("/v1/topics/demo/events", method: .delete, headers: Self.auth).status == .methodNotAllowed)
            #expect(try await client.json("/no/such/route").status == .notFound)

            // Only JSON and JSON Lines are parsed: 415 for anything else.
            var form = Self.auth
            form[.contentType] = "application/x-www-form-urlencoded"
            let unsupported = try await client.json("/v1/topics/demo/events", method: .post, headers: form, body: first)
            #expect(unsupported.status == .unsupportedMediaType)
            var json = Self.auth
            json[.contentType] = "application/json; charset=utf-8"
            #expect(try await client.json("/v1/topics/demo/events", method: .post, headers: json, body: first).status == .ok)

            // The HTTP SBOM error names the query parameter, not the CLI flag.
            let spdx = #"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://example.com/x","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},"packages":[]}"#
            let unnamed = try await client.json("/ingest/sbom", method: .post, headers: Self.auth, body: spdx)
            #expect(unnamed.status == .unprocessableContent)
            let text = unnamed.json["message"]?.stringValue ?? ""
            #expect(text.contains("query parameter") && !text.contains("--repository"), "\(text)")
        }
    }

    /// Buckets are routes (the router's patterns), reads and writes have their own limits, and a
    /// webhook delivery counts only once its signature checks out.
    @Test func rateLimitBucketsAreRoutes() async throws {
        // A fixed clock: a one-minute window rolling over mid-test (a slow machine) would reset the counts.
        let limiter = RateLimiter(perMinute: 5, writesPerMinute: 50, clock: { Date(timeIntervalSince1970: 1_800_000_030) })
        try await Self.withRouter(rateLimiter: limiter, webhookSecret: "s3cret") { _, client, _ in
            for _ in 0..<5 { #expect(try await client.json("/v1/ledgers").status == .ok) }
            let limited = try await client.json("/v1/ledgers")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.json["message"]?.stringValue?.contains("GET /v1/ledgers") == true)
            // Other routes, even under the same first segment, keep their budgets.
            #expect(try await client.json("/v1/topics").status == .ok)
            #expect(try await client.json("/v1/projections").status == .ok)
            #expect(try await client.json("/v1/ledgers/1").status != .tooManyRequests)
            // Writes: a producer's pace, far above the read limit.
            for i in 0..<20 {
                let line = #"{"key":"k\#(i)","type":"demo.event","payload":{"amount":1}}"#
                #expect(try await client.json("/v1/topics/demo/events", method: .post, headers: Self.auth, body: line).status == .created)
            }
            // Forged webhook deliveries do not use up the budget of signed ones.
            let push = #"{"repository":{"full_name":"withObsrvr/nebu"},"commits":[]}"#
            let event = HTTPField.Name("X-GitHub-Event")!
            let signature = HTTPField.Name("X-Hub-Signature-256")!
            for _ in 0..<60 {
                _ = try await client.json("/webhooks/github", method: .post, headers: [event: "push", signature: "sha256=00"], body: push)
            }
            let forged = try await client.json("/webhooks/github", method: .post, headers: [event: "push", signature: "sha256=00"], body: push)
            #expect(forged.status == .tooManyRequests)
            let signed = try await client.json("/webhooks/github", method: .post, headers: [
                event: "push", signature: GitHubWebhook.sign(body: Array(push.utf8), secret: "s3cret"),
            ], body: push)
            #expect(signed.status == .accepted)
        }
    }
}
