import AsyncHTTPClient
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import NIOCore
import StrataAPI
import StrataApp
import StrataAtlas
import StrataCore
import StrataTestSupport
import Synchronization
import Testing

/// A GitHub-like OIDC issuer on loopback: serves `/.well-known/jwks` with the keys it is told to,
/// counting fetches.
final class FakeIssuer: Sendable {
    let keys = Mutex<[JSONValue]>([])
    let fetches = Mutex(0)

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.get("/.well-known/jwks") { _, _ -> Response in
            self.fetches.withLock { $0 += 1 }
            let body = JSONWriter.string(.object(["keys": .array(self.keys.withLock { $0 })]))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

/// An RSA key made for the test, as a signer and as the JWK an issuer publishes.
struct TestSigningKey {
    let kid: String
    let signer: JWTKeyCollection
    let jwk: JSONValue

    init(kid: String) async throws {
        let key = try Insecure.RSA.PrivateKey(backing: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let (n, e) = try key.publicKey.getKeyPrimitives()
        self.kid = kid
        signer = JWTKeyCollection()
        await signer.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        jwk = ["kty": "RSA", "alg": "RS256", "use": "sig", "kid": .string(kid), "n": .string(Self.base64URL(n)), "e": .string(Self.base64URL(e))]
    }

    /// Signs `claims` with this key, the header naming `kid` (another key's, to forge a signature).
    func sign(_ claims: GitHubClaims, kid: String? = nil) async throws -> String {
        var header = JWTHeader()
        header.kid = kid ?? self.kid
        header.alg = "RS256"
        // No kid argument: jwt-kit would write it over the header's; this collection's only key is its default.
        return try await signer.sign(claims, header: header)
    }

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// The claims of a GitHub Actions OIDC token (as GitHub documents them), for signing.
struct GitHubClaims: JWTPayload {
    var iss = GitHubOIDCVerifier.Configuration.githubActionsIssuer
    var aud = "strata-test"
    var sub = "repo:withObsrvr/nebu:ref:refs/heads/main"
    var exp: Int
    var nbf: Int
    var iat: Int
    var repository = "withObsrvr/nebu"
    var repository_id = "812345678"
    var repository_owner = "withObsrvr"
    var actor = "dana"
    var workflow = "sbom"
    var ref = "refs/heads/main"
    var sha = "0123456789abcdef0123456789abcdef01234567"
    var run_id = "1001"
    var run_attempt = "1"
    var event_name = "push"

    init(now: Int) {
        exp = now + 300
        nbf = now - 10
        iat = now - 10
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

@Suite struct GitHubOIDCTests {
    static let now = 1_800_000_000
    static var atlas: URL { TestEnvironment.sharedData.appendingPathComponent("atlas") }

    /// Every token the issue names: a valid one accepted with its claims recorded; expired, wrong
    /// audience, wrong issuer, another repository, a forged signature, an unknown `kid` (after
    /// refetching the keys), `alg: none` and HS256 each refused with 401 and nothing appended; a
    /// rotated-in key accepted after the refetch; the operator's API token still works.
    @Test func tokensAreCheckedBeforeAnythingIsAppended() async throws {
        let issuer = FakeIssuer()
        let (k1, forger, rotated) = (try await TestSigningKey(kid: "k1"), try await TestSigningKey(kid: "k2"), try await TestSigningKey(kid: "k3"))
        issuer.keys.withLock { $0 = [k1.jwk] }
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections([AtlasProjection()])
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await issuer.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let bound = try #require(await iterator.next())
                var configuration = GitHubOIDCVerifier.Configuration(audience: "strata-test", jwksURL: "http://127.0.0.1:\(bound)/.well-known/jwks")
                configuration.minimumRefetchGap = .zero
                let verifier = GitHubOIDCVerifier(configuration: configuration, logger: TestEnvironment.logger,
                    now: { Date(timeIntervalSince1970: Double(Self.now)) })
                var deps = strata.apiDependencies(writeToken: APIHarness.token, metrics: false)
                deps.rateLimiter = nil
                let app = Application(router: buildRouter(deps, routes: [AtlasRoutes(oidc: verifier)]), logger: strata.logger)
                let nebu = try String(contentsOf: Self.atlas.appendingPathComponent("sbom/spdx-2.3/nebu_v381.spdx.json"), encoding: .utf8)
                let other = try String(contentsOf: Self.atlas.appendingPathComponent("sbom/spdx-2.3/py-stellar-sdk-a9b110.spdx.json"), encoding: .utf8)
                @Sendable func appended() async throws -> Int64 { try await strata.log.endOffsets(topic: "sbom").reduce(0, +) }

                try await app.test(.router) { client in
                    func submit(_ token: String, _ body: String, query: String = "") async throws -> (status: HTTPResponse.Status, json: JSONValue) {
                        try await client.json("/ingest/sbom\(query)", method: .post, headers: [.authorization: "Bearer \(token)"], body: body)
                    }
                    let claims = GitHubClaims(now: Self.now)

                    // Valid: accepted, for the claim's repository, with the claims recorded.
                    let ok = try await submit(try await k1.sign(claims), nebu)
                    #expect(ok.status == .accepted, "\(ok.json)")
                    #expect(ok.json["repository"] == "withObsrvr/nebu")
                    let id = try #require(ok.json["submission_id"]?.stringValue)
                    #expect(try await appended() == 1)
                    #expect(issuer.fetches.withLock { $0 } == 1)

                    // Each refused with 401, naming why, and nothing appended.
                    func refused(_ token: String, _ why: String, query: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws {
                        let r = try await submit(token, other, query: query)
                        #expect(r.status == .unauthorized, "\(why): \(r.json)", sourceLocation: sourceLocation)
                        #expect(r.json["message"]?.stringValue?.contains(why) == true, "\(r.json)", sourceLocation: sourceLocation)
                        #expect(try await appended() == 1, sourceLocation: sourceLocation)
                    }
                    var expired = claims
                    expired.exp = Self.now - 120  // past the 60 s leeway
                    expired.iat = Self.now - 900
                    expired.nbf = Self.now - 900
                    try await refused(try await k1.sign(expired), "(expired)")
                    var early = claims
                    early.nbf = Self.now + 600
                    try await refused(try await k1.sign(early), "(not_yet_valid)")
                    var audience = claims
                    audience.aud = "someone-else"
                    try await refused(try await k1.sign(audience), "(audience)")
                    var wrongIssuer = claims
                    wrongIssuer.iss = "https://token.actions.example.com"
                    try await refused(try await k1.sign(wrongIssuer), "(issuer)")
                    try await refused(try await k1.sign(claims), "repository claim is 'withObsrvr/nebu'", query: "?repository=stellar/py-stellar-base")
                    try await refused(try await forger.sign(claims, kid: "k1"), "(signature)")
                    let header = TestSigningKey.base64URL(Array(#"{"alg":"none","typ":"JWT","kid":"k1"}"#.utf8))
                    let body = TestSigningKey.base64URL(Array(JSONWriter.string(["iss": .string(claims.iss), "aud": "strata-test",
                        "exp": .int(Self.now + 300), "repository": "withObsrvr/nebu"]).utf8))
                    try await refused("\(header).\(body).", "(algorithm)")
                    let hs = TestSigningKey.base64URL(Array(#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#.utf8))
                    try await refused("\(hs).\(body).c2lnbmF0dXJl", "(algorithm)")
                    try await refused("not-a-jwt", "bearer token")

                    // An unknown kid makes the verifier look at the issuer's keys again before refusing.
                    let fetchesBefore = issuer.fetches.withLock { $0 }
                    let byRotatedKey = try await rotated.sign(claims)
                    try await refused(byRotatedKey, "(unknown_kid)")
                    #expect(issuer.fetches.withLock { $0 } == fetchesBefore + 1)
                    // Once the issuer publishes it, the same token is accepted.
                    issuer.keys.withLock { $0.append(rotated.jwk) }
                    let afterRotation = try await submit(byRotatedKey, other)
                    #expect(afterRotation.status == .accepted, "\(afterRotation.json)")
                    #expect(afterRotation.json["repository"] == "withObsrvr/nebu")
                    #expect(try await appended() == 2)

                    // The operator's token keeps working, with the repository it names.
                    let byOperator = try await submit(APIHarness.token, other, query: "?repository=stellar/py-stellar-sdk")
                    #expect(byOperator.status == .accepted, "\(byOperator.json)")

                    // The claims are in the event and in the submission's status.
                    let event = try #require(try await strata.log.read(topic: "sbom",
                        partition: Partitioner.partition(forKey: "withObsrvr/nebu", partitions: 4), from: 0, limit: 10).first)
                    let payload = try JSONParser.parse(event.payload)
                    #expect(payload["oidc"]?["repository"] == "withObsrvr/nebu")
                    #expect(payload["oidc"]?["sha"] == .string(claims.sha))
                    #expect(payload["oidc"]?["workflow"] == "sbom")
                    #expect(payload["submitted_by"] == "dana")
                    try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: ProjectionHarness.fastSettings(batchSize: 1000), timeout: .seconds(300))
                    let status = try await client.json("/ingest/sbom/\(id)")
                    #expect(status.json["status"] == "processed")
                    #expect(status.json["actor_claim"] == "dana")
                    #expect(status.json["oidc_claims"]?["run_id"] == "1001")
                    #expect(status.json["oidc_claims"]?["ref"] == "refs/heads/main")
                }
                group.cancelAll()
            }
        }
    }

    /// When the issuer cannot be reached and no keys are cached, a token cannot be judged: 503, not
    /// 401, and nothing appended; a token-shaped bearer without OIDC configured is told so.
    @Test func unreachableIssuerIsUnavailableNotUnauthorized() async throws {
        try await TestEnvironment.withStrata { strata in
            var configuration = GitHubOIDCVerifier.Configuration(audience: "strata-test", jwksURL: "http://127.0.0.1:9/.well-known/jwks")
            configuration.fetchTimeout = .seconds(2)
            let verifier = GitHubOIDCVerifier(configuration: configuration, logger: TestEnvironment.logger)
            let key = try await TestSigningKey(kid: "k1")
            let token = try await key.sign(GitHubClaims(now: Int(Date().timeIntervalSince1970)))
            let nebu = try String(contentsOf: Self.atlas.appendingPathComponent("sbom/spdx-2.3/nebu_v381.spdx.json"), encoding: .utf8)
            var deps = strata.apiDependencies(writeToken: APIHarness.token, metrics: false)
            deps.rateLimiter = nil
            for (routes, status, code) in [(AtlasRoutes(oidc: verifier), HTTPResponse.Status.serviceUnavailable, "oidc_keys_unavailable"),
                                           (AtlasRoutes(), .unauthorized, "oidc_disabled")] {
                let app = Application(router: buildRouter(deps, routes: [routes]), logger: strata.logger)
                try await app.test(.router) { client in
                    let r = try await client.json("/ingest/sbom", method: .post, headers: [.authorization: "Bearer \(token)"], body: nebu)
                    #expect(r.status == status, "\(r.json)")
                    #expect(r.json["error"] == .string(code), "\(r.json)")
                }
            }
            #expect(try await strata.log.endOffsets(topic: "sbom").reduce(0, +) == 0)
        }
    }
}
