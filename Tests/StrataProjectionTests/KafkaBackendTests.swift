import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataAPI
import StrataApp
import StrataCore
import StrataKafka
import StrataProjections
import StrataTestSupport
import Testing

/// The Kafka backend under faults, through librdkafka's mock cluster: after every fault the
/// reference projection's view equals the fault-free one (nothing lost, nothing applied twice).
@Suite(.serialized) struct KafkaBackendTests {
    /// Three ingests of 400 events over 37 keys; the middle one meets the fault.
    static func batches() -> [[EventDraft]] {
        (0..<3).map { b in
            (0..<400).map { i in
                let n = b * 400 + i
                return demoDraft(key: "k\((n * 7) % 37)", amount: (n * 31) % 1000 - 300, id: "kafka-\(n)")
            }
        }
    }

    /// The view without offsets (a retried or re-appended batch may sit at other offsets than in
    /// the fault-free run; what it says must not differ): per key the count and sum, and every
    /// applied event's key and amount.
    static func view(_ client: PostgresClient) async throws -> [String] {
        var out: [String] = []
        for try await (key, events, sum) in try await client.query(
            "SELECT key, events, amount_sum::text FROM demo_counts.key_counts ORDER BY key", logger: TestEnvironment.logger
        ).decode((String, Int64, String).self) {
            out.append("\(key) \(events) \(sum)")
        }
        for try await (key, amount, n) in try await client.query(
            "SELECT key, amount, count(*)::int FROM demo_counts.event_index GROUP BY key, amount ORDER BY key, amount", logger: TestEnvironment.logger
        ).decode((String, Int64, Int).self) {
            out.append("\(key) \(amount) x\(n)")
        }
        return out
    }

    /// Runs the three ingests with `fault` around the middle one, then the projection; returns the view.
    static func run(
        url: @escaping @Sendable (KafkaTestCluster) -> String = { $0.logURL() },
        _ fault: @escaping @Sendable (KafkaMockCluster, StrataContext, [EventDraft]) async throws -> Void = { _, strata, batch in
            try await strata.producer.append(batch)
        }
    ) async throws -> [String] {
        try await KafkaTestCluster.with { cluster in
            try await TestEnvironment.withStrata(logURL: url(cluster)) { strata in
                let parts = batches()
                try await strata.producer.append(parts[0])
                try await fault(cluster.mock, strata, parts[1])
                try await strata.producer.append(parts[2])
                try await ProjectionHarness.runUntilCaughtUp(strata, [DemoCountsProjection()])
                return try await view(strata.client)
            }
        }
    }

    static let faultFree = Task { try await run() }

    static func expectSameAsFaultFree(_ view: [String]) async throws {
        let expected = try await faultFree.value
        #expect(expected.count == 37 + Set(batches().joined().map { "\($0.key) \($0.payload["amount"]?.intValue ?? 0)" }).count)
        #expect(view == expected)
    }

    /// Puts every partition of the demo topic on `broker`.
    static func lead(_ mock: KafkaMockCluster, _ broker: Int32) throws {
        for p in 0..<4 { try mock.setLeader(topic: "demo", partition: p, broker: broker) }
    }

    @Test func theFaultFreeViewHasEveryEventOnce() async throws {
        let view = try await Self.faultFree.value
        let total = view.filter { !$0.contains(" x") }.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +)
        #expect(total == 1200)
    }

    @Test func aBrokerDownDuringProduce() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            try Self.lead(mock, 1)
            try await Task.sleep(for: .milliseconds(300))
            try mock.brokerDown(1)
            let append = Task { try await strata.producer.append(batch) }
            try await Task.sleep(for: .milliseconds(1500))
            try mock.brokerUp(1)
            let receipts = try await append.value
            #expect(receipts.count == 400 && receipts.allSatisfy { !$0.duplicate })
        })
    }

    @Test func retriableProduceErrors() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            mock.pushErrors(.produce, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas, .leaderNotAvailable, .transport])
            try await strata.producer.append(batch)
        })
    }

    @Test func retriableFetchErrors() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            try await strata.producer.append(batch)
            mock.pushErrors(.fetch, [.notLeaderForPartition, .transport, .requestTimedOut, .leaderNotAvailable, .notLeaderForPartition])
        })
    }

    /// A permanent error fails the whole append with librdkafka's code and text; sent again, the
    /// batch lands once.
    @Test func aPermanentProduceErrorFailsTheBatch() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            // INVALID_RECORD fails the messages of one request (an authorization error would also
            // mark the topic failed in the client until its next metadata refresh).
            mock.pushErrors(.produce, [.invalidRecord])
            do {
                try await strata.producer.append(batch)
                Issue.record("an append with a permanent produce error succeeded")
            } catch let error as StrataError {
                #expect(error.message.contains("INVALID_RECORD"), "\(error)")
            }
            mock.clearErrors(.produce)
            try await strata.producer.append(batch)
        })
    }

    /// A permanent error on Fetch fails the read with librdkafka's code (never a silent empty
    /// read or a jump); once the broker answers again, the projection catches up to the same view.
    @Test func aPermanentFetchErrorFailsTheReadThenRecovers() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            try await strata.producer.append(batch)
            mock.pushErrors(.fetch, Array(repeating: .topicAuthorizationFailed, count: 8))
            do {
                for p in 0..<4 { _ = try await readAll(strata.log, topic: "demo", partition: p) }
                Issue.record("reads with a permanent fetch error succeeded")
            } catch let error as StrataError {
                #expect(error.message.contains("TOPIC_AUTHORIZATION_FAILED"), "\(error)")
            }
            mock.clearErrors(.fetch)
        })
    }

    /// Acks delayed past `socket.timeout.ms`: the producer times the request out and retries; the
    /// idempotent producer's sequence numbers make the retry land once.
    @Test func delayedAcksPastTheSocketTimeout() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() + "&socket.timeout.ms=1000" }) { mock, strata, batch in
            try Self.lead(mock, 2)
            try await Task.sleep(for: .milliseconds(300))
            try mock.pushBrokerError(broker: 2, .produce, .none, rtt: .milliseconds(1600))
            try mock.pushBrokerError(broker: 2, .produce, .none, rtt: .milliseconds(1600))
            try await strata.producer.append(batch)
        })
    }

    /// Leaders move while a batch is produced: the append lands whole, or (when the move breaks
    /// the idempotent producer's sequence, as a loaded machine showed: OUT_OF_ORDER_SEQUENCE_NUMBER,
    /// transaction aborted) fails whole, and sent again lands once. The view is the same either way.
    @Test func aLeaderChangeMidBatch() async throws {
        try await Self.expectSameAsFaultFree(try await Self.run(url: { $0.logURL() }) { mock, strata, batch in
            try Self.lead(mock, 1)
            let append = Task { try await strata.producer.append(batch) }
            try await Task.sleep(for: .milliseconds(5))
            try Self.lead(mock, 3)
            do {
                _ = try await append.value
            } catch let error as StrataError {
                #expect(error.message.contains("transaction aborted") || error.message.contains("abort"), "\(error)")
                _ = try await strata.producer.append(batch)
            }
        })
    }

    /// Retries exhausted (every broker down past the message timeout): the append fails with a
    /// clear error and none of its events is visible; once the cluster is back, sent again, it
    /// lands once.
    @Test func exhaustedRetriesFailTheWholeBatch() async throws {
        let url: @Sendable (KafkaTestCluster) -> String = { $0.logURL() + "&message.timeout.ms=1500&request_timeout_ms=4000" }
        try await Self.expectSameAsFaultFree(try await Self.run(url: url) { mock, strata, batch in
            let before = try await strata.log.endOffsets(topic: "demo")
            try mock.brokerDown(-1)
            let started = ContinuousClock.now
            do {
                try await strata.producer.append(batch)
                Issue.record("an append with every broker down succeeded")
            } catch let error as StrataError {
                #expect(error.code == .timeout || error.code == .backend, "\(error)")
                #expect(error.message.contains("Kafka"), "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(30))
            try mock.brokerUp(-1)
            #expect(try await strata.log.endOffsets(topic: "demo") == before)
            try await strata.producer.append(batch)
        })
    }

    /// Two writers append the same ids at once: the log may hold both copies, but every reader sees
    /// the first only, so the view counts each event once; a third writer started later answers
    /// every id as a duplicate with the original's offset.
    @Test func twoWritersAppendingTheSameIDs() async throws {
        try await KafkaTestCluster.with { cluster in
            try await TestEnvironment.withStrata(logURL: cluster.logURL()) { strata in
                let second = try KafkaEventLog(settings: try KafkaLogSettings.parse(cluster.logURL(), defaultTransactionalID: "unused"), logger: strata.logger)
                try await second.createTopics(strata.topology.sortedTopics)
                let secondProducer = EventProducer(log: second, topology: strata.topology, schemas: strata.schemas)
                let batch = Self.batches()[0]
                async let a = strata.producer.append(batch)
                async let b = secondProducer.append(batch)
                let (ra, rb) = try await (a, b)
                #expect(ra.count == 400 && rb.count == 400)
                await second.close()

                try await ProjectionHarness.runUntilCaughtUp(strata, [DemoCountsProjection()])
                let rows = try await strata.client.query("SELECT count(*)::int FROM demo_counts.event_index").decode(Int.self)
                for try await n in rows { #expect(n == 400) }
                let lag = try await LagMonitor(client: strata.client, log: strata.log, logger: strata.logger).measure(projection: "demo_counts")
                #expect(lag.allSatisfy { $0.events == 0 }, "\(lag.map(\.json))")

                // A writer that starts later reads each partition's ids before its first append.
                let third = try KafkaEventLog(settings: try KafkaLogSettings.parse(cluster.logURL(), defaultTransactionalID: "unused"), logger: strata.logger)
                try await third.createTopics(strata.topology.sortedTopics)
                let ends = try await third.endOffsets(topic: "demo")
                let again = try await EventProducer(log: third, topology: strata.topology, schemas: strata.schemas).append(batch)
                #expect(again.allSatisfy { $0.duplicate })
                let firstCopies = try await (0..<4).asyncMap { try await readAll(third, topic: "demo", partition: $0) }.joined()
                let offsetByID = Dictionary(uniqueKeysWithValues: firstCopies.map { ($0.id, $0.offset) })
                #expect(firstCopies.count == 400)
                #expect(zip(batch, again).allSatisfy { draft, receipt in offsetByID[draft.id ?? ""] == receipt.offset })
                #expect(try await third.endOffsets(topic: "demo") == ends)
                await third.close()
            }
        }
    }

    /// A read waiting for a reader of a partition whose readers are all busy fails after
    /// `readerWait` with a timeout naming the partition (not forever); a reader left idle stops
    /// fetching and, used again, seeks and reads on exactly where it was.
    @Test func aReadWaitsForAFreeReaderOnlyUntilItsDeadline() async throws {
        try await KafkaTestCluster.with { cluster in
            var settings = try KafkaLogSettings.parse(cluster.logURL(), defaultTransactionalID: "unused")
            settings.readersPerPartition = 1
            settings.readerWait = .milliseconds(500)
            settings.readerIdleStop = .milliseconds(200)
            let log = try KafkaEventLog(settings: settings, logger: TestEnvironment.logger)
            let topology = try TestEnvironment.topology()
            try await log.createTopics(topology.sortedTopics)
            let producer = EventProducer(log: log, topology: topology, schemas: try TestEnvironment.schemas())
            let first = try await producer.append([demoDraft(key: "k", id: "idle-1")])[0]
            let partition = first.partition
            // The only reader of the partition is held by a wait that finds nothing for 3 s.
            let end = try await log.endOffsets(topic: "demo")[partition]
            let holder = Task { try await log.waitForEvents(topic: "demo", partition: partition, beyond: end, timeout: .seconds(3)) }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            do {
                _ = try await log.readBatch(topic: "demo", partition: partition, from: 0, limit: 10, maxBytes: nil)
                Issue.record("a read got a reader that another read held")
            } catch let error as StrataError {
                #expect(error.code == .timeout && error.message.contains("demo/\(partition)"), "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(try await holder.value == false)
            // Idle past readerIdleStop: the reader stopped; the next read resumes exactly.
            try await Task.sleep(for: .milliseconds(700))
            let second = try await producer.append([demoDraft(key: "k", id: "idle-2")])[0]
            #expect(second.partition == partition)
            let ids = try await readAll(log, topic: "demo", partition: partition).map(\.id)
            #expect(ids == ["idle-1", "idle-2"])
            let after = try await log.readBatch(topic: "demo", partition: partition, from: second.offset + 1, limit: 10, maxBytes: nil)
            #expect(after.events.isEmpty)
            await log.close()
        }
    }

    /// A restarted writer (same transactional id) takes over from the one it replaces. A real
    /// cluster then answers the old one with PRODUCER_FENCED; the 2.0.2 mock registers the newcomer
    /// but does not fence by itself, so the test injects that answer on the old writer's EndTxn: its
    /// append fails with a clear error, its next append is refused without a request, and the
    /// successor keeps appending.
    @Test func aFencedWriterStopsAndItsSuccessorAppends() async throws {
        try await KafkaTestCluster.with { cluster in
            try await TestEnvironment.withStrata(logURL: cluster.logURL(writer: "the-writer")) { strata in
                try await strata.producer.append([demoDraft(key: "a", id: "before")])
                let successor = try KafkaEventLog(
                    settings: try KafkaLogSettings.parse(cluster.logURL(writer: "the-writer"), defaultTransactionalID: "unused"), logger: strata.logger)
                try await successor.createTopics(strata.topology.sortedTopics)
                let successorProducer = EventProducer(log: successor, topology: strata.topology, schemas: strata.schemas)
                try await successorProducer.append([demoDraft(key: "b", id: "successor")])
                cluster.mock.pushErrors(.endTxn, [.producerFenced])
                for attempt in ["zombie", "zombie-2"] {
                    do {
                        try await strata.producer.append([demoDraft(key: "c", id: attempt)])
                        Issue.record("a fenced writer appended \(attempt)")
                    } catch let error as StrataError {
                        #expect(error.code == .conflict && error.message.contains("fenced") && error.message.contains("the-writer"), "\(error)")
                    }
                }
                // The fenced writer is a standing fault of this process: /health is degraded naming
                // it, /metrics has strata_log_problem{problem="writer_fenced"} 1.
                #expect(strata.log.problems.map(\.kind) == ["writer_fenced"])
                #expect(successor.problems.isEmpty)
                let reporter = Task { try await LagReporter(strata: strata, interval: .milliseconds(100)).run() }
                try await Task.sleep(for: .milliseconds(400))
                reporter.cancel()
                _ = await reporter.result
                let app = Application(router: buildRouter(strata.apiDependencies(writeToken: nil, metrics: true), routes: RouteRegistry.all()),
                    logger: strata.logger)
                try await app.test(.router) { client in
                    let health = try await client.execute(uri: "/health", method: .get)
                    let body = String(buffer: health.body)
                    #expect(health.status == .ok)
                    #expect(body.contains("\"status\":\"degraded\"") && body.contains("writer_fenced") && body.contains("the-writer"), "\(body)")
                    let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                    #expect(metrics.contains("strata_log_problem{problem=\"writer_fenced\"} 1"), "\(metrics.prefix(3000))")
                }
                try await successorProducer.append([demoDraft(key: "d", id: "successor-2")])
                let ids = Set(try await (0..<4).asyncMap { try await readAll(successor, topic: "demo", partition: $0).map(\.id) }.joined())
                #expect(ids.isSuperset(of: ["before", "successor", "successor-2"]))
                // Refused before producing (the mock shows uncommitted data, so "zombie" may be there).
                #expect(!ids.contains("zombie-2"))
                await successor.close()
            }
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
