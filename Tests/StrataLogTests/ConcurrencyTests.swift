import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// Offsets are gapless and visible in offset order under concurrent producers.
@Suite struct ConcurrencyTests {
    /// 16 producers append 20,000 events to 4 partitions while readers tail every partition. Each
    /// reader must see every offset exactly once, in order, with no gap, and the totals must match.
    @Test(arguments: LogBackend.allCases)
    func concurrentProducersWithTailingReaders(backend: LogBackend) async throws {
        let producers = 16
        let perProducer = 1250
        let total = producers * perProducer
        try await backend.withLog { log, producer in
            let partitions = try await log.topic(named: "demo").partitions
            let progress = Progress()
            try await withThrowingTaskGroup(of: (Int, [Int64], [String]).self) { group in
                // Readers first, so they tail while producers append.
                for p in 0..<partitions {
                    group.addTask {
                        var offsets: [Int64] = []
                        var ids: [String] = []
                        var next: Int64 = 0
                        while true {
                            // Each read continues right after the last offset seen: an offset that
                            // became visible before a lower one would show up as a gap here.
                            let batch = try await log.read(topic: "demo", partition: p, from: next, limit: 300)
                            if let last = batch.last {
                                offsets += batch.map(\.offset)
                                ids += batch.map(\.id)
                                next = last.offset + 1
                                continue
                            }
                            if let end = await progress.finalEnds?[p], next >= end { break }
                            _ = try await log.waitForEvents(topic: "demo", partition: p, beyond: next, timeout: .milliseconds(500))
                        }
                        return (p, offsets, ids)
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { writers in
                    for w in 0..<producers {
                        writers.addTask {
                            var i = 0
                            while i < perProducer {
                                // Mixed batch sizes: single events and small batches, random keys.
                                let size = min(perProducer - i, [1, 1, 5, 25, 50].randomElement()!)
                                let drafts = (i..<(i + size)).map { n in
                                    demoDraft(key: "k\(Int.random(in: 0..<64))", amount: n, id: "w\(w)-\(n)")
                                }
                                try await producer.append(drafts)
                                i += size
                            }
                        }
                    }
                    try await writers.waitForAll()
                }
                await progress.finish(with: try await log.endOffsets(topic: "demo"))
                var seenIDs = Set<String>()
                var totalSeen = 0
                for try await (p, offsets, ids) in group {
                    #expect(offsets == (0..<Int64(offsets.count)).map { $0 }, "partition \(p) has gaps or reordering")
                    totalSeen += ids.count
                    seenIDs.formUnion(ids)
                }
                #expect(totalSeen == total)
                #expect(seenIDs.count == total)
                #expect(try await log.endOffsets(topic: "demo").reduce(0, +) == Int64(total))
            }
        }
    }
}

/// Set when the producers are done: the end offset each reader must reach.
actor Progress {
    private(set) var finalEnds: [Int64]?
    func finish(with ends: [Int64]) { finalEnds = ends }
}
