import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdWebSocket
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import PostgresNIO
import StrataATProto
import StrataATProtoIndex
import StrataCore
import StrataCrawl
import StrataPostgres
import StrataProjections
import Synchronization

/// The firehose subscriber from socket to view: a PDS on loopback (in this process) serves
/// `--frames` signed sync 1.1 commits, each creating one real record (indigo's fakermaker export,
/// cycled) in one of `--repos` repositories, and a PLC directory for their keys. Measured in the
/// same run: the reference, a bare WebSocket client receiving the same frames (the transport's
/// ceiling), then Strata's subscriber (every commit decoded, verified — signature, record blocks,
/// inversion — and appended with its cursor), then the atproto projection applying them.
public struct FirehoseBenchmark: Sendable {
    public var frames: Int
    public var repos: Int
    public var records: [CBORValue]
    public var subscribers: Int

    public init(frames: Int, repos: Int, records: [CBORValue], subscribers: Int = 100) {
        self.frames = frames
        self.repos = max(1, repos)
        self.records = records
        self.subscribers = max(1, subscribers)
    }

    public struct Report: Sendable {
        public var frames: Int
        public var bytes: Int
        public var reference: Duration
        public var toLog: Duration
        public var toView: Duration
        public var subscribers: Int
        public var fanOut: Duration

        public var markdown: String {
            func rate(_ d: Duration) -> String { grouped(Double(frames) / max(d.seconds, 1e-9)) }
            return [
                "| measurement | result |",
                "|---|---|",
                "| input | \(frames) #commit frames, \(String(format: "%.1f", Double(bytes) / 1_000_000)) MB |",
                "| reference: a bare WebSocket client receiving them | \(rate(reference)) frames/s (\(String(format: "%.2f", reference.seconds)) s) |",
                "| Strata: received, verified, appended with the cursor | \(rate(toLog)) frames/s (\(String(format: "%.2f", toLog.seconds)) s) |",
                "| Strata: then applied by the atproto projection (socket to view) | \(rate(toLog + toView)) frames/s (\(String(format: "%.2f", (toLog + toView).seconds)) s) |",
                "| Strata to the log / bare socket | **\(String(format: "%.2f", reference.seconds / max(toLog.seconds, 1e-9)))x** |",
                "| GET /subscribe from cursor 0 to \(subscribers) WebSocket subscribers at once | \(grouped(Double(frames * subscribers) / max(fanOut.seconds, 1e-9))) messages/s in all (\(String(format: "%.2f", fanOut.seconds)) s) |",
                "| outbound, all subscribers together / bare socket | **\(String(format: "%.2f", (Double(frames * subscribers) / max(fanOut.seconds, 1e-9)) / (Double(frames) / max(reference.seconds, 1e-9))))x** |",
            ].joined(separator: "\n")
        }
    }

    /// The frames and the DID documents the PLC directory serves.
    func build() throws -> (frames: [[UInt8]], documents: [String: JSONValue]) {
        var repoState: [(did: String, key: ATProtoSigningKey, records: [String: CID], rev: UInt64)] = []
        var documents: [String: JSONValue] = [:]
        for i in 0..<repos {
            let did = "did:plc:bench" + String(format: "%019d", i).replacingOccurrences(of: "0", with: "a").replacingOccurrences(of: "1", with: "b")
                .replacingOccurrences(of: "8", with: "c").replacingOccurrences(of: "9", with: "d")
            let key = try ATProtoSigningKey(seed: "bench \(i)")
            repoState.append((did, key, [:], 0))
            documents[did] = [
                "id": .string(did),
                "verificationMethod": .array([["id": .string("\(did)#atproto"), "type": "Multikey", "controller": .string(did),
                    "publicKeyMultibase": .string(String(key.publicKey.didKey.dropFirst("did:key:".count)))]]),
            ]
        }
        let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
        func tid(_ n: UInt64) -> String {
            let v = (UInt64(1_764_000_000_000_000) + n) << 10
            return String((0..<13).map { alphabet[Int((v >> UInt64(60 - 5 * $0)) & 31)] })
        }
        var out: [[UInt8]] = []
        out.reserveCapacity(frames)
        for n in 0..<frames {
            let r = n % repos
            let value = records[n % max(1, records.count)]
            let block = DagCBOR.encode(value)
            let cid = CID.compute(block)
            let collection = value["$type"]?.stringValue ?? "app.bsky.feed.post"
            let path = "\(collection)/\(tid(UInt64(n) * 7 + 3))"
            let before = try MST.build(repoState[r].records.map { MST.Entry(key: $0.key, value: $0.value) })
            repoState[r].records[path] = cid
            let after = try MST.build(repoState[r].records.map { MST.Entry(key: $0.key, value: $0.value) })
            let since = repoState[r].rev == 0 ? nil : tid(repoState[r].rev)
            let rev = UInt64(n + 1)
            repoState[r].rev = rev
            let signed = repoState[r].key.commit(did: repoState[r].did, data: after.root, rev: tid(rev))
            // The commit's blocks: the commit, the tree's nodes on the new key's path (all of them for small trees), the record.
            let nodes = after.blocks.filter { before.blocks[$0.key] == nil }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let car = CARFile.encode(roots: [signed.cid], blocks: [(signed.cid, signed.block)] + nodes + [(cid, block)])
            let commit = FirehoseCommit(seq: Int64(n + 1), repo: repoState[r].did, commit: signed.cid, rev: tid(rev), since: since, blocks: car,
                ops: [.init(action: .create, path: path, cid: cid)], prevData: before.root, time: "2026-12-04T10:00:00.000Z")
            out.append(Firehose.encode(.commit(commit)))
        }
        return (out, documents)
    }

    public func run(log: any EventLog, producer: EventProducer, client db: PostgresClient, logger: Logger) async throws -> Report {
        progress("building \(frames) signed commits for \(repos) repositories...")
        let (built, documents) = try build()
        let bytes = built.reduce(0) { $0 + $1.count }
        let port = Mutex(0)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/xrpc/com.atproto.sync.subscribeRepos") { inbound, outbound, context in
            let cursor = context.request.uri.queryParameters["cursor"].flatMap { Int(String($0)) } ?? 0
            for frame in built.dropFirst(cursor) { try await outbound.write(.binary(ByteBuffer(bytes: frame))) }
            // Then as a live host: nothing new, until the client leaves.
            for try await _ in inbound {}
        }
        router.get("/plc/:did") { _, context -> Response in
            guard let did = context.parameters.get("did"), let doc = documents[did] else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: JSONWriter.string(doc))))
        }
        let app = Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } },
            logger: logger)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let host = "localhost:\(port.withLock { $0 })"

            progress("reference: a bare WebSocket client...")
            let clock = ContinuousClock()
            let started = clock.now
            let frames = self.frames
            let lastFrame = Mutex<ContinuousClock.Instant?>(nil)
            try await WebSocketClient.connect(url: FirehoseSubscriber.streamURL(host, cursor: nil).replacingOccurrences(of: "localhost", with: "127.0.0.1") + "?cursor=0",
                configuration: .init(maxFrameSize: 16 << 20), logger: logger) { inbound, outbound, _ in
                var received = 0
                for try await _ in inbound.messages(maxSize: 16 << 20) {
                    received += 1
                    if received == frames { break }
                }
                lastFrame.withLock { $0 = clock.now }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let reference = (lastFrame.withLock { $0 } ?? clock.now) - started

            progress("Strata: the subscriber...")
            var settings = FirehoseSubscriber.Settings()
            settings.crawl.collections = ["*"]
            settings.crawl.plcURL = "http://127.0.0.1:\(port.withLock { $0 })/plc"
            settings.backfill = false
            // The PLC directory is this process: no per-host request rate (a real one gets `--rate`).
            var crawl = CrawlSettings()
            crawl.perHostRate = 0
            let client = CrawlClient(http: http, db: db, settings: crawl, logger: logger)
            let subscriber = FirehoseSubscriber(host: host, crawler: RepoCrawler(client: client, producer: producer, db: db,
                settings: settings.crawl, logger: logger), producer: producer, log: log, db: db, settings: settings, logger: logger)
            // The stream starts live without a stored cursor: seed one before the first frame.
            _ = try await producer.append([ATProtoEvents.cursorDraft(hostname: host, seq: 0, backfilled: true, at: Date(), source: "bench")])
            let subscribed = clock.now
            let following = Task { try await subscriber.follow() }
            while subscriber.progress.cursor != Int64(frames) {
                if let error = subscriber.progress.lastError, subscriber.progress.connections > 3 { following.cancel(); throw StrataError(.backend, error) }
                try await Task.sleep(for: .milliseconds(5))
            }
            let toLog = clock.now - subscribed
            following.cancel()
            _ = await following.result
            guard subscriber.progress.desynchronized == 0, subscriber.progress.rejected == 0 else {
                throw StrataError(.backend, "the benchmark's commits did not all verify: \(subscriber.progress)")
            }

            progress("Strata: the atproto projection...")
            let projecting = clock.now
            let worker = ProjectionWorker(projections: [ATProtoIndexProjection()], log: log, client: db, settings: WorkerSettings(), logger: logger)
            let running = Task { try await worker.run() }
            let monitor = LagMonitor(client: db, log: log, logger: logger)
            while true {
                let rows = try await monitor.measure(projection: "atproto")
                if !rows.isEmpty, rows.allSatisfy({ $0.state == .live && $0.events == 0 }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let toView = clock.now - projecting
            running.cancel()
            _ = await running.result

            // The outbound stream: `subscribers` WebSocket clients replay every event from cursor 0 at once.
            progress("Strata: GET /subscribe to \(subscribers) subscribers...")
            let outPort = Mutex(0)
            let outbound = Application(router: Router(), server: .http1WebSocketUpgrade(webSocketRouter: JetstreamRoutes.webSocketRouter(log: log, logger: logger)),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { channel in outPort.withLock { $0 = channel.localAddress?.port ?? 0 } },
                logger: logger)
            group.addTask { try await outbound.runService() }
            while outPort.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let streamed = clock.now
            let url = "ws://127.0.0.1:\(outPort.withLock { $0 })/subscribe?cursor=0"
            let delivered = try await withThrowingTaskGroup(of: Int.self) { clients in
                for _ in 0..<subscribers {
                    clients.addTask {
                        let count = Mutex(0)
                        try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 16 << 20), logger: logger) { inbound, outbound, _ in
                            for try await _ in inbound.messages(maxSize: 16 << 20) {
                                if count.withLock({ $0 += 1; return $0 }) == frames { break }
                            }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        return count.withLock { $0 }
                    }
                }
                return try await clients.reduce(0, +)
            }
            let fanOut = clock.now - streamed
            guard delivered == subscribers * frames else { throw StrataError(.backend, "the subscribers got \(delivered) messages, not \(subscribers * frames)") }
            group.cancelAll()
            return Report(frames: frames, bytes: bytes, reference: reference, toLog: toLog, toView: toView, subscribers: subscribers, fanOut: fanOut)
        }
    }
}

