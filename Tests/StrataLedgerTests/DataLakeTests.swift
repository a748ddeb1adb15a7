import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import StrataApp
import StrataCore
import StrataLedger
import StrataStellarXDR
import StrataTestSupport
import Synchronization
import Testing

/// A Galexie data lake on disk, laid out as Galexie writes it, from real mainnet ledgers renumbered
/// into one hash chain (the recorded ledgers are not consecutive).
struct LakeFixture {
    let root: URL
    let layout: GalexieLayout
    let ledgers: [[UInt8]]
    let first: UInt32

    static func make(first: UInt32 = 1000, count: Int, ledgersPerBatch: UInt32 = 2, batchesPerPartition: UInt32 = 4, seed: UInt32 = 0) throws -> LakeFixture {
        let text = try String(contentsOf: TestEnvironment.sharedData.appendingPathComponent("stellar/xdr/ledgers-base64.txt"), encoding: .utf8)
        let recorded = text.split(whereSeparator: \.isNewline).compactMap { Data(base64Encoded: String($0)).map(Array.init) }
        let ledgers = try LedgerChain.rechain(recorded, from: first, count: count, seed: seed)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("strata-lake-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let layout = try GalexieLayout(ledgersPerBatch: ledgersPerBatch, batchesPerPartition: batchesPerPartition, networkPassphrase: "Test SDF Network ; September 2015")
        let config: JSONValue = [
            "networkPassphrase": .string(layout.networkPassphrase!), "version": "1.0", "compression": "zstd",
            "ledgersPerBatch": .int(Int(ledgersPerBatch)), "batchesPerPartition": .int(Int(batchesPerPartition)),
        ]
        try Data(JSONWriter.bytes(config)).write(to: root.appendingPathComponent(GalexieLayout.configName))
        let lake = LakeFixture(root: root, layout: layout, ledgers: ledgers, first: first)
        return lake
    }

    /// Writes the objects holding ledgers `range` (whole batches).
    func write(_ range: ClosedRange<UInt32>, from source: [[UInt8]]? = nil) throws {
        var sequence = layout.batchStart(range.lowerBound)
        while sequence <= range.upperBound {
            let end = layout.batchEnd(sequence)
            let chunk = (sequence...end).map { (source ?? ledgers)[Int($0 - first)] }
            try write(sequence, bytes: try Zstd.compress(LedgerCloseMetaBatch.encode(startSequence: sequence, endSequence: end, ledgers: chunk)))
            sequence = end + 1
        }
    }

    func write(_ sequence: UInt32, bytes: [UInt8]) throws {
        let url = root.appendingPathComponent(layout.objectKey(sequence))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Write then rename, as an object store makes an object appear whole.
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".tmp-\(UUID().uuidString)")
        try Data(bytes).write(to: temporary)
        try FileManager.default.moveItem(at: temporary, to: url)
    }

    func remove(_ sequence: UInt32) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent(layout.objectKey(sequence)))
    }

    func hash(_ sequence: UInt32) throws -> [UInt8] { try LedgerCloseMetaSummary.decode(ledgers[Int(sequence - first)]).hash }
}

/// Every ledger of the topic, in order, as (sequence, hash, previous hash), read from the log.
func chainInLog(_ strata: StrataContext) async throws -> [(UInt32, String, String)] {
    var out: [(UInt32, String, String)] = []
    let ends = try await strata.log.endOffsets(topic: LedgerMetaLog.topic)
    for (partition, end) in ends.enumerated() where end > 0 {
        for event in try await strata.log.read(topic: LedgerMetaLog.topic, partition: partition, from: 0, limit: Int(end), maxBytes: nil) {
            let m = try event.payloadMembers(["sequence", "hash", "previous_hash", "xdr"])
            let text = try #require(m[3]?.stringValue)
            let xdr = try #require(Data(base64Encoded: text))
            let summary = try LedgerCloseMetaSummary.decode(Array(xdr))
            #expect(Int(summary.sequence) == m[0]?.intValue)
            out.append((summary.sequence, try #require(m[1]?.stringValue), try #require(m[2]?.stringValue)))
        }
    }
    return out.sorted { $0.0 < $1.0 }
}

func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Checks the log holds exactly ledgers `range`, each once, chained.
func expectChain(_ strata: StrataContext, _ range: ClosedRange<UInt32>, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let chain = try await chainInLog(strata)
    #expect(chain.map(\.0) == Array(range), sourceLocation: sourceLocation)
    for (a, b) in zip(chain, chain.dropFirst()) {
        #expect(b.2 == a.1, "ledger \(b.0) does not chain to \(a.0)", sourceLocation: sourceLocation)
    }
}

/// Serves a directory over HTTP on loopback, as a bucket's public endpoint would (404 for a
/// missing object); `failures` answers 503 to the first requests of a key to exercise retries.
final class LakeServer: Sendable {
    let requests = Mutex<[String]>([])
    let failFirst = Mutex<[String: Int]>([:])

    func run(root: URL, port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let key = String(request.uri.path.dropFirst())
            self.requests.withLock { $0.append(key) }
            let fail = self.failFirst.withLock { pending -> Bool in
                guard let n = pending[key], n > 0 else { return false }
                pending[key] = n - 1
                return true
            }
            if fail { return Response(status: .serviceUnavailable, headers: [.retryAfter: "0"]) }
            guard !key.contains(".."), let data = FileManager.default.contents(atPath: root.appendingPathComponent(key).path) else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

@Suite(.serialized) struct DataLakeTests {
    static let logger = TestEnvironment.logger

    func source(_ store: any LedgerObjectStore, _ strata: StrataContext, from: UInt32? = nil, to: UInt32? = nil, follow: Bool = false, perAppend: Int = 16) -> DataLakeSource {
        var options = DataLakeSource.Options(from: from, to: to, follow: follow)
        options.pollInterval = .milliseconds(50)
        options.ledgersPerAppend = perAppend
        return DataLakeSource(store: store, options: options, ledgers: LedgerMetaLog(log: strata.log, producer: strata.producer), logger: Self.logger)
    }

    @Test func layoutNamesObjectsAsGalexie() throws {
        // SEP-0054's examples (2 ledgers per batch, 8 per partition) and the recorded object.
        let sep = try GalexieLayout(ledgersPerBatch: 2, batchesPerPartition: 8)
        #expect(sep.objectKey(2) == "FFFFFFFF--0-15/FFFFFFFD--2-3.xdr.zst")
        #expect(sep.objectKey(19) == "FFFFFFEF--16-31/FFFFFFED--18-19.xdr.zst")
        let one = try GalexieLayout(ledgersPerBatch: 1, batchesPerPartition: 64000)
        #expect(one.objectKey(53_312_000) == "FCD285FF--53312000-53375999/FCD285FF--53312000.xdr.zst")
        #expect(try GalexieLayout(ledgersPerBatch: 1, batchesPerPartition: 1).objectKey(53_312_000, fileExtension: ".xdr.zstd")
            == "FCD285FF--53312000.xdr.zstd")
        let top = try GalexieLayout(ledgersPerBatch: 64, batchesPerPartition: 1000)
        #expect(top.objectKey(UInt32.max).hasSuffix("--4294967232-4294967295.xdr.zst"))
        #expect(throws: StrataError.self) { try GalexieLayout.parse(config: Array(#"{"ledgersPerBatch": 0, "batchesPerPartition": 1}"#.utf8), source: "c") }
        #expect(throws: StrataError.self) { try GalexieLayout.parse(config: Array(#"{"ledgersPerBatch": 1, "batchesPerPartition": 1, "compression": "gzip"}"#.utf8), source: "c") }
        #expect(try GalexieLayout.parse(config: Array(#"{"ledgersPerBatch": 1, "batchesPerPartition": 64000, "compression": "zstd"}"#.utf8), source: "c") == one)
    }

    @Test func backfillsARangeAndResumesFromTheLog() async throws {
        let lake = try LakeFixture.make(count: 20)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        try lake.write(1000...1019)
        try await TestEnvironment.withStrata { strata in
            let store = DirectoryLedgerStore(root: lake.root)
            let first = try await source(store, strata, from: 1000, to: 1006).ingest()
            #expect(first.appended == 7)
            try await expectChain(strata, 1000...1006)
            // The position is the log's: the next run continues at 1007 (mid-object), whatever --from says.
            let second = try await source(store, strata, from: 1000).ingest()
            #expect(second.appended == 13)
            #expect(second.highest == 1019)
            try await expectChain(strata, 1000...1019)
            let third = try await source(store, strata).ingest()
            #expect(third.appended == 0)
            // Starting above the ledger after the highest would leave a gap: refused.
            await #expect(throws: StrataError.self) { try await source(store, strata, from: 1030).ingest() }
            // An empty topic needs a start.
            try await TestEnvironment.withStrata { empty in
                let error = await #expect(throws: StrataError.self) { try await source(store, empty).ingest() }
                #expect(error?.message.contains("pass --from") == true)
            }
        }
    }

    @Test func readsOverHTTPWithRetriesAndFollowsNewObjects() async throws {
        let lake = try LakeFixture.make(count: 24)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        try lake.write(1000...1007)
        let server = LakeServer()
        server.failFirst.withLock { $0[lake.layout.objectKey(1002)] = 2 }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await client.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await server.run(root: lake.root) { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let bound = try #require(await iterator.next())
                let store = HTTPLedgerStore(base: try #require(URL(string: "http://127.0.0.1:\(bound)")),
                    client: client, timeout: .seconds(5), logger: Self.logger)
                let following = source(store, strata, from: 1000, follow: true, perAppend: 3)
                let failure = Mutex<String?>(nil)
                group.addTask {
                    do { try await following.ingest() } catch is CancellationError {} catch {
                        failure.withLock { $0 = "\(error)" }
                    }
                }
                @Sendable func reached(_ sequence: UInt32) async throws -> Bool {
                    if let error = failure.withLock({ $0 }) {
                        Issue.record("the source stopped: \(error)")
                        throw CancellationError()
                    }
                    return try await LedgerMetaLog(log: strata.log, producer: strata.producer).position()?.sequence == sequence
                }
                try await waitUntil("ledger 1007 is in the log") { try await reached(1007) }
                // Galexie writes the next objects while the source follows, one by one.
                for start in stride(from: UInt32(1008), to: 1024, by: 2) {
                    try lake.write(start...(start + 1))
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await waitUntil("ledger 1023 is in the log") { try await reached(1023) }
                group.cancelAll()
                try? await group.waitForAll()
            }
            try await expectChain(strata, 1000...1023)
            let requests = server.requests.withLock { $0 }
            #expect(requests.contains(GalexieLayout.configName))
            #expect(requests.filter { $0 == lake.layout.objectKey(1002) }.count == 3, "two 503s, then the object")
        }
    }

    @Test func aMissingObjectStopsTheSourceNamingTheLedger() async throws {
        let lake = try LakeFixture.make(count: 12)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        try lake.write(1000...1011)
        try lake.remove(1004)
        try await TestEnvironment.withStrata { strata in
            let store = DirectoryLedgerStore(root: lake.root)
            let error = await #expect(throws: StrataError.self) { try await source(store, strata, from: 1000).ingest() }
            #expect(error?.message.contains("ledger 1004 is missing from the data lake") == true, "\(String(describing: error))")
            // What came before the hole is in; nothing after it.
            try await expectChain(strata, 1000...1003)
            // Following stops there too: a later object exists, so this is a hole, not the tip.
            let followError = await #expect(throws: StrataError.self) { try await source(store, strata, follow: true).ingest() }
            #expect(followError?.message.contains("ledger 1004 is missing") == true)
            // Below --to without --follow, the end of the data lake is an error as well.
            try lake.remove(1010)
            try lake.write(1004...1005)
            let shortError = await #expect(throws: StrataError.self) { try await source(store, strata, to: 1011).ingest() }
            #expect(shortError?.message.contains("ledger 1010 is not in the data lake") == true, "\(String(describing: shortError))")
            try await expectChain(strata, 1000...1009)
        }
    }

    @Test func aBrokenHashChainOrACorruptObjectStopsIt() async throws {
        let lake = try LakeFixture.make(count: 12)
        let other = try LakeFixture.make(count: 12, seed: 7)
        defer {
            try? FileManager.default.removeItem(at: lake.root)
            try? FileManager.default.removeItem(at: other.root)
        }
        try lake.write(1000...1005)
        // Ledgers 1006-1007 of another chain (each one well-formed, its own hash right).
        try lake.write(1006...1007, from: other.ledgers)
        try await TestEnvironment.withStrata { strata in
            let store = DirectoryLedgerStore(root: lake.root)
            let error = await #expect(throws: StrataError.self) { try await source(store, strata, from: 1000).ingest() }
            #expect(error?.message.contains("ledger 1006's previous hash") == true, "\(String(describing: error))")
            #expect(error?.message.contains("is not the hash of ledger 1005") == true)
            try await expectChain(strata, 1000...1005)
            // A corrupt object: a truncated zstd frame, then a frame of bad XDR.
            try lake.remove(1006)
            let good = try Zstd.compress(LedgerCloseMetaBatch.encode(startSequence: 1006, endSequence: 1007, ledgers: [lake.ledgers[6], lake.ledgers[7]]))
            try lake.write(1006, bytes: Array(good.prefix(good.count - 9)))
            let zstdError = await #expect(throws: StrataError.self) { try await source(store, strata).ingest() }
            #expect(zstdError?.message.contains("zstd") == true, "\(String(describing: zstdError))")
            #expect(zstdError?.location?.source.hasSuffix(lake.layout.objectKey(1006)) == true)
            try lake.remove(1006)
            var badXDR = LedgerCloseMetaBatch.encode(startSequence: 1006, endSequence: 1007, ledgers: [lake.ledgers[6], lake.ledgers[7]])
            badXDR[15] = 9 // the first ledger's LedgerCloseMeta arm
            try lake.write(1006, bytes: try Zstd.compress(badXDR))
            let xdrError = await #expect(throws: StrataError.self) { try await source(store, strata).ingest() }
            #expect(xdrError?.message.contains("LedgerCloseMeta at byte 12: unknown union arm 9") == true, "\(String(describing: xdrError))")
            try await expectChain(strata, 1000...1005)
            // Repaired, it continues.
            try lake.remove(1006)
            try lake.write(1006...1011)
            _ = try await source(store, strata).ingest()
            try await expectChain(strata, 1000...1011)
        }
    }

    /// `strata ingest datalake --follow` killed with SIGKILL in the middle of objects (8 ledgers
    /// each, appended 3 at a time), then run again: every ledger once, the chain whole.
    @Test func sigkillMidObjectLosesAndDoublesNothing() async throws {
        let lake = try LakeFixture.make(count: 96, ledgersPerBatch: 8, batchesPerPartition: 4)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        try lake.write(1000...1095)
        try await TestEnvironment.withStrata { strata in
            let url = try #require(strata.configuration.databaseURL)
            let arguments = ["ingest", "datalake", lake.root.path, "--from", "1000", "--follow", "--poll-interval", "0.2",
                             "--ledgers-per-append", "3", "--database-url", url, "--log-level", "info"]
            let metaLog = LedgerMetaLog(log: strata.log, producer: strata.producer)
            for round in 0..<2 {
                let process = try WorkerProcess(arguments: arguments, id: "datalake-\(round)")
                // Kill it once it has appended something past a point that is not an object boundary.
                let target: UInt32 = round == 0 ? 1010 : 1050
                try await waitUntil("the source passes ledger \(target)", timeout: .seconds(60)) {
                    (try await metaLog.position()?.sequence ?? 0) >= target
                }
                #expect(!process.reaped(), "the source exited by itself: \(process.output)")
                await process.killAndReap()
            }
            let last = try WorkerProcess(arguments: arguments, id: "datalake-last")
            try await waitUntil("ledger 1095 is in the log", timeout: .seconds(60)) { try await metaLog.position()?.sequence == 1095 }
            #expect(await last.stop(within: .seconds(10)) != nil, "SIGTERM stops a following source")
            try await expectChain(strata, 1000...1095)
        }
    }

    /// `strata serve --datalake`: a hole in the data lake makes `/health` degraded (with the ledger
    /// named) and `strata_datalake_up` 0; once the object appears the source resumes by itself.
    @Test func serveFollowsADataLakeAndReportsItsFaults() async throws {
        let lake = try LakeFixture.make(count: 12)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        try lake.write(1000...1011)
        try lake.remove(1004)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await client.shutdown() } }
        @Sendable func get(_ url: String) async -> (Int, String) {
            do {
                let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: body))
            } catch { return (0, "\(error)") }
        }
        try await TestEnvironment.withStrata { strata in
            let url = try #require(strata.configuration.databaseURL)
            let port = 10_000 + Int(getpid() % 5_000) + Int.random(in: 0...4_000)
            let base = "http://127.0.0.1:\(port)"
            let server = try WorkerProcess(arguments: [
                "serve", "--database-url", url, "--port", String(port), "--no-workers", "--rate-limit", "0", "--datalake", lake.root.path,
                "--datalake-from", "1000", "--datalake-poll-interval", "0.1", "--datalake-retry", "0.3",
            ], id: "serve-datalake")
            try await waitUntil("/health names the missing ledger", timeout: .seconds(60)) {
                let (status, body) = await get("\(base)/health")
                return status == 200 && body.contains("\"degraded\"") && body.contains("ledger 1004 is missing from the data lake")
            }
            let (_, metrics) = await get("\(base)/metrics")
            #expect(metrics.contains("strata_datalake_up 0"), "\(metrics.prefix(2000))")
            try await expectChain(strata, 1000...1003)
            // The object appears: the source resumes by itself.
            try lake.write(1004...1005)
            let metaLog = LedgerMetaLog(log: strata.log, producer: strata.producer)
            try await waitUntil("the source catches up") { try await metaLog.position()?.sequence == 1011 }
            try await waitUntil("/health is ok again") {
                let (status, body) = await get("\(base)/health")
                return status == 200 && body.contains("\"status\":\"ok\"") && body.contains("waiting for ledger 1012")
            }
            let (_, after) = await get("\(base)/metrics")
            #expect(after.contains("strata_datalake_up 1"))
            #expect(after.contains("strata_datalake_ledger 1011"))
            #expect(await server.stop(within: .seconds(10)) != nil, "SIGTERM stops serve: \(server.output.suffix(2000))")
            try await expectChain(strata, 1000...1011)
        }
    }

    @Test func ingestXDRChecksFilesWholeAndKeepsTheChain() async throws {
        let lake = try LakeFixture.make(count: 6, ledgersPerBatch: 1, batchesPerPartition: 1)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        let folder = lake.root
        // Three forms: base64 lines, raw XDR, a zstd batch.
        let lines = lake.ledgers[0..<2].map { Data($0).base64EncodedString() }.joined(separator: "\n") + "\n"
        try Data(lines.utf8).write(to: folder.appendingPathComponent("a.txt"))
        try Data(lake.ledgers[2]).write(to: folder.appendingPathComponent("b.xdr"))
        try Data(try Zstd.compress(LedgerCloseMetaBatch.encode(startSequence: 1003, endSequence: 1005, ledgers: Array(lake.ledgers[3...5]))))
            .write(to: folder.appendingPathComponent("c.xdr.zst"))
        var truncated = lake.ledgers[2]
        truncated.removeLast(100)
        try Data(truncated).write(to: folder.appendingPathComponent("bad.xdr"))
        try await TestEnvironment.withStrata { strata in
            let url = try #require(strata.configuration.databaseURL)
            let bad = try await CLIRunner.run(["ingest", "xdr", folder.appendingPathComponent("a.txt").path, folder.appendingPathComponent("bad.xdr").path,
                                         "--database-url", url])
            #expect(bad.status == 65)
            #expect(bad.stderr.contains("bad.xdr"), "\(bad.stderr)")
            #expect(bad.stderr.contains("at byte"), "\(bad.stderr)")
            #expect(try await chainInLog(strata).isEmpty, "nothing is appended from a failed ingest")
            // Out of order on the command line, and the batch first: sorted, then checked as one chain.
            let good = try await CLIRunner.run(["ingest", "xdr", folder.appendingPathComponent("c.xdr.zst").path, folder.appendingPathComponent("a.txt").path,
                                          folder.appendingPathComponent("b.xdr").path, "--database-url", url])
            #expect(good.status == 0, "\(good.stderr)")
            #expect(good.stderr.contains("appended 6"), "\(good.stderr)")
            try await expectChain(strata, 1000...1005)
            let again = try await CLIRunner.run(["ingest", "xdr", folder.appendingPathComponent("b.xdr").path, "--database-url", url])
            #expect(again.status == 0 && again.stderr.contains("appended 0"), "\(again.stderr)")
            // A ledger of another chain at a sequence the log holds is a conflict; above it, a broken chain.
            let other = try LakeFixture.make(count: 8, ledgersPerBatch: 1, batchesPerPartition: 1, seed: 3)
            defer { try? FileManager.default.removeItem(at: other.root) }
            try Data(other.ledgers[2]).write(to: folder.appendingPathComponent("other-1002.xdr"))
            try Data(other.ledgers[6]).write(to: folder.appendingPathComponent("other-1006.xdr"))
            let conflict = try await CLIRunner.run(["ingest", "xdr", folder.appendingPathComponent("other-1002.xdr").path, "--database-url", url])
            #expect(conflict.status == 65 && conflict.stderr.contains("ledger-1002"), "\(conflict.stderr)")
            let broken = try await CLIRunner.run(["ingest", "xdr", folder.appendingPathComponent("other-1006.xdr").path, "--database-url", url])
            #expect(broken.status == 65 && broken.stderr.contains("is not the hash of ledger 1005"), "\(broken.stderr)")
            try await expectChain(strata, 1000...1005)
        }
    }
}

/// Polls `condition` every 50 ms until it holds, failing after `timeout`.
func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting until \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Ledger rows from XDR against stellar-etl's goldens for the 10 mainnet ledgers: the header from
/// each row's own `ledger_header` XDR, the counts from the raw transaction XDR of
/// `multi_batch_ledger_transactions.json` (envelopes and results), field by field.
@Suite struct XDRLedgerRowTests {
    func base64Field(_ value: JSONValue?) throws -> [UInt8] {
        let text = try #require(value?.stringValue)
        return Array(try #require(Data(base64Encoded: text)))
    }

    @Test func ledgerRowsEqualStellarETL() throws {
        let etl = TestEnvironment.sharedData.appendingPathComponent("stellar/etl")
        func lines(_ name: String) throws -> [JSONValue] {
            try String(contentsOf: etl.appendingPathComponent(name), encoding: .utf8).split(whereSeparator: \.isNewline).map { try JSONParser.parse(String($0)) }
        }
        var counts: [Int: LedgerCounts] = [:]
        for tx in try lines("multi_batch_ledger_transactions.json") {
            let sequence = try #require(tx["ledger_sequence"]?.intValue)
            let envelope = try base64Field(tx["tx_envelope"])
            let result = try base64Field(tx["tx_result"])
            var r = XDRReader(Array(envelope))
            let operations = try TransactionXDR.operationCount(&r)
            try r.expectEnd("TransactionEnvelope")
            var rr = XDRReader(Array(result))
            let (successful, results) = try TransactionXDR.resultPair(&rr)
            try rr.expectEnd("TransactionResultPair")
            var c = counts[sequence] ?? LedgerCounts()
            c.transactions += 1
            c.txSetOperations += operations
            if successful {
                c.successful += 1
                c.operations += results ?? 0
            } else {
                c.failed += 1
            }
            counts[sequence] = c
        }
        let goldens = try lines("10_ledgers.json")
        #expect(goldens.count == 11)
        for golden in goldens {
            let sequence = try #require(golden["sequence"]?.intValue)
            let header = try LedgerHeaderFields.decode(try base64Field(golden["ledger_header"]))
            let row = XDRLedgerRow.row(header: header, counts: counts[sequence] ?? LedgerCounts())
            guard case .object(let fields) = row, case .object(let expected) = golden else { Issue.record("not objects"); continue }
            for (name, value) in fields {
                #expect(expected[name] == value, "ledger \(sequence) field \(name): \(value) vs stellar-etl \(String(describing: expected[name]))")
            }
            // Fields stellar-etl has that the row leaves out: evicted keys (none before protocol 23).
            #expect(Set(expected.keys).subtracting(fields.keys) == ["evicted_ledger_keys_hash", "evicted_ledger_keys_type"])
        }
    }

    @Test func metasCarryTheirCounts() throws {
        // The Galexie batch's ledger: counts from its own transaction set and results.
        let compressed = Array(try Data(contentsOf: TestEnvironment.sharedData.appendingPathComponent("stellar/xdr/FCD285FF--53312000.xdr.zstd")))
        let ledger = try #require(try LedgerCloseMetaBatch.decode(try Zstd.decompress(compressed)).ledgers.first)
        #expect(ledger.counts.transactions == ledger.transactionCount)
        #expect(ledger.counts.successful + ledger.counts.failed == ledger.transactionCount)
        #expect(ledger.counts.txSetOperations >= ledger.counts.operations)
        let row = XDRLedgerRow.row(ledger)
        #expect(row["sequence"]?.intValue == 53_312_000)
        #expect(row["ledger_hash"]?.stringValue == hexString(ledger.hash))
        #expect(row["node_id"]?.stringValue?.hasPrefix("G") == true, "a signed close value names its validator")
    }
}

/// Raw ledgers feed silver's current state: every account and trustline a mainnet ledger's metas
/// change is in `accounts_current` / `trustlines_current`, each modified in that very ledger
/// (the network's `lastModifiedLedgerSeq`, a check on where the decoder reads).
@Suite struct RawLedgerSilverTests {
    @Test func currentStateFromARawLedger() async throws {
        let path = TestEnvironment.sharedData.appendingPathComponent("stellar/xdr/FCD285FF--53312000.xdr.zstd").path
        let ledgers = try LedgerMetaFiles.read(path)
        var accounts: Set<String> = []
        var trustlines: Set<String> = []
        for ledger in ledgers {
            for tx in ledger.summary.applied {
                var r = XDRReader(Array(ledger.bytes[ledger.bytes.startIndex...][tx.metaRange]))
                let meta = try r.readTransactionMeta()
                for change in meta.accounts where change.kind != .state { accounts.insert(change.accountID) }
                for change in meta.trustlines where change.kind != .state { trustlines.insert("\(change.accountID) \(change.asset)") }
            }
        }
        #expect(!accounts.isEmpty && !trustlines.isEmpty)
        let (touchedAccounts, touchedTrustlines) = (accounts, trustlines)
        try await TestEnvironment.withStrata { strata in
            let metaLog = LedgerMetaLog(log: strata.log, producer: strata.producer)
            _ = try await metaLog.append(ledgers, after: nil, network: nil, source: "test")
            try await ProjectionHarness.runUntilCaughtUp(strata, [LedgerSilverProjection(), LedgerBronzeProjection()])
            var stored: Set<String> = []
            for try await (id, modified) in try await strata.client.query(
                "SELECT account_id, last_modified_ledger FROM ledger_silver.accounts_current WHERE NOT deleted"
            ).decode((String, Int64?).self) {
                stored.insert(id)
                #expect(modified == 53_312_000, "\(id)")
            }
            var storedTrustlines: Set<String> = []
            for try await (id, asset, modified) in try await strata.client.query(
                "SELECT account_id, asset, last_modified_ledger FROM ledger_silver.trustlines_current WHERE NOT deleted"
            ).decode((String, String, Int64?).self) {
                storedTrustlines.insert("\(id) \(asset)")
                #expect(modified == 53_312_000, "\(id) \(asset)")
            }
            #expect(stored.isSubset(of: touchedAccounts) && stored.count >= touchedAccounts.count - 5, "removed entries are the difference")
            #expect(storedTrustlines.isSubset(of: touchedTrustlines) && !storedTrustlines.isEmpty)
            for try await (id, modified) in try await strata.client.query(
                "SELECT offer_id, last_modified_ledger FROM ledger_silver.offers_current WHERE NOT deleted"
            ).decode((Int64, Int64?).self) {
                #expect(modified == 53_312_000, "offer \(id)")
            }
            var pools = 0
            for try await (id, modified, a, b, shares) in try await strata.client.query(
                "SELECT pool_id, last_modified_ledger, reserve_a, reserve_b, total_pool_shares FROM ledger_silver.liquidity_pools_current WHERE NOT deleted"
            ).decode((String, Int64?, Int64?, Int64?, Int64?).self) {
                pools += 1
                #expect(modified == 53_312_000, "pool \(id)")
                #expect((a ?? 0) >= 0 && (b ?? 0) >= 0 && (shares ?? 0) >= 0)
            }
            #expect(pools > 0, "the 2024 ledger changes liquidity pools")
            let rows = try await strata.client.query("SELECT count(*)::int FROM ledger_bronze.ledgers WHERE sequence = 53312000").decode(Int.self)
            for try await n in rows { #expect(n == 1) }
        }
    }
}
