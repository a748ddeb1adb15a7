import Foundation
import StrataAtlasModel
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataAPI
import StrataApp
import StrataAtlas
import StrataCore
import StrataProjections
import StrataTestSupport
import Testing

/// A git repository made for a test, with commits by known authors on known dates.
struct ScratchGitRepository {
    let path: URL

    init(commits: [(name: String, email: String, date: String)]) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-git-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        try Self.git(["init", "-q"], in: path)
        for (i, c) in commits.enumerated() {
            try Self.git(["commit", "-q", "--allow-empty", "-m", "commit \(i)"], in: path, env: [
                "GIT_AUTHOR_NAME": c.name, "GIT_AUTHOR_EMAIL": c.email, "GIT_AUTHOR_DATE": c.date,
                "GIT_COMMITTER_NAME": c.name, "GIT_COMMITTER_EMAIL": c.email, "GIT_COMMITTER_DATE": c.date,
            ])
        }
    }

    static func git(_ args: [String], in dir: URL, env: [String: String] = [:]) throws {
        let run = try SpawnedProcess.run("git", ["-C", dir.path] + args, searchPath: true,
            environment: ProcessInfo.processInfo.environment.merging(env) { _, new in new }, timeout: .seconds(120))
        guard run.status == .exited(0) else { throw StrataError(.invalidInput, "git \(args) failed: \(String(decoding: run.stderr, as: UTF8.self))") }
    }

    func remove() { try? FileManager.default.removeItem(at: path) }
}

@Suite(.serialized) struct AtlasPipelineTests {
    static var atlas: URL { TestEnvironment.sharedData.appendingPathComponent("atlas") }

    /// Ingests every SBOM that names its repository, the grants, the registry responses and a git
    /// history, and runs the Atlas projection until caught up.
    static func ingestAll(_ strata: StrataContext, git: ScratchGitRepository? = nil) async throws {
        let drafts = try allDrafts(strata.schemas, git: git)
        for start in stride(from: 0, to: drafts.count, by: 200) {
            try await strata.producer.append(Array(drafts[start..<min(start + 200, drafts.count)]))
        }
        try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()], settings: loadedMachineSettings(), timeout: .seconds(480))
    }

    /// The Atlas projection serializes its partitions' batches (an advisory lock); with the whole
    /// suite running on 2 cores a batch can wait its turn past the 30 s default deadline and be
    /// cancelled and redone again and again. Longer deadlines and leases let queued batches finish.
    static func loadedMachineSettings() -> WorkerSettings {
        var settings = ProjectionHarness.fastSettings()
        settings.batchDeadline = .seconds(120)
        settings.leaseTTL = .seconds(10)
        return settings
    }

    /// The events of every real input: SBOMs, grants, registry responses, git histories.
    static func allDrafts(_ schemas: SchemaCatalog, git: ScratchGitRepository? = nil) throws -> [EventDraft] {
        let ingest = AtlasIngest(schemas: schemas)
        let spdx = atlas.appendingPathComponent("sbom/spdx-2.3")
        var drafts: [EventDraft] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: spdx.path).sorted() where !["invalid.spdx.json", "valid.spdx.json"].contains(file) {
            drafts.append(try ingest.sbomDraft(Array(try Data(contentsOf: spdx.appendingPathComponent(file))), source: file, repository: nil))
        }
        drafts += try ingest.grantDrafts(paths: [atlas.appendingPathComponent("opengrants").path])
        for group in AtlasIngest.sampleRegistryGroups {
            drafts += try ingest.registryDrafts(paths: group.map { atlas.appendingPathComponent("registry/\($0)").path })
        }
        if let git {
            let history = try AtlasIngest.readGitHistory(path: git.path.path, months: nil)
            drafts += AtlasIngest.commitDrafts(history.commits, repository: "StellarCN/py-stellar-base", source: "git")
        }
        // A real repository's history: Strata's own.
        // (A source tarball has no history; a shallow clone has at least one commit.)
        let own = try? AtlasIngest.readGitHistory(path: TestEnvironment.repositoryRoot.path, months: nil)
        if let own { drafts += AtlasIngest.commitDrafts(own.commits, repository: "strata-dev/strata", source: "git") }
        return drafts
    }

    static let commits: [(name: String, email: String, date: String)] =
        (0..<6).map { ("Alice", "alice@example.com", "2026-0\($0 + 1)-10T10:00:00Z") }
        + (0..<3).map { ("Bob", "BOB@example.com ", "2026-02-1\($0)T10:00:00Z") }
        + [("Carol", "carol@example.com", "2023-01-01T10:00:00Z")]  // outside the 24-month window
        + (0..<5).map { ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", "2026-03-0\($0 + 1)T10:00:00Z") }

    @Test func theGraphFromRealDataThroughTheAPI() async throws {
        let git = try ScratchGitRepository(commits: Self.commits)
        defer { git.remove() }
        try await APIHarness.withAPI { strata, client in
            try await Self.ingestAll(strata, git: git)
            // py-stellar-sdk's SBOM: 109 packages, 108 depends-on edges (three dependencies in two versions).
            let repo = "pkg:github/StellarCN/py-stellar-base"
            let deps = try await client.json("/repos/\(repo)/depends-on")
            #expect(deps.status == .ok)
            let edges = try #require(deps.json.arrayValue)
            #expect(edges.count == 108)
            #expect(edges.allSatisfy { $0["confidence"] == "verified-sbom" })
            #expect(Set(edges.compactMap { $0["canonical_id"]?.stringValue }).count == 105)
            let submissions = try await client.json("/ingest/sbom?repository=StellarCN/py-stellar-base")
            #expect(submissions.json["items"]?.arrayValue?.first?["package_count"] == .int(109))
            #expect(submissions.json["items"]?.arrayValue?.first?["dependency_count"] == .int(108))
            // run1 and run2 differ only in namespace and time: one submission.
            let backend = try await client.json("/ingest/sbom?repository=SCF-Public-Goods-Maintenance/pg-atlas-backend")
            #expect(backend.json["total"] == .int(2))  // v372 and v381 (run2 was a duplicate of run1)

            // The repo belongs to the grants project that names it; the project is live.
            let detail = try await client.json("/repos/\(repo)")
            #expect(detail.json["project_id"] == "daoip-5:scf:project:python_stellar_sdk")
            #expect(detail.json["vertex_type"] == "repo")
            let project = try await client.json("/projects/daoip-5:scf:project:python_stellar_sdk")
            #expect(project.json["activity_status"] == "live")
            // Criticality: a live project's repo that nothing depends on seeds; its dependencies score.
            let requests = try await client.json("/repos/pkg:pypi/requests")
            #expect((requests.json["criticality_score"]?.intValue ?? 0) >= 1)
            // Registry: requests' own dependencies hang below it (inferred), so they are reached too.
            let requestsDeps = try await client.json("/repos/pkg:pypi/requests/depends-on")
            #expect(requestsDeps.json.arrayValue?.contains { $0["canonical_id"] == "pkg:pypi/idna" && $0["confidence"] == "inferred-shadow" } == true)
            #expect((try await client.json("/repos/pkg:pypi/idna")).json["criticality_score"]?.intValue ?? 0 >= 1)

            // Contributors: bots excluded, emails hashed (lower-cased, trimmed), never stored raw.
            let contributors = try await client.json("/repos/\(repo)/contributors")
            let people = try #require(contributors.json.arrayValue)
            #expect(people.map { $0["name"]?.stringValue } == ["Alice", "Bob", "Carol"])
            #expect(people[1]["email_hash"]?.stringValue == AtlasIngest.emailHash("bob@example.com"))
            // Pony factor over the 24 months up to the newest commit: Alice 6 of 9 -> 1.
            #expect(detail.json["pony_factor"] == .int(1))
            #expect(project.json["pony_factor"] == .int(1))
            // (Payloads read back through the log: large ones are stored compressed.)
            var commitEvents: [Event] = []
            for p in 0..<(try await strata.log.topic(named: "commits").partitions) {
                commitEvents += try await strata.log.read(topic: "commits", partition: p, from: 0, limit: 10_000)
            }
            #expect(!commitEvents.isEmpty)
            #expect(!commitEvents.contains { String(decoding: $0.payload, as: UTF8.self).contains("example.com") })

            // Lists: PG Atlas's {items, total, limit, offset}, sorting, search, bad parameters.
            let projects = try await client.json("/projects?limit=5&sort=criticality_score:desc")
            // 602 records, one id twice (daoip-5:scf:project:wellspring): 601 projects.
            #expect(projects.json["total"] == .int(601))
            #expect(projects.json["items"]?.arrayValue?.count == 5)
            #expect(projects.json["items"]?.arrayValue?.first?["canonical_id"] == "daoip-5:scf:project:python_stellar_sdk")
            let search = try await client.json("/projects?search=python%20stellar")
            #expect((search.json["items"]?.arrayValue ?? []).contains { $0["canonical_id"] == "daoip-5:scf:project:python_stellar_sdk" })
            #expect(try await client.json("/projects?sort=bogus:asc").status == .unprocessableContent)
            #expect(try await client.json("/projects?limit=500").status == .badRequest)
            #expect(try await client.json("/projects/daoip-5:scf:project:nope").status == .notFound)
            let repos = try await client.json("/repos?sort=criticality_score:desc&limit=3")
            #expect(repos.status == .ok)
            #expect(try await client.json("/repos/pkg:github/nobody/nothing").status == .notFound)
            let metadata = try await client.json("/metadata")
            #expect(metadata.json["total_projects"] == .int(601))
            #expect((metadata.json["total_dependency_edges"]?.intValue ?? 0) >= 108)

            // Beyond PG Atlas: risk view and the bulk export.
            let risk = try await client.json("/risk?limit=10")
            #expect(risk.status == .ok)
            let export = try await client.json("/graph/export?format=json")
            #expect((export.json["nodes"]?.arrayValue?.count ?? 0) > 100)
            let graphml = try await client.executeRequest(uri: "/graph/export?format=graphml", method: .get, headers: [:], body: nil)
            #expect(String(buffer: graphml.body).contains("<graphml"))
            // Strata's own history is in the graph too.
            // (The tests run in a clone with history; a commit-less checkout fails here, saying so.)
            let own = try AtlasIngest.readGitHistory(path: TestEnvironment.repositoryRoot.path, months: nil)
            try #require(!own.commits.isEmpty, "the repository has no commits to read")
            let strataRepo = try await client.json("/repos/pkg:github/strata-dev/strata/contributors")
            let ownContributors = try #require(strataRepo.json.arrayValue)
            #expect(ownContributors.count == Set(own.commits.map(\.emailHash)).count)
            let ownCommits = ownContributors.reduce(0) { $0 + ($1["number_of_commits"]?.intValue ?? 0) }
            #expect(ownCommits == own.commits.count)
            let contributor = try await client.json("/contributors/\(AtlasIngest.emailHash("alice@example.com"))")
            #expect(contributor.json["total_commits"] == .int(6))
        }
    }

    /// Upload and webhook endpoints: authentication, validation, nothing appended on refusal.
    @Test func uploadsAndWebhooks() async throws {
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections([AtlasProjection()])
            var deps = strata.apiDependencies(writeToken: APIHarness.token, metrics: false, webhookSecret: "s3cret")
            deps.rateLimiter = nil
            let app = Application(router: buildRouter(deps, routes: [AtlasRoutes()]), logger: strata.logger)
            try await app.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(APIHarness.token)"]
                let spdx = try String(contentsOf: Self.atlas.appendingPathComponent("sbom/spdx-2.3/nebu_v381.spdx.json"), encoding: .utf8)
                #expect(try await client.json("/ingest/sbom", method: .post, body: spdx).status == .unauthorized)
                let bad = try await client.json("/ingest/sbom?repository=a/b", method: .post, headers: auth, body: #"{"spdxVersion": "SPDX-2.3", "packages": 3}"#)
                #expect(bad.status == .unprocessableContent)
                #expect(bad.json["message"]?.stringValue?.contains("/packages: expected array") == true)
                #expect(try await strata.log.endOffsets(topic: "sbom").reduce(0, +) == 0)
                let ok = try await client.json("/ingest/sbom", method: .post, headers: auth, body: spdx)
                #expect(ok.status == .accepted)
                #expect(ok.json["message"] == "queued")
                let id = try #require(ok.json["submission_id"]?.stringValue)
                #expect(try await client.json("/ingest/sbom/\(id)").json["status"] == "pending")
                let again = try await client.json("/ingest/sbom", method: .post, headers: auth, body: spdx)
                #expect(again.json["message"] == "duplicate skipped")
                try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()])
                #expect(try await client.json("/ingest/sbom/\(id)").json["status"] == "processed")
                #expect(try await client.json("/ingest/sbom/9-9").status == .notFound)

                // SPDX tag-value as text/spdx: the log keeps its text, the projection reads it back.
                let tagValue = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent(
                    "Tests/Fixtures/sbom-conformance/spdx/tools-python__tests__spdx__data__formats__SPDXSBOMExample.tag"), encoding: .utf8)
                var textAuth = auth
                textAuth[.contentType] = "text/spdx"
                let tv = try await client.json("/ingest/sbom?repository=spdx/tools-python", method: .post, headers: textAuth, body: tagValue)
                #expect(tv.status == .accepted, "\(tv.json)")
                #expect(tv.json["package_count"] == .int(3))
                let brokenTV = try await client.json("/ingest/sbom?repository=spdx/tools-python", method: .post, headers: textAuth,
                    body: tagValue.replacingOccurrences(of: "SPDXVersion: SPDX-2.2", with: "SPDXVersion: SPDX-2.2\nCreated: soon"))
                #expect(brokenTV.status == .unprocessableContent)
                #expect(brokenTV.json["message"]?.stringValue?.contains(": Created is given twice (first on line") == true, "\(brokenTV.json)")
                try await ProjectionHarness.runUntilCaughtUp(strata, [AtlasProjection()])
                let submissions = try await client.json("/ingest/sbom?repository=spdx/tools-python").json["items"]?.arrayValue ?? []
                #expect(submissions.count == 1)
                #expect(submissions.first?["format"] == "spdx-2.2-tag-value")
                #expect(submissions.first?["status"] == "processed")
                #expect(submissions.first?["package_count"] == .int(3))

                // GitHub push webhook.
                let push = #"{"repository":{"full_name":"withObsrvr/nebu"},"commits":[{"id":"0123456789abcdef0123456789abcdef01234567","timestamp":"2026-05-01T10:00:00Z","author":{"name":"Dana","email":"dana@example.com"}}]}"#
                let unsigned = try await client.json("/webhooks/github", method: .post, headers: [HTTPField.Name("X-GitHub-Event")!: "push"], body: push)
                #expect(unsigned.status == .unauthorized)
                let forged = try await client.json("/webhooks/github", method: .post, headers: [
                    HTTPField.Name("X-GitHub-Event")!: "push", HTTPField.Name("X-Hub-Signature-256")!: GitHubWebhook.sign(body: Array(push.utf8), secret: "wrong"),
                ], body: push)
                #expect(forged.status == .unauthorized)
                #expect(try await strata.log.endOffsets(topic: "commits").reduce(0, +) == 0)
                let signed = try await client.json("/webhooks/github", method: .post, headers: [
                    HTTPField.Name("X-GitHub-Event")!: "push", HTTPField.Name("X-Hub-Signature-256")!: GitHubWebhook.sign(body: Array(push.utf8), secret: "s3cret"),
                ], body: push)
                #expect(signed.status == .accepted)
                #expect(try await strata.log.endOffsets(topic: "commits").reduce(0, +) == 1)
                let stored = try await strata.log.read(topic: "commits", partition: Partitioner.partition(forKey: "withObsrvr/nebu", partitions: 4), from: 0, limit: 1)
                #expect(!String(decoding: stored[0].payload, as: UTF8.self).contains("dana@example.com"))
            }
        }
    }

    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections([AtlasProjection()])
            var deps = strata.apiDependencies(writeToken: nil, metrics: false)
            // Behind a proxy: clients are the addresses it forwards.
            deps.rateLimiter = RateLimiter(perMinute: 2, trustForwardedFor: true, clock: { Date(timeIntervalSince1970: 1_800_000_030) })
            let app = Application(router: buildRouter(deps, routes: [AtlasRoutes()]), logger: strata.logger)
            try await app.test(.router) { client in
                let headers: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7"]
                #expect(try await client.json("/metadata", headers: headers).status == .ok)
                #expect(try await client.json("/metadata", headers: headers).status == .ok)
                let limited = try await client.executeRequest(uri: "/metadata", method: .get, headers: headers, body: nil)
                #expect(limited.status == .tooManyRequests)
                #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
                // Another client has its own budget.
                #expect(try await client.json("/metadata", headers: [HTTPField.Name("X-Forwarded-For")!: "198.51.100.1"]).status == .ok)
                // What the client itself put first does not matter: the proxy's appended entry does.
                let prefixed: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "192.0.2.55, 203.0.113.7"]
                #expect(try await client.executeRequest(uri: "/metadata", method: .get, headers: prefixed, body: nil).status == .tooManyRequests)
            }
        }
    }

    /// Without a trusted proxy, clients are their connections' addresses: a client cannot buy a
    /// fresh budget by claiming another `X-Forwarded-For`. Over real sockets from 127.0.0.1.
    @Test func rateLimitKeysOnThePeerUnlessTold() async throws {
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections([AtlasProjection()])
            var deps = strata.apiDependencies(writeToken: nil, metrics: false)
            deps.rateLimiter = RateLimiter(perMinute: 2, clock: { Date(timeIntervalSince1970: 1_800_000_030) })
            let app = Application(router: buildRouter(deps, routes: [AtlasRoutes()]), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                logger: strata.logger)
            try await app.test(.live) { client in
                for address in ["203.0.113.7", "198.51.100.1"] {
                    let response = try await client.executeRequest(
                        uri: "/metadata", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: address], body: nil)
                    #expect(response.status == .ok)
                }
                let spoofed = try await client.executeRequest(
                    uri: "/metadata", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "192.0.2.99"], body: nil)
                #expect(spoofed.status == .tooManyRequests)
                // Other routes keep their own budget.
                #expect(try await client.executeRequest(uri: "/health", method: .get, headers: [:], body: nil).status == .ok)
            }
        }
    }
}
