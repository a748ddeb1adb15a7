import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWebSocket
import NIOCore
import PostgresNIO
import StrataAPI
import StrataATProto
import StrataATProtoIndex
import StrataApp
import StrataCore
import StrataCrawl
import StrataProjections
import StrataTestSupport
import Synchronization
import Testing

/// A PDS on loopback that hosts repositories as a real one does: each change is a signed commit
/// (sync 1.1, with `prevData`) on its MST, sent on `subscribeRepos` to every subscriber after its
/// cursor and live; `getRepo` exports the current state; `listRepos`, `describeServer` and a PLC
/// directory answer as the crawler expects. Faults: a disconnect of every stream, raw frames.
final class FakeFirehosePDS: Sendable {
    struct Repo: Sendable {
        var did: String
        var key: ATProtoSigningKey
        var records: [String: [UInt8]] = [:]
        var rev: String
        var commit: (cid: CID, block: [UInt8])?
        var active = true
        var status: String?
    }
    struct State: Sendable {
        var repos: [String: Repo] = [:]
        /// Frame `i` has seq `i + 1` (damaged frames included: they take a place in the stream).
        var frames: [[UInt8]] = []
        var clock: UInt64 = 0
        var generation = 0
        /// An error frame the open streams send once, then close (as a relay does).
        var errorFrame: [UInt8]?
    }
    let state = Mutex(State())
    let connections = Atomic<Int>(0)

    static func tid(_ n: UInt64) -> String {
        let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
        let v = (UInt64(1_764_000_000_000_000) + n) << 10
        return String((0..<13).map { alphabet[Int((v >> UInt64(60 - 5 * $0)) & 31)] })
    }

    var lastSeq: Int64 { Int64(state.withLock { $0.frames.count }) }

    func add(_ did: String, key: ATProtoSigningKey, records: [String: [UInt8]]) throws {
        try state.withLock { s in
            s.clock += 1
            var repo = Repo(did: did, key: key, records: records, rev: Self.tid(s.clock))
            let tree = try MST.build(records.map { MST.Entry(key: $0.key, value: CID.compute($0.value)) })
            repo.commit = key.commit(did: did, data: tree.root, rev: repo.rev)
            s.repos[did] = repo
        }
    }

    enum Change { case put(String, CBORValue), delete(String) }

    /// Commits `changes` to `did`'s repository and sends the commit; `signer` signs it instead of the
    /// repository's key (a forged commit: the repository's state does not move).
    @discardableResult
    func commit(_ did: String, _ changes: [Change], signer: ATProtoSigningKey? = nil) throws -> Int64 {
        try state.withLock { s in
            guard var repo = s.repos[did] else { throw ATProtoError("no repo \(did)") }
            let before = try MST.build(repo.records.map { MST.Entry(key: $0.key, value: CID.compute($0.value)) })
            var ops: [FirehoseCommit.Op] = []
            var newBlocks: [(CID, [UInt8])] = []
            for change in changes {
                switch change {
                case .put(let path, let value):
                    let block = DagCBOR.encode(value)
                    let cid = CID.compute(block)
                    let prev = repo.records[path].map { CID.compute($0) }
                    ops.append(.init(action: prev == nil ? .create : .update, path: path, cid: cid, prev: prev))
                    repo.records[path] = block
                    newBlocks.append((cid, block))
                case .delete(let path):
                    ops.append(.init(action: .delete, path: path, cid: nil, prev: repo.records[path].map { CID.compute($0) }))
                    repo.records[path] = nil
                }
            }
            let after = try MST.build(repo.records.map { MST.Entry(key: $0.key, value: CID.compute($0.value)) })
            s.clock += 1
            let since = repo.rev
            let rev = Self.tid(s.clock)
            let signed = (signer ?? repo.key).commit(did: did, data: after.root, rev: rev, prev: repo.commit?.cid)
            let blocks = [(signed.cid, signed.block)] + after.blocks.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } + newBlocks
            let seq = Int64(s.frames.count + 1)
            let commit = FirehoseCommit(seq: seq, repo: did, commit: signed.cid, rev: rev, since: since,
                blocks: CARFile.encode(roots: [signed.cid], blocks: blocks), ops: ops, prevData: before.root, time: "2026-12-04T10:00:00.000Z")
            s.frames.append(Firehose.encode(.commit(commit)))
            if signer == nil {
                repo.rev = rev
                repo.commit = signed
                s.repos[did] = repo
            }
            return seq
        }
    }

    func account(_ did: String, active: Bool, status: String?) {
        state.withLock { s in
            s.repos[did]?.active = active
            s.repos[did]?.status = status
            s.frames.append(Firehose.encode(.account(seq: Int64(s.frames.count + 1), did: did, active: active, status: status, time: "2026-12-04T10:00:00Z")))
        }
    }

    /// A frame as given (damaged, oversize): it takes the next place in the stream.
    func raw(_ frame: (Int64) -> [UInt8]) {
        state.withLock { s in s.frames.append(frame(Int64(s.frames.count + 1))) }
    }

    /// Closes every open stream.
    func disconnect() { state.withLock { $0.generation += 1 } }

    /// Sends an error frame (`FutureCursor`, `ConsumerTooSlow`) on the open stream, which then closes.
    func fail(_ name: String) { state.withLock { $0.errorFrame = Firehose.encode(.error(name: name, message: "test")) } }

    func exportCAR(_ did: String) throws -> [UInt8]? {
        guard let repo = state.withLock({ $0.repos[did] }), let commit = repo.commit else { return nil }
        let tree = try MST.build(repo.records.map { MST.Entry(key: $0.key, value: CID.compute($0.value)) })
        let blocks = [(commit.cid, commit.block)] + tree.blocks.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            + repo.records.sorted { $0.key < $1.key }.map { (CID.compute($0.value), $0.value) }
        return CARFile.encode(roots: [commit.cid], blocks: blocks)
    }

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/xrpc/com.atproto.sync.subscribeRepos") { inbound, outbound, context in
            self.connections.add(1, ordering: .relaxed)
            let generation = self.state.withLock { $0.generation }
            var next = context.request.uri.queryParameters["cursor"].flatMap { Int(String($0)) } ?? self.state.withLock { $0.frames.count }
            while !Task.isCancelled {
                let (frames, current, error) = self.state.withLock { s in
                    defer { s.errorFrame = nil }
                    return (Array(s.frames.dropFirst(next)), s.generation, s.errorFrame)
                }
                if current != generation { return }
                if let error {
                    try await outbound.write(.binary(ByteBuffer(bytes: error)))
                    return
                }
                for frame in frames { try await outbound.write(.binary(ByteBuffer(bytes: frame))) }
                next += frames.count
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        @Sendable func answer(_ request: Request) throws -> Response {
            let path = request.uri.path
            func json(_ value: JSONValue) -> Response {
                Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: JSONWriter.string(value))))
            }
            switch path {
            case "/xrpc/com.atproto.server.describeServer":
                return json(["did": "did:web:pds.test", "availableUserDomains": .array([])])
            case "/xrpc/com.atproto.sync.listRepos":
                let repos = self.state.withLock { $0.repos.values.sorted { $0.did < $1.did } }
                return json(["repos": .array(repos.map { r in
                    var o: [String: JSONValue] = ["did": .string(r.did), "head": .string(r.commit?.cid.string ?? ""), "rev": .string(r.rev), "active": .bool(r.active)]
                    if let s = r.status { o["status"] = .string(s) }
                    return .object(o)
                })])
            case "/xrpc/com.atproto.sync.getRepo":
                let did = request.uri.queryParameters["did"].map(String.init) ?? ""
                guard let car = try self.exportCAR(did) else { return Response(status: .badRequest) }
                return Response(status: .ok, headers: [.contentType: "application/vnd.ipld.car"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: car)))
            default:
                if path.hasPrefix("/plc/"), let repo = self.state.withLock({ $0.repos[String(path.dropFirst(5))] }) {
                    return json([
                        "id": .string(repo.did),
                        "verificationMethod": .array([["id": .string("\(repo.did)#atproto"), "type": "Multikey", "controller": .string(repo.did),
                            "publicKeyMultibase": .string(String(repo.key.publicKey.didKey.dropFirst("did:key:".count)))]]),
                    ])
                }
                return Response(status: .notFound)
            }
        }
        for path in ["/xrpc/com.atproto.server.describeServer", "/xrpc/com.atproto.sync.listRepos", "/xrpc/com.atproto.sync.getRepo", "/plc/:did"] {
            router.get(RouterPath(path)) { request, _ in try answer(request) }
        }
        let app = Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct FirehoseSubscriberTests {
    static let alice = "did:plc:aliceaaaaaaaaaaaaaaaaaaa"
    static let bob = "did:plc:bobbbbbbbbbbbbbbbbbbbbbb"

    /// Real records (indigo's fakermaker export), as the repositories' starting content.
    static func realRecords() throws -> [(path: String, value: CBORValue)] {
        let repo = try RepositoryExport(car: try RepoCrawlerTests.file("fakermaker.repo.car"))
        return repo.records.map { ("\($0.collection)/\($0.rkey)", $0.value) }
    }

    static func settings(port: Int) -> FirehoseSubscriber.Settings {
        var s = FirehoseSubscriber.Settings()
        s.crawl.collections = ["app.bsky."]
        s.crawl.plcURL = "http://127.0.0.1:\(port)/plc"
        s.batchFrames = 3
        s.batchInterval = .milliseconds(50)
        s.backoff = .milliseconds(100)
        s.maximumBackoff = .milliseconds(500)
        s.connectTimeout = .seconds(10)
        return s
    }

    /// The records the index must hold: every repository's current records of the indexed collections.
    static func expected(_ pds: FakeFirehosePDS) -> [String] {
        pds.state.withLock { s in
            s.repos.values.flatMap { repo in
                repo.records.filter { $0.key.hasPrefix("app.bsky.") }.map { "\(repo.did) \($0.key) \(CID.compute($0.value).string)" }
            }
        }.sorted()
    }

    static func indexed(_ strata: StrataContext) async throws -> [String] {
        var out: [String] = []
        for try await (did, collection, rkey, cid) in try await strata.client.query("SELECT did, collection, rkey, cid FROM atproto.records", logger: strata.logger)
            .decode((String, String, String, String).self) { out.append("\(did) \(collection)/\(rkey) \(cid)") }
        return out.sorted()
    }

    /// Backfill, live creates, updates and deletes, a deactivation, a forged commit, a malformed and
    /// an oversize frame, a disconnect mid-stream and a restart from the log's cursor: the index
    /// ends with exactly the records the PDS holds, and the restarted subscriber appends nothing.
    @Test func followsAHostThroughFaultsAndResumesFromItsCursor() async throws {
        let records = try Self.realRecords()
        #expect(records.count > 10)
        let pds = FakeFirehosePDS()
        let aliceKey = try ATProtoSigningKey(seed: "alice")
        try pds.add(Self.alice, key: aliceKey, records: Dictionary(uniqueKeysWithValues: records.prefix(8).map { ($0.path, DagCBOR.encode($0.value)) }))
        try pds.add(Self.bob, key: try ATProtoSigningKey(seed: "bob"), records: Dictionary(uniqueKeysWithValues: records.dropFirst(8).prefix(4).map { ($0.path, DagCBOR.encode($0.value)) }))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let portStream = AsyncStream<Int>.makeStream()
                group.addTask { try await pds.run { portStream.continuation.yield($0) } }
                var iterator = portStream.stream.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let host = "localhost:\(port)"
                var crawl = CrawlSettings()
                crawl.timeout = .seconds(5)
                crawl.backoff = .milliseconds(50)
                crawl.perHostRate = 0
                let client = CrawlClient(http: http, db: strata.client, settings: crawl, logger: TestEnvironment.logger)
                let settings = Self.settings(port: port)
                let health = SourceHealth()
                func subscriber() -> FirehoseSubscriber {
                    FirehoseSubscriber(host: host, crawler: RepoCrawler(client: client, producer: strata.producer, db: strata.client, settings: settings.crawl,
                        logger: TestEnvironment.logger), producer: strata.producer, log: strata.log, db: strata.client, settings: settings,
                        health: health, logger: TestEnvironment.logger)
                }
                @Sendable func until(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while try await !condition() {
                        guard ContinuousClock.now < deadline else { throw StrataError(.timeout, "waited 60 s for \(what)") }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                let first = subscriber()
                let running = Task { try await first.run() }
                try await until("the first connection and the backfill") { pds.connections.load(ordering: .relaxed) >= 1 && first.progress.backfills == 1 }
                #expect(health.statuses.first?.name == "atproto:\(host)" && health.statuses.first?.up == true)

                // Live: creates, an update, deletes across several batches.
                let post = "app.bsky.feed.post/3mpostaaaaaa2"
                try pds.commit(Self.alice, [.put(post, ["$type": "app.bsky.feed.post", "text": "live", "createdAt": "2026-12-04T10:00:00.000Z"])])
                try pds.commit(Self.alice, [.put(post, ["$type": "app.bsky.feed.post", "text": "edited", "createdAt": "2026-12-04T10:00:00.000Z"])])
                try pds.commit(Self.alice, [.delete(records[0].path), .delete(records[1].path)])
                try pds.commit(Self.bob, [.put("app.bsky.feed.like/3mlikeaaaaaa2", ["$type": "app.bsky.feed.like", "createdAt": "2026-12-04T10:00:00.000Z"])])
                try await until("the live commits") { first.progress.cursor == pds.lastSeq }

                // Damage: a frame that is not CBOR, an oversize one, a commit signed by another key.
                pds.raw { _ in [0xff, 0x00, 0x13] }
                pds.raw { seq in
                    Firehose.encode(.commit(FirehoseCommit(seq: seq, repo: Self.bob, commit: CID.compute([1]), rev: FakeFirehosePDS.tid(999_999), since: nil,
                        blocks: [UInt8](repeating: 7, count: Firehose.maximumFrameSize), ops: [], prevData: nil, time: "2026-12-04T10:00:00Z")))
                }
                try pds.commit(Self.alice, [.put("app.bsky.feed.post/3mforgedaaaa2", ["$type": "app.bsky.feed.post", "text": "forged"])],
                    signer: try ATProtoSigningKey(seed: "mallory"))
                try await until("the damaged frames and the refetches") { first.progress.cursor == pds.lastSeq && first.progress.refetched == 2 }
                #expect(first.progress.rejected == 1, "\(first.progress)")
                #expect(first.progress.desynchronized == 2, "\(first.progress)")

                // The host says the consumer is too slow and closes: it resumes from its cursor.
                let before = pds.connections.load(ordering: .relaxed)
                pds.fail("ConsumerTooSlow")
                try await until("the reconnection after ConsumerTooSlow") { pds.connections.load(ordering: .relaxed) > before }
                try pds.commit(Self.alice, [.put("app.bsky.feed.post/3mafterslow22", ["$type": "app.bsky.feed.post", "text": "after ConsumerTooSlow"])])
                try await until("the commit after ConsumerTooSlow") { first.progress.cursor == pds.lastSeq }
                // FutureCursor (the host's sequence was reset): it follows the live stream.
                let beforeFuture = pds.connections.load(ordering: .relaxed)
                pds.fail("FutureCursor")
                try await until("the reconnection after FutureCursor") { pds.connections.load(ordering: .relaxed) > beforeFuture }
                try await Task.sleep(for: .milliseconds(200))
                try pds.commit(Self.alice, [.put("app.bsky.feed.post/3mafterfuture", ["$type": "app.bsky.feed.post", "text": "after FutureCursor"])])
                try await until("the commit after FutureCursor") { first.progress.cursor == pds.lastSeq }

                // A disconnect mid-stream, commits while it reconnects.
                pds.disconnect()
                try pds.commit(Self.alice, [.put("app.bsky.feed.post/3mafterdrop22", ["$type": "app.bsky.feed.post", "text": "after the drop"])])
                try await until("the reconnection") { pds.connections.load(ordering: .relaxed) >= 2 && first.progress.cursor == pds.lastSeq }

                // The subscriber stops (as if killed); more happens; a new one resumes from the log.
                running.cancel()
                _ = await running.result
                try pds.commit(Self.alice, [.delete(post)])
                pds.raw { seq in Firehose.encode(.identity(seq: seq, did: Self.alice, handle: "alice.example.com", time: "2026-12-04T10:00:00Z")) }
                pds.account(Self.bob, active: false, status: "deactivated")
                let second = subscriber()
                let resumed = Task { try await second.run() }
                try await until("the resumed stream") { second.progress.cursor == pds.lastSeq }

                try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
                #expect(try await Self.indexed(strata) == Self.expected(pds))
                // The edit is an update (as the outbound stream tells its subscribers).
                var operations: [String] = []
                for p in 0..<4 {
                    for event in try await strata.log.read(topic: ATProtoEvents.topic, partition: p, from: 0, limit: 10_000) where event.type == ATProtoEvents.recordPut {
                        if let op = (try JSONParser.parse(event.payload))["operation"]?.stringValue { operations.append(op) }
                    }
                }
                #expect(operations.contains("update") && operations.contains("create"))
                let app = Application(router: buildRouter(strata.apiDependencies(writeToken: nil, metrics: false), routes: [ATProtoRoutes()]), logger: strata.logger)
                try await app.test(.router) { client in
                    let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=app.bsky.feed.post")
                    #expect(page.json["repos"]?.arrayValue?.compactMap { $0["did"]?.stringValue } == [Self.alice])
                    #expect(try await client.json("/v1/atproto/repos/\(Self.alice)").json["handle"] == "alice.example.com")
                    let bob = try await client.json("/v1/atproto/repos/\(Self.bob)")
                    #expect(bob.json["active"] == .bool(false) && bob.json["sync"] == "synced", "\(bob.json)")
                    let hosts = try await client.json("/v1/atproto/hosts")
                    #expect(hosts.json["hosts"]?.arrayValue?.first?["cursor"]?.intValue == Int(pds.lastSeq), "\(hosts.json)")
                }

                // A third start appends nothing: everything up to the host's last frame is in the log.
                resumed.cancel()
                _ = await resumed.result
                let ends = try await strata.log.endOffsets(topic: ATProtoEvents.topic)
                let third = subscriber()
                let idle = Task { try await third.run() }
                try await until("the third connection") { third.progress.connections >= 1 && third.progress.cursor == pds.lastSeq }
                try await Task.sleep(for: .milliseconds(300))
                idle.cancel()
                _ = await idle.result
                #expect(try await strata.log.endOffsets(topic: ATProtoEvents.topic) == ends)
                group.cancelAll()
            }
        }
    }

    /// `strata crawl atproto --follow` as its own process, killed with SIGKILL while commits stream
    /// in and started again: it resumes from the cursor in the log, and the index ends with exactly
    /// the PDS's records.
    @Test func aSubscriberProcessKilledMidStreamResumesFromTheLog() async throws {
        let records = try Self.realRecords()
        let pds = FakeFirehosePDS()
        try pds.add(Self.alice, key: try ATProtoSigningKey(seed: "alice"), records: Dictionary(uniqueKeysWithValues: records.prefix(6).map { ($0.path, DagCBOR.encode($0.value)) }))
        try pds.add(Self.bob, key: try ATProtoSigningKey(seed: "bob"), records: Dictionary(uniqueKeysWithValues: records.dropFirst(6).prefix(3).map { ($0.path, DagCBOR.encode($0.value)) }))
        try await TestEnvironment.withDatabase { db in
            try await StrataContext.with(db.configuration, logger: TestEnvironment.logger, topologyOverride: try TestEnvironment.topology()) { strata in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let portStream = AsyncStream<Int>.makeStream()
                    group.addTask { try await pds.run { portStream.continuation.yield($0) } }
                    var iterator = portStream.stream.makeAsyncIterator()
                    let port = try #require(await iterator.next())
                    let host = "localhost:\(port)"
                    let http = HTTPClient(eventLoopGroupProvider: .singleton)
                    defer { Task { try? await http.shutdown() } }
                    let reader = FirehoseSubscriber(host: host, crawler: RepoCrawler(client: CrawlClient(http: http, db: strata.client, settings: CrawlSettings(), logger: TestEnvironment.logger),
                        producer: strata.producer, db: strata.client, logger: TestEnvironment.logger), producer: strata.producer, log: strata.log,
                        db: strata.client, logger: TestEnvironment.logger)
                    func start(_ n: Int) throws -> WorkerProcess {
                        try WorkerProcess(arguments: ["crawl", "atproto", host, "--follow", "--database-url", db.urlString, "--plc", "http://127.0.0.1:\(port)/plc",
                            "--collection", "app.bsky.", "--batch-frames", "2", "--log-level", "info"], id: "firehose-\(n)")
                    }
                    @Sendable func until(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
                        let deadline = ContinuousClock.now + .seconds(90)
                        while try await !condition() {
                            guard ContinuousClock.now < deadline else { throw StrataError(.timeout, "waited 90 s for \(what)") }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    var n = 0
                    var posts: [String: [String]] = [:]
                    func commit() throws {
                        n += 1
                        let rkey = "3mpost" + String(n, radix: 32).map { c in c.isNumber && c < "2" ? Character(UnicodeScalar(UInt8(ascii: "k") + UInt8(String(c))!)) : c }
                            .reduce("") { $0 + String($1) }
                        let did = n % 3 == 0 ? Self.bob : Self.alice
                        var changes: [FakeFirehosePDS.Change] = [.put("app.bsky.feed.post/\(rkey)", ["$type": "app.bsky.feed.post", "text": .string("post \(n)")])]
                        // Every fifth commit also deletes the repository's oldest post.
                        if n % 5 == 0, let oldest = posts[did]?.first {
                            changes.append(.delete(oldest))
                            posts[did]?.removeFirst()
                        }
                        posts[did, default: []].append("app.bsky.feed.post/\(rkey)")
                        try pds.commit(did, changes)
                    }
                    let first = try start(1)
                    try await until("the first connection") { pds.connections.load(ordering: .relaxed) >= 1 }
                    for _ in 0..<20 {
                        try commit()
                        try await Task.sleep(for: .milliseconds(15))
                    }
                    pds.disconnect()
                    for _ in 0..<5 {
                        try commit()
                        try await Task.sleep(for: .milliseconds(15))
                    }
                    first.kill()
                    #expect(first.wasKilled)
                    let killedAt = try await reader.storedCursor() ?? 0
                    for _ in 0..<10 { try commit() }
                    pds.account(Self.bob, active: false, status: "deactivated")
                    let second = try start(2)
                    for _ in 0..<10 {
                        try commit()
                        try await Task.sleep(for: .milliseconds(15))
                    }
                    try await until("the second process to catch up") { try await reader.storedCursor() == pds.lastSeq }
                    #expect(killedAt > 0 && killedAt < pds.lastSeq, "the first process appended a part of the stream before it was killed: \(killedAt)")
                    // What the kill interrupted (the backfill, refetches) the second process finishes.
                    let expected = Self.expected(pds)
                    try? await until("the index to hold the PDS's records") {
                        try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
                        return try await Self.indexed(strata) == expected
                    }
                    second.stop()
                    let indexed = try await Self.indexed(strata)
                    let app = Application(router: buildRouter(strata.apiDependencies(writeToken: nil, metrics: false), routes: [ATProtoRoutes()]), logger: strata.logger)
                    try await app.test(.router) { client in
                        let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=app.bsky.feed.post")
                        #expect(page.json["repos"]?.arrayValue?.compactMap { $0["did"]?.stringValue } == [Self.alice], "bob is deactivated: \(page.json)")
                    }
                    #expect(indexed == expected, "missing: \(Set(expected).subtracting(indexed).sorted()); extra: \(Set(indexed).subtracting(expected).sorted())\nfirst process: \(first.output.suffix(3000))\nsecond process: \(second.output.suffix(3000))")
                    group.cancelAll()
                }
            }
        }
    }

    /// `strata serve --atproto-follow`: the subscriber runs inside the server, reports in `/health`,
    /// and the server's `/subscribe` (a WebSocket upgrade) streams what it appends.
    @Test func serveFollowsAHostReportsItInHealthAndStreamsIt() async throws {
        let pds = FakeFirehosePDS()
        let records = try Self.realRecords()
        try pds.add(Self.alice, key: try ATProtoSigningKey(seed: "alice"), records: Dictionary(uniqueKeysWithValues: records.prefix(3).map { ($0.path, DagCBOR.encode($0.value)) }))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let portStream = AsyncStream<Int>.makeStream()
                group.addTask { try await pds.run { portStream.continuation.yield($0) } }
                var iterator = portStream.stream.makeAsyncIterator()
                let pdsPort = try #require(await iterator.next())
                let url = try #require(strata.configuration.databaseURL)
                let port = 10_000 + Int(getpid() % 5_000) + Int.random(in: 0...4_000)
                let server = try WorkerProcess(arguments: [
                    "serve", "--database-url", url, "--port", String(port), "--rate-limit", "0", "--atproto-follow", "localhost:\(pdsPort)",
                    "--atproto-plc", "http://127.0.0.1:\(pdsPort)/plc", "--atproto-collection", "app.bsky.",
                ], id: "serve-atproto")
                @Sendable func health() async -> String {
                    guard let r = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(5)),
                        let body = try? await r.body.collect(upTo: 1 << 20) else { return "" }
                    return String(buffer: body)
                }
                let deadline = ContinuousClock.now + .seconds(90)
                while await !health().contains("following from cursor"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                let report = await health()
                #expect(report.contains("atproto:localhost:\(pdsPort)") && report.contains("following from cursor"), "\(report.prefix(2000))\n\(server.output.suffix(2000))")
                // A commit on the PDS reaches the server's outbound stream (live, through the index's log).
                let stream = Task {
                    try await JetstreamTests.subscribe(port: port, query: "wantedDids=\(Self.alice)&wantedCollections=app.bsky.feed.post", expected: 1)
                }
                try await Task.sleep(for: .milliseconds(500))
                try pds.commit(Self.alice, [.put("app.bsky.feed.post/3mserveaaaaa2", ["$type": "app.bsky.feed.post", "text": "through serve"])])
                let messages = try await stream.value
                #expect(messages.first?["commit"]?["rkey"] == "3mserveaaaaa2" && messages.first?["commit"]?["operation"] == "create", "\(messages)")
                #expect(await server.stop(within: .seconds(20)) != nil, "SIGTERM stops serve: \(server.output.suffix(2000))")
                group.cancelAll()
            }
        }
    }
}
