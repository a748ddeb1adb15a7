import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StrataAPI
import StrataATProto
import StrataATProtoIndex
import StrataApp
import StrataCore
import StrataProjections
import StrataTestSupport
import Testing

/// Real repository exports through the log into the index and out of `listReposByCollection`.
@Suite struct ATProtoIndexTests {
    static func car(_ name: String) -> String { ATProtoDataModelTests.cars.appendingPathComponent("\(name).repo.car").path }

    @Test func repositoryExportsAreIndexedAndListedByCollection() async throws {
        let drafts = try RepositoryIngest.drafts(paths: [Self.car("fakermaker"), Self.car("greenground")], options: .init(host: "pds.example.com"))
        let repos = try [Self.car("fakermaker"), Self.car("greenground")].map { try RepositoryExport(car: Array(try Data(contentsOf: URL(fileURLWithPath: $0)))) }
        #expect(drafts.count == repos.map(\.records.count).reduce(0, +) + 2)
        try await TestEnvironment.withStrata { strata in
            let first = try await strata.producer.append(drafts)
            #expect(first.allSatisfy { !$0.duplicate })
            // The same exports again: nothing new.
            let again = try await strata.producer.append(try RepositoryIngest.drafts(paths: [Self.car("greenground"), Self.car("fakermaker")]))
            #expect(again.allSatisfy { $0.duplicate })
            try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))

            let app = Application(router: buildRouter(strata.apiDependencies(writeToken: nil, metrics: false), routes: [ATProtoRoutes()]), logger: strata.logger)
            try await app.test(.router) { client in
                // Every collection of every repository lists that repository.
                var expected: [String: Set<String>] = [:]
                for repo in repos { for r in repo.records { expected[r.collection, default: []].insert(repo.commit.did) } }
                #expect(!expected.isEmpty)
                for (collection, dids) in expected {
                    let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=\(collection)")
                    #expect(page.status == .ok)
                    let listed = Set(page.json["repos"]?.arrayValue?.compactMap { $0["did"]?.stringValue } ?? [])
                    #expect(listed == dids, "\(collection)")
                }
                // Paging one at a time through a collection both repositories hold, if any; else any collection.
                let shared = expected.first { $0.value.count == 2 } ?? expected.first!
                var seen: [String] = []
                var cursor: String?
                repeat {
                    let uri = "/xrpc/com.atproto.sync.listReposByCollection?collection=\(shared.key)&limit=1" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.json(uri)
                    seen += page.json["repos"]?.arrayValue?.compactMap { $0["did"]?.stringValue } ?? []
                    cursor = page.json["cursor"]?.stringValue
                } while cursor != nil && seen.count < 10
                #expect(seen == shared.value.sorted())

                // Bad parameters, in XRPC's error shape.
                let missing = try await client.json("/xrpc/com.atproto.sync.listReposByCollection")
                #expect(missing.status == .badRequest && missing.json["error"] == "InvalidRequest")
                let badNSID = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=not-an-nsid")
                #expect(badNSID.status == .badRequest && badNSID.json["error"] == "InvalidRequest")
                let badLimit = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=app.bsky.feed.post&limit=5000")
                #expect(badLimit.status == .badRequest && badLimit.json["error"] == "InvalidRequest")
                let none = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=io.atcr.manifest")
                #expect(none.status == .ok && none.json["repos"]?.arrayValue?.isEmpty == true && none.json["cursor"] == nil)

                // A repository and its records.
                let repo = repos[0]
                let info = try await client.json("/v1/atproto/repos/\(repo.commit.did)")
                #expect(info.status == .ok)
                #expect(info.json["host"] == "pds.example.com" && info.json["commit"]?.stringValue == repo.commitCID.string)
                #expect(info.json["collections"]?.arrayValue?.map { $0["records"]?.intValue ?? 0 }.reduce(0, +) == repo.records.count)
                var records: [JSONValue] = []
                var recordCursor: String?
                repeat {
                    let page = try await client.json("/v1/atproto/repos/\(repo.commit.did)/records?limit=7" + (recordCursor.map { "&cursor=\($0)" } ?? ""))
                    #expect(page.status == .ok)
                    records += page.json["data"]?.arrayValue ?? []
                    recordCursor = page.json["cursor"]?.stringValue
                } while recordCursor != nil && records.count <= repo.records.count
                #expect(records.count == repo.records.count)
                let first = try #require(repo.records.first)
                let stored = try #require(records.first { $0["collection"]?.stringValue == first.collection && $0["rkey"]?.stringValue == first.rkey })
                #expect(stored["cid"]?.stringValue == first.cid.string)
                #expect(stored["record"] == (try DataModelJSON.json(first.value)))
                #expect(try await client.json("/v1/atproto/repos/did:plc:nobody").status == .notFound)
                #expect(try await client.json("/v1/atproto/repos/nope").status == .badRequest)
            }

            // A later sync without one record, and the account deactivated: the record leaves the
            // index and the repository leaves the listings.
            let repo = repos[0]
            let gone = try #require(repo.records.first)
            let keep = repo.records.dropFirst().map { "\($0.collection)/\($0.rkey)" }
            _ = try await strata.producer.append([
                ATProtoEvents.syncedDraft(did: repo.commit.did, rev: "3zzzzzzzzzzzz", commit: repo.commitCID, data: repo.commit.data, keys: keep,
                    host: nil, source: "test"),
            ])
            try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
            try await app.test(.router) { client in
                let page = try await client.json("/v1/atproto/repos/\(repo.commit.did)/records?collection=\(gone.collection)&limit=1000")
                #expect(!(page.json["data"]?.arrayValue ?? []).contains { $0["rkey"]?.stringValue == gone.rkey })
            }
            _ = try await strata.producer.append([
                ATProtoEvents.statusDraft(did: repo.commit.did, active: false, status: "deactivated", seq: 10, host: nil, source: "test"),
            ])
            try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
            try await app.test(.router) { client in
                for collection in Set(repo.records.map(\.collection)) {
                    let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=\(collection)")
                    #expect(!(page.json["repos"]?.arrayValue ?? []).contains { $0["did"]?.stringValue == repo.commit.did })
                }
                let info = try await client.json("/v1/atproto/repos/\(repo.commit.did)")
                #expect(info.json["active"] == .bool(false) && info.json["status"] == "deactivated")
            }
        }
    }

    @Test func aDamagedExportAppendsNothingAndNamesTheFileAndByte() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-car-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.car("greenground"))))
        bytes[bytes.count - 5] ^= 0x01
        let damaged = dir.appendingPathComponent("damaged.car")
        try Data(bytes).write(to: damaged)
        try await TestEnvironment.withDatabase { db in
            let out = try await CLIRunner.run(["ingest", "car", "--database-url", db.urlString, Self.car("fakermaker"), damaged.path])
            #expect(out.status != 0)
            #expect(out.stderr.contains("damaged.car at byte") && out.stderr.contains("does not hash to its CID"), "\(out.stderr)")
            let ok = try await CLIRunner.run(["ingest", "car", "--database-url", db.urlString, Self.car("greenground"),
                "--did-document", ATProtoDataModelTests.cars.appendingPathComponent("fakermaker.didDoc.json").path])
            #expect(ok.status != 0)
            #expect(ok.stderr.contains("DID document is did:plc:dpg45vsnuir2vqqqadsn6afg's"), "\(ok.stderr)")
            let signed = try await CLIRunner.run(["ingest", "car", "--database-url", db.urlString, Self.car("fakermaker"), "--allow-high-s",
                "--did-document", ATProtoDataModelTests.cars.appendingPathComponent("fakermaker.didDoc.json").path])
            #expect(signed.status == 0, "\(signed.stderr)")
            #expect(signed.stderr.contains("appended"), "\(signed.stderr)")
            try await StrataContext.with(db.configuration, logger: TestEnvironment.logger) { strata in
                let ends = try await strata.log.endOffsets(topic: ATProtoEvents.topic)
                let repo = try RepositoryExport(car: Array(try Data(contentsOf: URL(fileURLWithPath: Self.car("fakermaker")))))
                // Only the signed, whole export is in the log.
                #expect(ends.reduce(0, +) == Int64(repo.records.count + 1))
            }
        }
    }

    /// `ingest car --did --collections`, then the operator's view: `strata atproto status|repos|hosts`.
    @Test func offlineBackfillWithFiltersAndTheOperatorsCommands() async throws {
        let repo = try RepositoryExport(car: Array(try Data(contentsOf: URL(fileURLWithPath: Self.car("fakermaker")))))
        let prefix = "app.bsky.feed."
        let kept = repo.records.filter { $0.collection.hasPrefix(prefix) }
        #expect(!kept.isEmpty && kept.count < repo.records.count)
        try await TestEnvironment.withDatabase { db in
            let wrong = try await CLIRunner.run(["ingest", "car", "--database-url", db.urlString, Self.car("fakermaker"), "--did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
            #expect(wrong.status != 0 && wrong.stderr.contains("not did:plc:aaaaaaaaaaaaaaaaaaaaaaaa's"), "\(wrong.stderr)")
            let ok = try await CLIRunner.run(["ingest", "car", "--database-url", db.urlString, Self.car("fakermaker"), "--did", repo.commit.did,
                "--collections", "\(prefix),io.atcr."])
            #expect(ok.status == 0, "\(ok.stderr)")
            let before = try await CLIRunner.run(["atproto", "status", "--database-url", db.urlString])
            #expect(before.status != 0 && before.stderr.contains("no view yet"), "\(before.stderr)")
            try await StrataContext.with(db.configuration, logger: TestEnvironment.logger) { strata in
                try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
            }
            let status = try await CLIRunner.run(["atproto", "status", "--database-url", db.urlString])
            let totals = try JSONParser.parse(Array(status.stdout.utf8))
            #expect(totals["repos"]?.intValue == 1 && totals["records"]?.intValue == kept.count && totals["desynchronized"]?.intValue == 0, "\(status.stdout)")
            let repos = try await CLIRunner.run(["atproto", "repos", "--database-url", db.urlString])
            #expect(repos.status == 0 && repos.stdout.contains(repo.commit.did) && repos.stdout.contains("synced"), "\(repos.stdout)")
            let hosts = try await CLIRunner.run(["atproto", "hosts", "--database-url", db.urlString])
            #expect(hosts.status == 0 && hosts.stdout.contains("no hosts listed"), "\(hosts.stdout)")
        }
    }
}

/// The index passes the batch-boundary harness: exports, a later partial sync, deletes, a stale
/// put and status changes in ingests of random sizes give the same tables live and on replay.
@Suite struct ATProtoIndexDeterminismTests {
    @Test func theIndexIsDeterministicAcrossBatchBoundaries() async throws {
        var drafts = try RepositoryIngest.drafts(paths: [ATProtoIndexTests.car("fakermaker"), ATProtoIndexTests.car("greenground")])
        let repo = try RepositoryExport(car: Array(try Data(contentsOf: URL(fileURLWithPath: ATProtoIndexTests.car("greenground")))))
        let did = repo.commit.did
        for (i, record) in repo.records.enumerated() where i % 2 == 0 {
            drafts.append(ATProtoEvents.deletedDraft(did: did, collection: record.collection, rkey: record.rkey, rev: "3zzzzzzzzzzz\(i % 10)", source: "test"))
        }
        // A put older than the deletes changes nothing.
        if let r = repo.records.first {
            drafts.append(ATProtoEvents.putDraft(did: did, collection: r.collection, rkey: r.rkey, cid: r.cid, record: .object(["$type": .string(r.collection)]),
                rev: "2aaaaaaaaaaaa", host: nil, source: "test"))
        }
        drafts.append(ATProtoEvents.statusDraft(did: did, active: false, status: "takendown", seq: 5, host: nil, source: "test"))
        drafts.append(ATProtoEvents.statusDraft(did: did, active: true, status: nil, seq: 3, host: nil, source: "test"))  // older: ignored
        let t0 = RFC3339.parse("2026-12-04T00:00:00Z")!
        for (i, type) in [ATProtoEvents.hostRequested, ATProtoEvents.hostBanned, ATProtoEvents.hostRemoved, ATProtoEvents.hostRequested].enumerated() {
            drafts.append(ATProtoEvents.hostDraft(type, hostname: "pds.example.com", removals: i == 3 ? 1 : 0, by: "test", reason: "r\(i)",
                at: t0.addingTimeInterval(Double(i)), source: "test"))
            drafts.append(ATProtoEvents.hostDraft(ATProtoEvents.hostRequested, hostname: "h\(i).example.com", removals: 0, by: nil,
                at: t0, source: "test"))
        }
        // Firehose cursors (log order wins), a repository desynchronized and synced again, and a
        // desynchronization older than what the index holds (ignored).
        for seq in [7, 9, 4] as [Int64] {
            drafts.append(ATProtoEvents.cursorDraft(hostname: "h1.example.com", seq: seq, backfilled: seq == 4, at: t0, source: "test"))
        }
        drafts.append(ATProtoEvents.identityDraft(did: did, handle: "green.example.com", seq: 12, host: "h1.example.com", source: "test"))
        drafts.append(ATProtoEvents.identityDraft(did: did, handle: "old.example.com", seq: 8, host: "h1.example.com", source: "test"))  // older: ignored
        drafts.append(ATProtoEvents.desynchronizedDraft(did: did, reason: "a gap", rev: "3zzzzzzzzzzzz", seq: 10, host: "h1.example.com", source: "test"))
        drafts += try ATProtoEvents.drafts(repo, host: "h1.example.com", source: "test").suffix(1)
        drafts.append(ATProtoEvents.desynchronizedDraft(did: did, reason: "stale", rev: "2aaaaaaaaaaaa", seq: 11, host: "h1.example.com", source: "test"))
        var random = SeededGenerator(seed: 5)
        var parts: [[EventDraft]] = []
        var start = 0
        while start < drafts.count {
            let end = min(drafts.count, start + Int.random(in: 5...40, using: &random))
            parts.append(Array(drafts[start..<end]))
            start = end
        }
        let outcome = try await DeterminismHarness.check(projections: [ATProtoIndexProjection()], parts: parts, seeds: [3], maxBatch: 9)
        #expect(outcome.rows["atproto.repos"] == 2)
        #expect(outcome.rows["atproto.hosts"] == 5)
        #expect((outcome.rows["atproto.records"] ?? 0) > 0)
        #expect((outcome.rows["atproto.collections"] ?? 0) > 0)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches)")
    }
}

/// requestCrawl's hostname rules, and the host list as events: requested, banned, removed.
@Suite struct ATProtoHostTests {
    @Test func hostnamesFollowTheRelaysRules() throws {
        let accepted: [(String, String)] = [
            ("pds.example.com", "pds.example.com"), ("HTTPS://PDS.Example.com/", "pds.example.com"), ("http://bsky.social", "bsky.social"),
            ("localhost:2583", "localhost:2583"), ("http://localhost:2583/", "localhost:2583"), ("  morel.us-east.host.bsky.network \n", "morel.us-east.host.bsky.network"),
        ]
        for (input, normalized) in accepted { #expect(try CrawlHostname.normalize(input) == normalized, "\(input)") }
        let refused = [
            "", "pds", "localhost", "127.0.0.1", "1.2.3.4", "[::1]", "::1", "pds.example.com:443", "pds.example.com/xrpc", "user@pds.example.com",
            "-bad.example.com", "bad-.example.com", "a..example.com", "pds.example.123", "localhost:0", "localhost:99999", "localhost:abc",
            "ftp://pds.example.com", "pds.example.com?x=1", String(repeating: "a.", count: 127) + "com",
        ]
        for input in refused { #expect(throws: ATProtoError.self, "\(input)") { try CrawlHostname.normalize(input) } }
    }

    /// requestCrawl has a bucket of its own, far below the writes' limit: 30 a minute per client.
    @Test func requestCrawlIsRateLimitedPerClient() async throws {
        try await TestEnvironment.withStrata { strata in
            var deps = strata.apiDependencies(writeToken: nil, metrics: false)
            let noon = Date(timeIntervalSince1970: 1_764_849_600)
            deps.rateLimiter = RateLimiter(clock: { noon })  // one window for the whole test
            try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))  // the hosts table
            let app = Application(router: buildRouter(deps, routes: [ATProtoRoutes()]), logger: strata.logger)
            try await app.test(.router) { client in
                var statuses: [HTTPResponse.Status] = []
                for i in 0..<31 {
                    statuses.append(try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: [.contentType: "application/json"],
                        body: #"{"hostname": "pds\#(i).example.com"}"#).status)
                }
                #expect(statuses.prefix(30).allSatisfy { $0 == .ok }, "\(statuses)")
                #expect(statuses.last == .tooManyRequests)
            }
        }
    }

    @Test func requestsBansAndRemovalsAreEventsAndAReplayableView() async throws {
        try await TestEnvironment.withStrata { strata in
            let app = Application(router: buildRouter(strata.apiDependencies(writeToken: APIHarness.token, metrics: false), routes: [ATProtoRoutes()]),
                logger: strata.logger)
            let auth: HTTPFields = [.authorization: "Bearer \(APIHarness.token)", .contentType: "application/json"]
            let json: HTTPFields = [.contentType: "application/json"]
            @Sendable func caughtUp() async throws { try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240)) }
            @Sendable func appended() async throws -> Int64 { try await strata.log.endOffsets(topic: ATProtoEvents.topic).reduce(0, +) }
            try await caughtUp()
            try await app.test(.router) { client in
                let asked = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{"hostname": "https://PDS.example.com/"}"#)
                #expect(asked.status == .ok, "\(asked.json)")
                let bad = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{"hostname": "10.0.0.1"}"#)
                #expect(bad.status == .badRequest && bad.json["error"] == "InvalidRequest", "\(bad.json)")
                #expect(bad.json["message"]?.stringValue?.contains("IP addresses") == true)
                let none = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{}"#)
                #expect(none.status == .badRequest)
                #expect(try await appended() == 1)
            }
            try await caughtUp()
            try await app.test(.router) { client in
                // Asked again while listed: harmless, nothing appended.
                _ = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{"hostname": "pds.example.com"}"#)
                #expect(try await appended() == 1)
                let list = try await client.json("/v1/atproto/hosts")
                #expect(list.json["hosts"]?.arrayValue?.map { $0["hostname"]?.stringValue ?? "" } == ["pds.example.com"])
                #expect(list.json["hosts"]?.arrayValue?.first?["state"] == "active")
                #expect(try await client.json("/v1/atproto/hosts/pds.example.com/ban", method: .post, headers: json).status == .unauthorized)
                let ban = try await client.json("/v1/atproto/hosts/pds.example.com/ban", method: .post, headers: auth, body: #"{"reason": "spam"}"#)
                #expect(ban.status == .accepted)
            }
            try await caughtUp()
            #expect(try await RepoCrawler.registeredHosts(strata.client, logger: strata.logger).isEmpty)
            try await app.test(.router) { client in
                let refused = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{"hostname": "pds.example.com"}"#)
                #expect(refused.status == .badRequest && refused.json["error"] == "HostBanned")
                let banned = try await client.json("/v1/atproto/hosts?state=banned")
                #expect(banned.json["hosts"]?.arrayValue?.first?["reason"] == "spam")
                #expect(try await client.json("/v1/atproto/hosts/pds.example.com", method: .delete, headers: auth).status == .accepted)
                #expect(try await client.json("/v1/atproto/hosts/nowhere.example.com", method: .delete, headers: auth).status == .notFound)
            }
            try await caughtUp()
            try await app.test(.router) { client in
                // Removed, it may be asked for again.
                let again = try await client.json("/xrpc/com.atproto.sync.requestCrawl", method: .post, headers: json, body: #"{"hostname": "pds.example.com"}"#)
                #expect(again.status == .ok)
                let added = try await client.json("/v1/atproto/hosts", method: .post, headers: auth, body: #"{"hostname": "localhost:2583"}"#)
                #expect(added.status == .accepted, "\(added.json)")
            }
            try await caughtUp()
            #expect(try await RepoCrawler.registeredHosts(strata.client, logger: strata.logger) == ["localhost:2583", "pds.example.com"])
            #expect(try await appended() == 5)
        }
    }
}
