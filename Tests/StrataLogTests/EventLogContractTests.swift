import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// The contract every `EventLog` backend passes.
@Suite struct EventLogContractTests {
    @Test(arguments: LogBackend.allCases)
    func appendThenReadRoundTrips(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let occurred = Date(timeIntervalSince1970: 1_700_000_000.5)
            var draft = demoDraft(key: "k1", amount: 42, note: "héllo")
            draft.occurredAt = occurred
            draft.headers = ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
            draft.id = "evt-1"
            let receipts = try await producer.append([draft])
            #expect(receipts.count == 1)
            let r = receipts[0]
            #expect(r.offset == 0)
            #expect(r.duplicate == false)
            #expect(r.partition == Partitioner.partition(forKey: "k1", partitions: 4))
            let events = try await log.read(topic: "demo", partition: r.partition, from: 0, limit: 10)
            #expect(events.count == 1)
            let e = try #require(events.first)
            #expect(e.id == "evt-1")
            #expect(e.key == "k1")
            #expect(e.type == "demo.event")
            #expect(e.schemaVersion == 1)
            #expect(e.source == "test")
            #expect(e.occurredAt == occurred)
            #expect(e.headers == draft.headers)
            #expect(try e.payloadJSON() == draft.payload)
            #expect(abs(e.appendedAt.timeIntervalSinceNow) < 60)
            let end = try await log.endOffsets(topic: "demo")[r.partition]
            if log.capabilities.contains(.denseOffsets) { #expect(end == 1) } else { #expect(end >= 1) }
        }
    }

    @Test(arguments: LogBackend.allCases)
    func largePayloadsAreCompressedTransparently(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let note = String(repeating: "stellar ", count: 1000)
            let r = try await producer.append([demoDraft(key: "big", note: note)])[0]
            let e = try await log.read(topic: "demo", partition: r.partition, from: r.offset, limit: 1)[0]
            #expect(try e.payloadJSON()["note"] == .string(note))
            // Compressed on the way in (zstd, a fraction of the size), small payloads left as they are.
            let prepared = try producer.prepare(demoDraft(key: "big", note: note))
            #expect(prepared.compression == .zstd)
            #expect(prepared.storedPayload.count < note.utf8.count / 10)
            #expect(try producer.prepare(demoDraft(key: "small", note: "x")).compression == PayloadCompression.none)
        }
    }

    @Test(arguments: LogBackend.allCases)
    func orderingWithinAPartitionFollowsAppendOrder(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            for batch in 0..<5 {
                try await producer.append((0..<20).map { demoDraft(key: "same-key", amount: batch * 20 + $0) })
            }
            let p = Partitioner.partition(forKey: "same-key", partitions: 4)
            let events = try await readAll(log, topic: "demo", partition: p)
            if log.capabilities.contains(.denseOffsets) { #expect(events.map(\.offset) == Array(0..<100)) }
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.offset < $1.offset })
            #expect(try events.map { try $0.payloadJSON()["amount"]?.intValue } == (0..<100).map { $0 })
            // Reads start anywhere and respect the limit.
            let middle = try await log.read(topic: "demo", partition: p, from: events[37].offset, limit: 5)
            #expect(middle.map(\.offset) == events[37..<42].map(\.offset))
            let end = try await log.endOffsets(topic: "demo")[p]
            #expect(end > events[99].offset)
            #expect(try await log.read(topic: "demo", partition: p, from: end, limit: 5).isEmpty)
        }
    }

    /// A byte budget (Kafka's fetch.max.bytes) bounds a read, but never below one event.
    @Test(arguments: LogBackend.allCases)
    func readsRespectAByteBudget(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let note = String(repeating: "x", count: 1000)
            try await producer.append((0..<10).map { demoDraft(key: "budget", note: note + "\($0)") })
            let p = Partitioner.partition(forKey: "budget", partitions: 4)
            let all = try await readAll(log, topic: "demo", partition: p)
            #expect(all.count == 10)
            let some = try await log.read(topic: "demo", partition: p, from: all[2].offset, limit: 100, maxBytes: 3500)
            // ~1,030 stored bytes each: the events starting before 3,500 bytes are four.
            #expect(some.count == 4)
            #expect(some.map(\.offset) == all[2..<6].map(\.offset))
            let one = try await log.read(topic: "demo", partition: p, from: 0, limit: 100, maxBytes: 1)
            #expect(one.map(\.offset) == [all[0].offset])
            let end = try await log.endOffsets(topic: "demo")[p]
            #expect(try await log.read(topic: "demo", partition: p, from: end, limit: 100, maxBytes: 1).isEmpty)
        }
    }

    @Test(arguments: LogBackend.allCases)
    func appendsAreIdempotent(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let first = try await producer.append([demoDraft(key: "a", id: "x1"), demoDraft(key: "b", id: "x2")])
            // Same ids again, mixed with a new one, and a repeat inside the batch.
            let second = try await producer.append([
                demoDraft(key: "c", id: "x3"), demoDraft(key: "a", id: "x1"), demoDraft(key: "b", id: "x2"), demoDraft(key: "c", id: "x3"),
            ])
            #expect(second[1] == AppendReceipt(topic: "demo", partition: first[0].partition, offset: first[0].offset, duplicate: true))
            #expect(second[2] == AppendReceipt(topic: "demo", partition: first[1].partition, offset: first[1].offset, duplicate: true))
            #expect(second[0].duplicate == false)
            #expect(second[3] == AppendReceipt(topic: "demo", partition: second[0].partition, offset: second[0].offset, duplicate: true))
            #expect(try await count(log) == 3)
            // Without explicit ids, the content decides: the same event twice is one event.
            let a = try await producer.append([demoDraft(key: "z", amount: 7)])
            let b = try await producer.append([demoDraft(key: "z", amount: 7)])
            #expect(b[0].offset == a[0].offset && b[0].duplicate)
            #expect(try await count(log) == 4)
        }
    }

    @Test(arguments: LogBackend.allCases)
    func offsetsStayGaplessAfterDuplicates(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            try await producer.append([demoDraft(key: "g", id: "1"), demoDraft(key: "g", id: "2")])
            try await producer.append([demoDraft(key: "g", id: "2"), demoDraft(key: "g", id: "3")])
            let p = Partitioner.partition(forKey: "g", partitions: 4)
            let events = try await readAll(log, topic: "demo", partition: p)
            if log.capabilities.contains(.denseOffsets) { #expect(events.map(\.offset) == [0, 1, 2]) }
            #expect(events.map(\.id) == ["1", "2", "3"])
        }
    }

    /// Large batches (bulk path) keep every guarantee: gapless offsets, idempotency, all or nothing.
    @Test(arguments: LogBackend.allCases)
    func largeBatchesKeepTheGuarantees(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let first = (0..<300).map { demoDraft(key: "k\($0 % 7)", amount: $0, note: "tab\tnew\nline\\", id: "big-\($0)") }
            let receipts = try await producer.append(first)
            #expect(receipts.allSatisfy { !$0.duplicate })
            // Re-sent with 100 new ones: the old 300 are duplicates with their original offsets.
            let again = try await producer.append(first + (300..<400).map { demoDraft(key: "k\($0 % 7)", amount: $0, id: "big-\($0)") })
            #expect(Array(again.prefix(300)) == receipts.map { AppendReceipt(topic: $0.topic, partition: $0.partition, offset: $0.offset, duplicate: true) })
            #expect(again.suffix(100).allSatisfy { !$0.duplicate })
            var total = 0
            for p in 0..<4 {
                let events = try await readAll(log, topic: "demo", partition: p)
                if log.capabilities.contains(.denseOffsets) { #expect(events.map(\.offset) == (0..<Int64(events.count)).map { $0 }) }
                #expect(zip(events, events.dropFirst()).allSatisfy { $0.offset < $1.offset })
                total += events.count
            }
            #expect(total == 400)
            let sample = try await log.read(topic: "demo", partition: receipts[0].partition, from: receipts[0].offset, limit: 1)[0]
            #expect(try sample.payloadJSON()["note"] == "tab\tnew\nline\\")
            // A bad partition anywhere in a large batch: nothing appended.
            var prepared = try (400..<500).map { try producer.prepare(demoDraft(key: "k\($0)", id: "x-\($0)")) }
            prepared[50].partition = 42
            await #expect(throws: StrataError.self) { try await log.append(prepared) }
            #expect(try await count(log) == 400)
        }
    }

    @Test(arguments: LogBackend.allCases)
    func batchesAreAllOrNothing(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            // A bad event anywhere in the batch: nothing is appended.
            var bad = demoDraft(key: "k")
            bad.payload = ["amount": "not a number"]
            await #expect(throws: StrataError.self) {
                try await producer.append([demoDraft(key: "a"), demoDraft(key: "b"), bad])
            }
            #expect(try await log.endOffsets(topic: "demo") == [0, 0, 0, 0])
            // A backend-level failure mid-batch (a partition the topic does not have) rolls back too.
            var good = try producer.prepare(demoDraft(key: "a"))
            var broken = try producer.prepare(demoDraft(key: "b"))
            broken.partition = 99
            good.id = "good"
            await #expect(throws: StrataError.self) { try await log.append([good, broken]) }
            #expect(try await log.endOffsets(topic: "demo") == [0, 0, 0, 0])
        }
    }

    @Test(arguments: LogBackend.allCases)
    func tailWakesOnAppend(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            let p = Partitioner.partition(forKey: "w", partitions: 4)
            // Nothing there yet: a short wait times out.
            #expect(try await log.waitForEvents(topic: "demo", partition: p, beyond: 0, timeout: .milliseconds(200)) == false)
            try await withThrowingTaskGroup(of: [Int64].self) { group in
                group.addTask {
                    var seen: [Int64] = []
                    for try await batch in log.tail(topic: "demo", partition: p, from: 0) {
                        seen += batch.map(\.offset)
                        if seen.count >= 3 { break }
                    }
                    return seen
                }
                let clock = ContinuousClock()
                try await Task.sleep(for: .milliseconds(300))
                try await producer.append([demoDraft(key: "w", amount: 1)])
                try await Task.sleep(for: .milliseconds(100))
                try await producer.append([demoDraft(key: "w", amount: 2), demoDraft(key: "w", amount: 3)])
                // Timed from the last append (a loaded CI run spent 11 s in the two Kafka appends).
                let appended = clock.now
                let seen = try await group.next()
                // Woken by the append, not by the 30 s fallback timeout.
                #expect(clock.now - appended < .seconds(15))
                if log.capabilities.contains(.denseOffsets) { #expect(seen == [0, 1, 2]) } else { #expect(seen?.count == 3) }
            }
        }
    }

    @Test(arguments: LogBackend.allCases)
    func unknownTopicsAndPartitionsAreErrors(backend: LogBackend) async throws {
        try await backend.withLog { log, producer in
            do {
                _ = try await producer.append([demoDraft(key: "a", topic: "nope")])
                Issue.record("appended to an unknown topic")
            } catch let error as StrataError {
                #expect(error.code == .unknownTopic)
                #expect(error.message.contains("nope"))
            }
            await #expect(throws: StrataError.self) { try await log.endOffsets(topic: "nope") }
            #expect(try await log.read(topic: "demo", partition: 0, from: 0, limit: 10).isEmpty)
        }
    }
}

/// The events a topic holds, read to the end of every partition.
func count(_ log: any EventLog, topic: String = "demo") async throws -> Int {
    var total = 0
    for p in 0..<(try await log.endOffsets(topic: topic).count) { total += try await readAll(log, topic: topic, partition: p).count }
    return total
}
