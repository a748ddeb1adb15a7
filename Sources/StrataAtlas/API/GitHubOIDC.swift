import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import StrataCore

/// Verifies GitHub Actions OIDC tokens presented with SBOM submissions.
///
/// A token is accepted when its header says `RS256` with a `kid`, its signature checks against
/// that key of the issuer's JWKS (fetched on first use, cached, refetched when it is older than
/// `maximumKeyAge` or when a token names a `kid` it does not hold, at most once per
/// `minimumRefetchGap`), its `iss` is the configured issuer, its `aud` contains the configured
/// audience, `exp` is in the future and `nbf`/`iat` are not, each within `leeway`, and it carries a
/// `repository` claim. Everything else is a ``Rejection`` naming the reason.
public actor GitHubOIDCVerifier {
    public struct Configuration: Sendable {
        /// GitHub Actions' issuer.
        public static let githubActionsIssuer = "https://token.actions.githubusercontent.com"

        public var issuer: String
        /// The audience the workflow asks for (`core.getIDToken(audience)`); required.
        public var audience: String
        /// Where the issuer publishes its keys; default `ISSUER/.well-known/jwks`.
        public var jwksURL: String
        public var leeway: Duration = .seconds(60)
        public var maximumKeyAge: Duration = .seconds(3600)
        public var minimumRefetchGap: Duration = .seconds(30)
        public var fetchTimeout: Duration = .seconds(10)

        public init(audience: String, issuer: String = Self.githubActionsIssuer, jwksURL: String? = nil) {
            self.audience = audience
            self.issuer = issuer
            var base = issuer
            while base.hasSuffix("/") { base.removeLast() }
            self.jwksURL = jwksURL ?? base + "/.well-known/jwks"
        }
    }

    /// Why a token was refused: `reason` is a short stable label (also the metric's), `message` the
    /// explanation a client gets.
    public struct Rejection: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var message: String
        /// The issuer's keys could not be fetched: not the client's fault (503, not 401).
        public var unavailable = false
        public var description: String { "\(reason): \(message)" }
    }

    /// The claims Strata records with a submission.
    public struct Claims: Sendable, Equatable {
        public var issuer: String
        public var subject: String?
        public var repository: String
        public var repositoryID: String?
        public var repositoryOwner: String?
        public var actor: String?
        public var workflow: String?
        public var ref: String?
        public var sha: String?
        public var runID: String?
        public var runAttempt: String?
        public var eventName: String?
        public var jobWorkflowRef: String?

        /// As stored in the event (`oidc`): only the claims the token had.
        public var json: JSONValue {
            var o: [String: JSONValue] = ["issuer": .string(issuer), "repository": .string(repository)]
            let optional: [(String, String?)] = [
                ("subject", subject), ("repository_id", repositoryID), ("repository_owner", repositoryOwner), ("actor", actor),
                ("workflow", workflow), ("ref", ref), ("sha", sha), ("run_id", runID), ("run_attempt", runAttempt),
                ("event_name", eventName), ("job_workflow_ref", jobWorkflowRef),
            ]
            for (k, v) in optional { if let v { o[k] = .string(v) } }
            return .object(o)
        }
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger
    private let now: @Sendable () -> Date
    private var keys: KeySet?
    private var lastFetch: ContinuousClock.Instant?
    private var fetching: Task<KeySet, any Error>?
    private var lastError: String?
    /// How many times the JWKS was fetched (successfully or not).
    public private(set) var fetches = 0

    struct KeySet: Sendable {
        let collection: JWTKeyCollection
        let kids: Set<String>
    }

    public init(configuration: Configuration, client: HTTPClient = .shared, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        self.now = now
    }

    /// Whether a bearer credential has the shape of a JWT (three base64url parts).
    public static func looksLikeJWT(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].count > 0 && parts[1].count > 0
    }

    /// The verified claims of `token`, or a ``Rejection``.
    public func verify(_ token: String) async throws(Rejection) -> Claims {
        do {
            return try await check(token)
        } catch {
            Counter(label: "strata_sbom_oidc_rejections_total", dimensions: [("reason", error.reason)]).increment()
            logger.warning("GitHub OIDC token refused", metadata: ["reason": "\(error.reason)", "detail": "\(error.message)"])
            throw error
        }
    }

    private func check(_ token: String) async throws(Rejection) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Self.base64URLDecode(parts[0]), let header = try? JSONParser.parse(headerBytes),
            header.objectValue != nil
        else {
            throw Rejection(reason: "malformed", message: "the bearer token is not a JWT (header.payload.signature in base64url)")
        }
        let alg = header["alg"]?.stringValue ?? ""
        guard alg == "RS256" else {
            throw Rejection(reason: "algorithm", message: "token algorithm '\(alg)' is not accepted: GitHub signs OIDC tokens with RS256")
        }
        guard let kid = header["kid"]?.stringValue, !kid.isEmpty else {
            throw Rejection(reason: "no_kid", message: "the token header has no 'kid' naming the issuer's key")
        }
        var set = try await keySet(refetchingIfOlderThan: configuration.maximumKeyAge)
        if !set.kids.contains(kid) {
            // Keys rotate: look once more (not more often than the gap allows) before refusing.
            set = try await keySet(refetchingIfOlderThan: configuration.minimumRefetchGap)
            guard set.kids.contains(kid) else {
                throw Rejection(reason: "unknown_kid", message: "key '\(kid)' is not among the issuer's keys (\(configuration.jwksURL))")
            }
        }
        let payload: Payload
        do {
            payload = try await set.collection.verify(token, as: Payload.self)
        } catch {
            throw Rejection(reason: "signature", message: "the token's signature does not verify with key '\(kid)'")
        }
        guard payload.iss == configuration.issuer else {
            throw Rejection(reason: "issuer", message: "token issuer '\(payload.iss ?? "")' is not the configured '\(configuration.issuer)'")
        }
        guard payload.aud?.values.contains(configuration.audience) == true else {
            throw Rejection(reason: "audience",
                message: "token audience \(payload.aud?.values ?? []) does not include the configured '\(configuration.audience)'")
        }
        let t = now().timeIntervalSince1970
        let leeway = Double(configuration.leeway.components.seconds)
        guard let exp = payload.exp else { throw Rejection(reason: "expired", message: "the token has no 'exp'") }
        guard exp + leeway > t else {
            throw Rejection(reason: "expired", message: "the token expired at \(RFC3339.format(Date(timeIntervalSince1970: exp)))")
        }
        if let nbf = payload.nbf, nbf - leeway > t {
            throw Rejection(reason: "not_yet_valid", message: "the token is not valid before \(RFC3339.format(Date(timeIntervalSince1970: nbf)))")
        }
        if let iat = payload.iat, iat - leeway > t {
            throw Rejection(reason: "not_yet_valid", message: "the token was issued in the future (\(RFC3339.format(Date(timeIntervalSince1970: iat))))")
        }
        guard let repository = payload.repository, repository.split(separator: "/").count == 2 else {
            throw Rejection(reason: "no_repository", message: "the token has no 'repository' claim (OWNER/REPO)")
        }
        return Claims(issuer: configuration.issuer, subject: payload.sub, repository: repository, repositoryID: payload.repository_id,
            repositoryOwner: payload.repository_owner, actor: payload.actor, workflow: payload.workflow, ref: payload.ref, sha: payload.sha,
            runID: payload.run_id, runAttempt: payload.run_attempt, eventName: payload.event_name, jobWorkflowRef: payload.job_workflow_ref)
    }

    /// The cached keys, or freshly fetched ones when the cache is older than `age` (one fetch at a
    /// time; concurrent callers share it). A failed fetch keeps the keys held before.
    private func keySet(refetchingIfOlderThan age: Duration) async throws(Rejection) -> KeySet {
        let since = lastFetch.map { ContinuousClock.now - $0 }
        if let keys, let since, since < age { return keys }
        // Without keys after a failed fetch, do not ask again before the gap has passed.
        if keys == nil, fetching == nil, let since, since < configuration.minimumRefetchGap, let lastError {
            throw unavailable(lastError)
        }
        let task: Task<KeySet, any Error>
        if let fetching {
            task = fetching
        } else {
            let (client, url, timeout) = (self.client, configuration.jwksURL, configuration.fetchTimeout)
            task = Task { try await Self.fetch(client: client, url: url, timeout: timeout) }
            fetching = task
            fetches += 1
        }
        do {
            let fetched = try await task.value
            if fetching == task {
                fetching = nil
                keys = fetched
                lastFetch = .now
                lastError = nil
            }
            return fetched
        } catch {
            if fetching == task {
                fetching = nil
                lastFetch = .now
                lastError = "\(error)"
                logger.warning("could not fetch the OIDC issuer's keys", metadata: ["url": "\(configuration.jwksURL)", "error": "\(error)"])
            }
            if let keys { return keys }
            throw unavailable("\(error)")
        }
    }

    private func unavailable(_ error: String) -> Rejection {
        Rejection(reason: "jwks_unavailable", message: "the issuer's keys could not be fetched from \(configuration.jwksURL): \(error)",
            unavailable: true)
    }

    private static func fetch(client: HTTPClient, url: String, timeout: Duration) async throws -> KeySet {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout / .milliseconds(1))))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw StrataError(.invalidInput, "HTTP \(response.status.code) from \(url)") }
        let jwks: JWKS
        do {
            jwks = try JSONDecoder().decode(JWKS.self, from: Data(body.readableBytesView))
        } catch {
            throw StrataError(.invalidInput, "\(url) did not return a JWKS: \(error)")
        }
        let collection = JWTKeyCollection()
        var kids: Set<String> = []
        for key in jwks.keys where key.keyType == .rsa && (key.algorithm == nil || key.algorithm == .rs256) {
            guard let kid = key.keyIdentifier?.string else { continue }
            do {
                try await collection.add(jwk: key)
                kids.insert(kid)
            } catch {
                continue  // a key jwt-kit cannot use (too small, malformed) is not one a valid token can name
            }
        }
        return KeySet(collection: collection, kids: kids)
    }

    static func base64URLDecode(_ s: Substring) -> [UInt8]? {
        var text = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text.append("=") }
        return Data(base64Encoded: text).map(Array.init)
    }

    /// The token's payload as jwt-kit decodes it; claims are checked by `check` with the injected clock.
    struct Payload: JWTPayload {
        struct Audience: Codable, Sendable {
            var values: [String]
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
            }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                try c.encode(values)
            }
        }
        var iss: String?
        var aud: Audience?
        var sub: String?
        var exp: Double?
        var nbf: Double?
        var iat: Double?
        var repository: String?
        var repository_id: String?
        var repository_owner: String?
        var actor: String?
        var workflow: String?
        var ref: String?
        var sha: String?
        var run_id: String?
        var run_attempt: String?
        var event_name: String?
        var job_workflow_ref: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
