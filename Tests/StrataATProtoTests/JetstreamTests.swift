import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdWebSocket
import HummingbirdWSClient
import NIOCore
import NIOHTTP1
import NIOWebSocket
import StrataAPI
import StrataATProto
import StrataATProtoIndex
import StrataApp
import StrataCore
import StrataTestSupport
import Synchronization
import Testing

/// `GET /subscribe` on a live server: a cursor in the past replays from the log and continues live
/// while events keep arriving, every wanted event once and in order; filters and compression.
@Suite(.serialized, .timeLimit(.minutes(5))) struct JetstreamTests {
    static let dids = ["did:plc:jetaaaaaaaaaaaaaaaaaaaaa", "did:plc:jetbbbbbbbbbbbbbbbbbbbbb", "did:plc:jetcccccccccccccccccccccc"]
    static let collections = ["app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow"]

    /// Batch `n` of events: a put per repository and collection, every third batch a delete and an account status.
    static func batch(_ n: Int) -> [EventDraft] {
        var drafts: [EventDraft] = []
        let rev = FakeFirehosePDS.tid(UInt64(n))
        for did in dids {
            for collection in collections {
                let record: CBORValue = ["$type": .string(collection), "n": .integer(Int64(n))]
                drafts.append(ATProtoEvents.putDraft(did: did, collection: collection, rkey: "3k\(String(format: "%011d", n))", cid: CID.compute(DagCBOR.encode(record)),
                    record: (try? DataModelJSON.json(record)) ?? .null, rev: rev, host: nil, source: "test"))
            }
            if n % 4 == 1 {
                drafts.append(ATProtoEvents.identityDraft(did: did, handle: "h\(n).example.com", seq: Int64(1000 + n), host: nil, source: "test"))
            }
            if n % 3 == 0, n > 0 {
                drafts.append(ATProtoEvents.deletedDraft(did: did, collection: collections[0], rkey: "3k\(String(format: "%011d", n - 1))", rev: rev, source: "test"))
                drafts.append(ATProtoEvents.statusDraft(did: did, active: n % 2 == 0, status: n % 2 == 0 ? nil : "deactivated", seq: Int64(n), host: nil, source: "test"))
            }
        }
        return drafts
    }

    final class Received: Sendable {
        let messages = Mutex<[JSONValue]>([])
        var count: Int { messages.withLock { $0.count } }
    }

    /// Connects, collects `expected` messages (or fails after 60 s), closes.
    static func subscribe(port: Int, query: String, expected: Int, compressed: Bool = false) async throws -> [JSONValue] {
        let received = Received()
        let got = try await withThrowingTaskGroup(of: [JSONValue].self) { group in
            group.addTask {
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/subscribe?\(query)", configuration: .init(maxFrameSize: 1 << 22),
                    logger: TestEnvironment.logger) { inbound, outbound, _ in
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        let bytes: [UInt8]
                        switch message {
                        case .text(let s): bytes = Array(s.utf8)
                        case .binary(let b): bytes = try Zstd.decompress(Array(b.readableBytesView))
                        }
                        #expect(compressed == (message != .text(String(decoding: bytes, as: UTF8.self))))
                        let parsed = try JSONParser.parse(bytes)
                        let count = received.messages.withLock { $0.append(parsed); return $0.count }
                        if count >= expected { break }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                return received.messages.withLock { $0 }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                throw StrataError(.timeout, "received \(received.count) of \(expected) messages in 60 s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        return got
    }

    @Test func aPastCursorReplaysThenFollowsLiveWithNoGapAndNoDuplicate() async throws {
        try await TestEnvironment.withStrata { strata in
            for n in 0..<20 { _ = try await strata.producer.append(Self.batch(n)) }
            // The cursor: the append time of batch 8.
            let spec = try await strata.log.topic(named: ATProtoEvents.topic)
            var all: [Event] = []
            for p in 0..<spec.partitions { all += try await strata.log.read(topic: ATProtoEvents.topic, partition: p, from: 0, limit: 10_000) }
            let eighth = try #require(all.first { $0.type == ATProtoEvents.recordPut && (try? JSONParser.parse($0.payload))?["rev"]?.stringValue == FakeFirehosePDS.tid(8) })
            let cursor = Jetstream.timeMicros(eighth.appendedAt)

            let router = buildRouter(strata.apiDependencies(writeToken: nil, metrics: false), routes: [ATProtoRoutes()])
            let app = Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: JetstreamRoutes.webSocketRouter(log: strata.log, logger: strata.logger)),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { channel in Self.port.withLock { $0 = channel.localAddress?.port ?? 0 } },
                logger: strata.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                while Self.port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                let port = Self.port.withLock { $0 }
                // Wanted: two repositories, the feed collections. Batches 8-19 are in the log; 20-39 arrive while the replay runs.
                let filter = try Jetstream.Filter(collections: ["app.bsky.feed.*"], dids: Array(Self.dids.prefix(2)))
                func wanted(_ batches: Range<Int>) -> [String] {
                    batches.flatMap { n in Self.batch(n) }.compactMap { d -> String? in
                        guard let did = d.payload["did"]?.stringValue, filter.wants(did: did, collection: d.payload["collection"]?.stringValue) else { return nil }
                        return "\(did) \(d.type == ATProtoEvents.accountStatus ? "account" : d.type == ATProtoEvents.identity ? "identity" : d.payload["collection"]?.stringValue ?? "") \(d.payload["rkey"]?.stringValue ?? d.payload["seq"].map { "\($0)" } ?? "") \(d.type)"
                    }
                }
                let expected = wanted(8..<40)
                let live = Task {
                    for n in 20..<40 {
                        _ = try await strata.producer.append(Self.batch(n))
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
                let messages = try await Self.subscribe(port: port, query: "cursor=\(cursor)&wantedCollections=app.bsky.feed.*&wantedDids=\(Self.dids[0])&wantedDids=\(Self.dids[1])",
                    expected: expected.count)
                try await live.value
                func key(_ m: JSONValue) -> String {
                    let kind = m["kind"]?.stringValue ?? ""
                    let type = kind == "account" ? ATProtoEvents.accountStatus : kind == "identity" ? ATProtoEvents.identity
                        : m["commit"]?["operation"]?.stringValue == "delete" ? ATProtoEvents.recordDeleted : ATProtoEvents.recordPut
                    let what = kind == "commit" ? m["commit"]?["collection"]?.stringValue ?? "" : kind
                    return "\(m["did"]?.stringValue ?? "") \(what) \(m["commit"]?["rkey"]?.stringValue ?? (m["account"] ?? m["identity"])?["seq"].map { "\($0)" } ?? "") \(type)"
                }
                let keys = messages.map(key)
                #expect(Set(keys).count == keys.count, "no message twice")
                #expect(Set(keys) == Set(expected), "missing: \(Set(expected).subtracting(keys).sorted().prefix(5)); extra: \(Set(keys).subtracting(expected).sorted().prefix(5))")
                // In order: per repository as appended, and time_us never goes back.
                for did in Self.dids.prefix(2) {
                    #expect(keys.filter { $0.hasPrefix(did) } == expected.filter { $0.hasPrefix(did) }, "\(did) in log order")
                }
                let times = messages.compactMap { $0["time_us"]?.intValue }
                #expect(times.count == messages.count && zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
                #expect(times.first.map { Int64($0) >= cursor } == true)
                let post = try #require(messages.first { $0["commit"]?["operation"] == "create" })
                #expect(post["commit"]?["record"]?["$type"]?.stringValue?.hasPrefix("app.bsky.feed.") == true && post["commit"]?["cid"]?.stringValue?.hasPrefix("bafyrei") == true)
                #expect(messages.contains { $0["kind"] == "identity" && $0["identity"]?["handle"]?.stringValue?.hasSuffix(".example.com") == true })

                // zstd-compressed frames carry the same messages.
                let plain = try await Self.subscribe(port: port, query: "cursor=0&wantedDids=\(Self.dids[2])", expected: 30)
                let packed = try await Self.subscribe(port: port, query: "cursor=0&wantedDids=\(Self.dids[2])&compress=true", expected: 30, compressed: true)
                #expect(plain == packed && plain.allSatisfy { $0["did"]?.stringValue == Self.dids[2] })

                // Bad filters are a 400 before any upgrade.
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                for query in ["wantedCollections=not-an-nsid", "wantedDids=alice", "cursor=yesterday"] {
                    let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/subscribe?\(query)"), timeout: .seconds(10))
                    #expect(response.status == .badRequest, "\(query)")
                    let body = try await response.body.collect(upTo: 1 << 16)
                    #expect(String(buffer: body).contains("InvalidRequest"), "\(query)")
                }
                // SSE: the same stream without the upgrade, resumable from each message's id.
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/subscribe?cursor=0&wantedDids=\(Self.dids[2])")
                request.headers.add(name: "Accept", value: "text/event-stream")
                let response = try await http.execute(request, timeout: .seconds(30))
                #expect(response.headers["content-type"].first == "text/event-stream")
                var text = ""
                // Whole events only: the last one may still be arriving.
                func complete() -> [String] { Array(text.components(separatedBy: "\n\n").dropLast()) }
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if complete().filter({ $0.contains("data: ") }).count >= 30 { break }
                }
                let sse = complete().flatMap { $0.components(separatedBy: "\n") }.filter { $0.hasPrefix("data: ") }.prefix(30)
                    .compactMap { try? JSONParser.parse(Array($0.dropFirst(6).utf8)) }
                #expect(Array(sse) == plain)
                try await http.shutdown()
                group.cancelAll()
            }
        }
    }

    static let port = Mutex(0)
}
