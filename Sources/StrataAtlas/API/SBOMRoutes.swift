import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PostgresNIO
import StrataAPI
import StrataAtlasModel
import StrataCore
import StrataProjections

/// SBOM upload (authenticated), submission status, and GitHub push webhooks.
struct SBOMRoutes {
    var oidc: GitHubOIDCVerifier?

    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger

        // POST /ingest/sbom?repository=OWNER/REPO with the API token or a GitHub Actions OIDC token
        // as the bearer; the body is the SBOM.
        router.post("/ingest/sbom") { [oidc] request, _ -> Response in
            let claims = try await Self.authenticate(request, deps, oidc: oidc)
            var repository = request.stringQuery("repository")
            if let claims {
                // The token speaks for one repository: the SBOM is that repository's, or refused.
                if let repository, repository.lowercased() != claims.repository.lowercased() {
                    Self.rejected("repository")
                    var error = APIError(.unauthorized, "repository_mismatch",
                        "the token's repository claim is '\(claims.repository)', but the SBOM is submitted for '\(repository)'")
                    error.headers[.wwwAuthenticate] = "Bearer"
                    throw error
                }
                repository = claims.repository
            }
            var request = request
            // JSON (SPDX or CycloneDX), or SPDX tag-value as text/spdx (its registered media type) or text/plain.
            let body = try await request.jsonBody(limit: 16 << 20, alsoAccepting: ["text/spdx", "text/plain"])
            let draft = try AtlasIngest(schemas: deps.producer.schemas).sbomDraft(
                body, source: "request body", repository: repository,
                submittedBy: claims.map { $0.actor ?? $0.repository } ?? request.stringQuery("actor"),
                repositoryOption: "the 'repository' query parameter (?repository=OWNER/REPO)", oidc: claims?.json)
            let receipt = try await deps.append([draft])[0]
            let packages = (try? SBOMParser(schemas: nil).parse(payload: draft.payload).packages.count) ?? 0
            return JSONResponse.make([
                "message": .string(receipt.duplicate ? "duplicate skipped" : "queued"),
                "submission_id": .string("\(receipt.partition)-\(receipt.offset)"),
                "repository": draft.payload["repository"] ?? .null, "package_count": .int(packages),
                "semantic_hash": draft.payload["semantic_hash"] ?? .null,
            ], status: .accepted)
        }

        router.get("/ingest/sbom") { request, _ -> Response in
            let limit = try request.intQuery("limit", default: 50, range: 1...200)!
            let offset = try request.intQuery("offset", default: 0, range: 0...10_000_000)!
            let repository = request.stringQuery("repository")
            guard let json = try await JSONPage.one(db, """
                WITH rows AS (SELECT submission_id AS id, repository AS repository_claim, submitted_by AS actor_claim, semantic_hash AS sbom_content_hash,
                                     format, package_count, dependency_count, status, oidc AS oidc_claims, submitted_at
                                FROM atlas.sbom_submissions WHERE (\(repository)::text IS NULL OR repository = \(repository)))
                SELECT json_build_object('items', coalesce((SELECT json_agg(r) FROM (SELECT * FROM rows ORDER BY submitted_at DESC, id
                                          LIMIT \(limit) OFFSET \(offset)) r), '[]'),
                                         'total', (SELECT count(*) FROM rows), 'limit', \(limit), 'offset', \(offset))::text
                """, logger: logger)
            else { throw APIError.notFound("") }
            return rawJSONResponse(json)
        }

        // Status of a submission: processed (in the graph), pending (in the log, not yet applied),
        // or failed (parked as a dead letter with the error).
        router.get("/ingest/sbom/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            let parts = id.split(separator: "-")
            guard parts.count == 2, let partition = Int(parts[0]), let offset = Int64(parts[1]) else {
                throw APIError.badRequest("a submission id is PARTITION-OFFSET, as POST /ingest/sbom returned it")
            }
            if let json = try await JSONPage.one(db, """
                SELECT row_to_json(s)::text FROM (SELECT submission_id AS id, repository AS repository_claim, submitted_by AS actor_claim,
                    semantic_hash AS sbom_content_hash, format, package_count, dependency_count, status, oidc AS oidc_claims, submitted_at
                    FROM atlas.sbom_submissions WHERE submission_id = \(id)) s
                """, logger: logger)
            {
                return rawJSONResponse(json)
            }
            for try await error in try await db.query("""
                SELECT d.error FROM strata.dead_letters d JOIN strata.projections p ON p.projection = d.projection AND p.live_generation = d.generation
                 WHERE d.projection = 'atlas' AND d.topic = 'sbom' AND d.partition = \(partition) AND d.log_offset = \(offset) AND d.status = \(DeadLetters.Status.parked.rawValue)
                """, logger: logger).decode(String.self)
            {
                return JSONResponse.make(["id": .string(id), "status": "failed", "error_detail": .string(error)])
            }
            let ends = try await deps.log.endOffsets(topic: "sbom")
            guard partition >= 0, partition < ends.count, offset < ends[partition] else {
                throw APIError.notFound("no SBOM submission \(id)")
            }
            return JSONResponse.make(["id": .string(id), "status": "pending"])
        }

        // GitHub push webhooks: commits of the pushed repository. The body must be signed with the
        // configured secret (X-Hub-Signature-256); anything else is refused and nothing appended.
        router.post("/webhooks/github") { request, context -> Response in
            guard let secret = deps.webhookSecret, !secret.isEmpty else {
                throw APIError(.forbidden, "webhooks_disabled", "GitHub webhooks are disabled: start the server with --github-webhook-secret")
            }
            var request = request
            let body = try await request.jsonBody(limit: 25 << 20)
            guard let signature = request.headers[GitHubWebhook.signatureHeader],
                GitHubWebhook.verify(body: body, signature: signature, secret: secret)
            else {
                // Counted apart from signed deliveries, which forged ones must not lock out.
                try deps.rateLimiter?.enforce(request, peer: context.remoteAddress, bucket: "POST /webhooks/github (rejected)")
                throw APIError(.unauthorized, "bad_signature", "X-Hub-Signature-256 is missing or does not match the body")
            }
            try deps.rateLimiter?.enforce(request, peer: context.remoteAddress, bucket: "POST /webhooks/github")
            let event = request.headers[GitHubWebhook.eventHeader] ?? ""
            switch event {
            case "ping":
                return JSONResponse.make(["message": "pong"])
            case "push":
                let drafts = try GitHubWebhook.commitDrafts(body)
                let receipts = try await deps.append(drafts)
                return JSONResponse.make(["message": "accepted", "commits": .int(drafts.reduce(0) { $0 + ($1.payload["commits"]?.arrayValue?.count ?? 0) }),
                                          "appended": .int(receipts.filter { !$0.duplicate }.count)], status: .accepted)
            default:
                return JSONResponse.make(["message": .string("event '\(event)' ignored")], status: .accepted)
            }
        }
    }
}

extension SBOMRoutes {
    /// The API token (nil: an operator's submission), or a GitHub Actions OIDC token (its verified
    /// claims); anything else is a 401, or a 503 when the issuer's keys cannot be fetched.
    static func authenticate(_ request: Request, _ deps: APIDependencies, oidc: GitHubOIDCVerifier?) async throws -> GitHubOIDCVerifier.Claims? {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        if let token = deps.writeToken, !token.isEmpty, let bearer, constantTimeEquals(bearer, token) { return nil }
        guard let oidc, let bearer, GitHubOIDCVerifier.looksLikeJWT(bearer) else {
            if oidc == nil, let bearer, GitHubOIDCVerifier.looksLikeJWT(bearer), deps.writeToken != nil {
                var error = APIError(.unauthorized, "oidc_disabled",
                    "this looks like an OIDC token, but OIDC submissions are disabled: start the server with --github-oidc-audience")
                error.headers[.wwwAuthenticate] = "Bearer"
                throw error
            }
            try request.requireWriteToken(deps)
            return nil
        }
        do {
            return try await oidc.verify(bearer)
        } catch {
            if error.unavailable { throw APIError(.serviceUnavailable, "oidc_keys_unavailable", error.message) }
            var failure = APIError(.unauthorized, "invalid_oidc_token", "GitHub OIDC token refused (\(error.reason)): \(error.message)")
            failure.headers[.wwwAuthenticate] = "Bearer error=\"invalid_token\""
            throw failure
        }
    }

    static func rejected(_ reason: String) {
        Counter(label: "strata_sbom_oidc_rejections_total", dimensions: [("reason", reason)]).increment()
    }
}

/// GitHub's webhook signature and push payloads.
public enum GitHubWebhook {
    // Valid field names (constant tokens), so the initializer cannot fail.
    static let signatureHeader = HTTPField.Name("X-Hub-Signature-256")!
    static let eventHeader = HTTPField.Name("X-GitHub-Event")!

    /// `sha256=<hex HMAC-SHA256 of the body>`, compared in constant time.
    public static func verify(body: [UInt8], signature: String, secret: String) -> Bool {
        guard signature.hasPrefix("sha256=") else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        let expected = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        return constantTimeEquals(expected, signature.lowercased())
    }

    public static func sign(body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The commits of a push payload, emails hashed, bots left out.
    public static func commitDrafts(_ body: [UInt8]) throws -> [EventDraft] {
        let payload: JSONValue
        do {
            payload = try JSONParser.parse(body)
        } catch {
            throw StrataError(.malformedJSON, error.description, at: InputLocation(source: "webhook body", line: error.line, column: error.column))
        }
        guard let repository = payload["repository"]?["full_name"]?.stringValue, repository.split(separator: "/").count == 2 else {
            throw StrataError(.invalidInput, "push payload has no repository.full_name", at: InputLocation(source: "webhook body"))
        }
        var commits: [AtlasIngest.Commit] = []
        for c in payload["commits"]?.arrayValue ?? [] {
            guard let sha = c["id"]?.stringValue, let email = c["author"]?["email"]?.stringValue, !email.isEmpty,
                let date = c["timestamp"]?.stringValue.flatMap(RFC3339.parse)
            else { continue }
            let name = c["author"]?["name"]?.stringValue ?? ""
            if AtlasIngest.isBot(name: name, email: email) { continue }
            commits.append(AtlasIngest.Commit(sha: sha.lowercased(), authorName: name, emailHash: AtlasIngest.emailHash(email), authoredAt: date))
        }
        return AtlasIngest.commitDrafts(commits, repository: repository, source: "github-webhook")
    }
}
