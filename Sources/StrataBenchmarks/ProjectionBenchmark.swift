import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataProjections

/// The runtime's benchmarks: replay throughput of the reference projection beside a raw `COPY` of
/// the same view rows, and live latency from append to visible in the view.
public struct ProjectionBenchmark: Sendable {
    public var events: Int
    public var keys: Int
    public var liveRate: Int
    public var liveSeconds: Int
    /// Replays and baseline COPYs are each repeated, alternating, and the best of each compared:
    /// on a shared 2-core machine single runs of either vary by ±25%.
    public var rounds: Int
    /// A folder for each live run's samples (`live-N.tsv`: sent at, visible after, acknowledged
    /// after, partition), to see where a tail comes from; nil writes none.
    public var samplesDirectory: String?

    public init(
        events: Int = 1_000_000, keys: Int = 10_000, liveRate: Int = 1000, liveSeconds: Int = 15, rounds: Int = 3,
        samplesDirectory: String? = nil
    ) {
        self.samplesDirectory = samplesDirectory
        self.events = events
        self.keys = keys
        self.liveRate = liveRate
        self.liveSeconds = liveSeconds
        self.rounds = max(1, rounds)
    }

    /// Latency from append to visible in the view, one run.
    public struct LiveRun: Sendable {
        public var events: Int
        public var p50: Duration
        public var p99: Duration
        public var max: Duration
    }

    public struct Report: Sendable {
        public var events: Int
        public var firstBuildEventsPerSecond: Double
        public var readEventsPerSecond: Double
        public var replayEventsPerSecond: [Double]
        public var copyRows: Int
        public var copyRowsPerSecond: [Double]
        /// The same COPY split over one connection per partition, as many writers as the replay has.
        public var copyStreams: Int
        public var parallelCopyRowsPerSecond: [Double]
        /// One live-latency run right after each replay.
        public var live: [LiveRun]

        public var bestReplay: Double { replayEventsPerSecond.max() ?? 0 }
        public var bestCopy: Double { copyRowsPerSecond.max() ?? 0 }

        public var markdown: String {
            let all = { (rates: [Double]) in rates.map(grouped).joined(separator: " / ") }
            return """
                | measurement | result |
                |---|---|
                | replay of the reference projection over \(grouped(Double(events))) events (new generation beside the live one), \(replayEventsPerSecond.count) rounds | \(all(replayEventsPerSecond)) events/s |
                | raw COPY of the same view rows (\(grouped(Double(copyRows))) rows into same-shaped tables), \(copyRowsPerSecond.count) rounds | \(all(copyRowsPerSecond)) rows/s |
                | replay / raw COPY, best of each | **\(String(format: "%.2f", bestReplay / bestCopy))x** (\(grouped(bestReplay)) / \(grouped(bestCopy))) |
                | slowest replay / fastest raw COPY | \(String(format: "%.2f", (replayEventsPerSecond.min() ?? 0) / bestCopy))x |
                | the same COPY split over \(copyStreams) connections at once (one per partition, as the replay writes), \(parallelCopyRowsPerSecond.count) rounds | \(all(parallelCopyRowsPerSecond)) rows/s |
                | replay / \(copyStreams) COPYs at once, best of each | \(String(format: "%.2f", bestReplay / (parallelCopyRowsPerSecond.max() ?? 1)))x |
                | reading the log alone (the same events, decoded, all partitions at once, no projection) | \(grouped(readEventsPerSecond)) events/s |
                | first build (generation 1 from offset zero) | \(grouped(firstBuildEventsPerSecond)) events/s |
                \(live.enumerated().map { i, run in
                    "| live latency right after replay \(i + 1), append to visible in the view, \(liveRate) events/s (\(grouped(Double(run.events))) events) | p50 \(ms(run.p50)), p99 \(ms(run.p99)), max \(ms(run.max)) |"
                }.joined(separator: "\n"))
                | live p99 over the \(live.count) runs (lowest – highest) | \(ms(live.map(\.p99).min() ?? .zero)) – **\(ms(live.map(\.p99).max() ?? .zero))** |
                """
        }

        public var liveRate: String
    }

    /// `listener` is the log's notification service: running it lets workers wake on appends
    /// through one shared LISTEN connection, as they do in `strata serve` and `strata work`.
    public func run(log: PostgresEventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        try await withThrowingTaskGroup(of: Report?.self) { group in
            group.addTask {
                try await log.run()
                return nil
            }
            let report = try await measure(log: log, producer: producer, client: client, logger: logger)
            group.cancelAll()
            return report
        }
    }

    func measure(log: any EventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        let projection = DemoCountsProjection()
        let catalog = GenerationCatalog(client: client, log: log, logger: logger)
        var settings = WorkerSettings(workerID: "bench")
        settings.heartbeat = .milliseconds(500)
        settings.idleWait = .milliseconds(500)

        progress("appending \(events) events...")
        let batch = 5000
        for start in stride(from: 0, to: events, by: batch) {
            let drafts = (start..<min(start + batch, events)).map { i in
                EventDraft(topic: "demo", key: "key-\(i % keys)", type: "demo.event", id: "bench-\(i)", source: "bench",
                    payload: ["amount": .int(i % 1000), "note": .string("event \(i)")])
            }
            _ = try await log.append(try drafts.map { try producer.prepare($0) })
            if (start / batch) % 40 == 0 { progress("  \(start + drafts.count)") }
        }

        let clock = ContinuousClock()
        progress("first build (generation 1)...")
        var started = clock.now
        try await runWorker(projection, settings: settings, log: log, client: client, logger: logger) {
            try await caughtUp(client: client, log: log, logger: logger)
        }
        let firstBuild = clock.now - started

        progress("reading the log alone...")
        let read = try await readAll(log: log)

        var replays: [Double] = []
        var live: [LiveRun] = []
        var copies: [Double] = []
        var parallelCopies: [Double] = []
        var copyRows = 0
        let partitions = try await log.endOffsets(topic: "demo").count
        for round in 1...rounds {
            progress("round \(round)/\(rounds): replay (a new generation beside the live one)...")
            // The log grows by each live run's events: the replay covers them too.
            let replayed = try await log.endOffsets(topic: "demo").reduce(0, +)
            _ = try await catalog.startReplay(projection)
            started = clock.now
            try await runWorker(projection, settings: settings, log: log, client: client, logger: logger) {
                try await caughtUp(client: client, log: log, logger: logger)
            }
            replays.append(Double(replayed) / (clock.now - started).seconds)

            // Live latency right after the replay: the old generation is being dropped, the new
            // one's tables are fresh, and autovacuum and checkpoints follow the bulk writes.
            progress("round \(round)/\(rounds): live latency at \(liveRate) events/s for \(liveSeconds) s, right after the replay...")
            let latencies = try await liveLatency(projection, round: round, settings: settings, log: log, producer: producer, client: client, logger: logger)
            live.append(LiveRun(events: latencies.samples.count, p50: latencies.percentile(50), p99: latencies.percentile(99), max: latencies.percentile(100)))
            progress("  live p50 \(ms(live.last!.p50)), p99 \(ms(live.last!.p99)), max \(ms(live.last!.max))")

            progress("round \(round)/\(rounds): raw COPY of the view rows...")
            let live = try await catalog.activeGenerations(projection.name).first { $0.state == .live }!
            let (rows, copyTime) = try await copyViewRows(from: live.schema, streams: 1, client: client, logger: logger)
            copyRows = rows
            copies.append(Double(rows) / copyTime.seconds)
            progress("round \(round)/\(rounds): raw COPY of the view rows over \(partitions) connections at once...")
            let (_, parallelTime) = try await copyViewRows(from: live.schema, streams: partitions, client: client, logger: logger)
            parallelCopies.append(Double(rows) / parallelTime.seconds)
            progress("  replay \(grouped(replays.last!)) events/s, COPY \(grouped(copies.last!)) rows/s, \(partitions) COPYs at once \(grouped(parallelCopies.last!)) rows/s")
        }

        return Report(
            events: events, firstBuildEventsPerSecond: Double(events) / firstBuild.seconds, readEventsPerSecond: read,
            replayEventsPerSecond: replays, copyRows: copyRows, copyRowsPerSecond: copies, copyStreams: partitions,
            parallelCopyRowsPerSecond: parallelCopies, live: live, liveRate: grouped(Double(liveRate)))
    }

    /// Reads every event of the bench topic the way a catching-up worker does (each partition in
    /// batches of 50,000, all partitions at once) and decodes them, applying nothing: the bound the
    /// log's read path puts on replay.
    func readAll(log: any EventLog) async throws -> Double {
        let ends = try await log.endOffsets(topic: "demo")
        let clock = ContinuousClock()
        let started = clock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for (partition, end) in ends.enumerated() {
                group.addTask {
                    var offset: Int64 = 0
                    var count = 0
                    while offset < end {
                        let batch = try await log.read(topic: "demo", partition: partition, from: offset, limit: 50_000)
                        guard let last = batch.last else { break }
                        count += batch.count
                        offset = last.offset + 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (clock.now - started).seconds
    }

    /// True when the projection has no building generation and no lag.
    func caughtUp(client: PostgresClient, log: any EventLog, logger: Logger) async throws -> Bool {
        let rows = try await LagMonitor(client: client, log: log, logger: logger).measure(projection: "demo_counts")
        return !rows.isEmpty && rows.allSatisfy { $0.state == .live && $0.events == 0 }
    }

    func runWorker(
        _ projection: any Projection, settings: WorkerSettings, log: any EventLog, client: PostgresClient, logger: Logger,
        until done: @escaping @Sendable () async throws -> Bool
    ) async throws {
        let worker = ProjectionWorker(projections: [projection], log: log, client: client, settings: settings, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            group.addTask {
                while try await !done() { try await Task.sleep(for: .milliseconds(100)) }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// COPYs the live generation's rows into same-shaped tables (same columns, constraints, keys and
    /// indexes), 10,000 rows per transaction over `streams` connections, timing only the COPY.
    ///
    /// The tables are made `LIKE` the generation's base tables: the readers' schema holds views, and
    /// `LIKE` a view copies the columns but no primary key, which made an earlier version of this
    /// baseline COPY into index-less tables.
    func copyViewRows(from schema: String, streams: Int, client: PostgresClient, logger: Logger) async throws -> (Int, Duration) {
        let chunkRows = 10_000
        var rows = 0
        var total = Duration.zero
        for (table, columns) in [("event_index", "partition, log_offset, key, amount, appended_at"), ("key_counts", "key, events, amount_sum, last_partition, last_offset")] {
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS public.raw_\(table)"), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE public.raw_\(table) (LIKE \(schema).\(table) INCLUDING ALL)"), logger: logger)
            let indexes = try await indexCount("public", "raw_\(table)", client: client, logger: logger)
            let viewIndexes = try await indexCount(schema, table, client: client, logger: logger)
            guard indexes == viewIndexes, indexes > 0 else {
                throw StrataError(.backend, "baseline table raw_\(table) has \(indexes) indexes, the view's table \(viewIndexes)")
            }
            // The rows as COPY text, read out beforehand.
            var chunks: [ByteBuffer] = []
            var buffer = ByteBuffer()
            var count = 0
            let stream = try await client.query(PostgresQuery(unsafeSQL: "SELECT concat_ws(E'\\t', \(columns)) FROM demo_counts.\(table)"), logger: logger)
            for try await line in stream.decode(String.self) {
                buffer.writeString(line)
                buffer.writeString("\n")
                count += 1
                if count % chunkRows == 0 {
                    chunks.append(buffer)
                    buffer = ByteBuffer()
                }
            }
            if buffer.readableBytes > 0 { chunks.append(buffer) }
            let clock = ContinuousClock()
            let started = clock.now
            // Chunks dealt round-robin to `streams` connections, each COPYing its share in order.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stream in 0..<streams {
                    let share = stride(from: stream, to: chunks.count, by: streams).map { chunks[$0] }
                    group.addTask {
                        for chunk in share {
                            try await client.withTransaction(logger: logger) { conn in
                                try await conn.copyFrom(table: "raw_\(table)", logger: logger) { writer in try await writer.write(chunk) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            total += clock.now - started
            rows += count
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE public.raw_\(table)"), logger: logger)
        }
        return (rows, total)
    }

    func indexCount(_ schema: String, _ table: String, client: PostgresClient, logger: Logger) async throws -> Int {
        var count = 0
        for try await n in try await client.query(
            "SELECT count(*)::int8 FROM pg_indexes WHERE schemaname = \(schema) AND tablename = \(table)", logger: logger
        ).decode(Int64.self) { count = Int(n) }
        return count
    }

    /// Appends single events at `liveRate`/s while the worker runs; a watcher polls the checkpoints
    /// (committed with the view rows) and records when each event became visible.
    func liveLatency(
        _ projection: any Projection, round: Int, settings: WorkerSettings, log: any EventLog, producer: EventProducer, client: PostgresClient, logger: Logger
    ) async throws -> LatencyRecorder {
        let worker = ProjectionWorker(projections: [projection], log: log, client: client, settings: settings, logger: logger)
        let tracker = VisibilityTracker()
        let clock = ContinuousClock()
        let total = liveRate * liveSeconds
        let generation = try await GenerationCatalog(client: client, log: log, logger: logger).activeGenerations("demo_counts")
            .first { $0.state == .live }!.number
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            // Let the worker take its leases.
            try await Task.sleep(for: .seconds(2))
            group.addTask {
                while await !tracker.allSeen(total) {
                    var rows: [(Int, Int64)] = []
                    for try await row in try await client.query("""
                        SELECT partition, next_offset FROM strata.checkpoints
                         WHERE projection = 'demo_counts' AND generation = \(generation)
                        """, logger: logger).decode((Int, Int64).self) { rows.append(row) }
                    await tracker.observe(rows, at: clock.now)
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            group.addTask {
                let interval = Duration.nanoseconds(1_000_000_000 / liveRate)
                var next = clock.now
                try await withThrowingTaskGroup(of: Void.self) { senders in
                    for i in 0..<total {
                        next += interval
                        try await clock.sleep(until: next)
                        senders.addTask {
                            let draft = EventDraft(topic: "demo", key: "live-\(i % 1000)", type: "demo.event", id: "live-\(round)-\(i)",
                                source: "bench", payload: ["amount": .int(i)])
                            let t0 = clock.now
                            let receipt = try await producer.append([draft])[0]
                            await tracker.appended(receipt.partition, receipt.offset, at: t0, acknowledgedAfter: clock.now - t0)
                        }
                    }
                    try await senders.waitForAll()
                }
            }
            try await group.next()
            try await group.next()
            group.cancelAll()
        }
        if let samplesDirectory {
            let path = URL(fileURLWithPath: samplesDirectory).appendingPathComponent("live-\(round).tsv").path
            try await tracker.samplesTSV().write(toFile: path, atomically: true, encoding: .utf8)
            progress("  samples: \(path)")
        }
        return await tracker.latencies
    }
}

/// Matches appended events with the moment their partition's checkpoint passed them.
actor VisibilityTracker {
    private var pending: [Int: [(offset: Int64, at: ContinuousClock.Instant, acknowledged: Duration)]] = [:]
    private var checkpoints: [Int: (Int64, ContinuousClock.Instant)] = [:]
    private(set) var latencies = LatencyRecorder()
    /// Per event: when it was sent, how long until visible, how long until acknowledged, partition.
    private var samples: [(sent: ContinuousClock.Instant, visible: Duration, acknowledged: Duration, partition: Int)] = []

    func appended(_ partition: Int, _ offset: Int64, at start: ContinuousClock.Instant, acknowledgedAfter acknowledged: Duration) {
        if let (next, seen) = checkpoints[partition], next > offset {
            record(start, max(.zero, seen - start), acknowledged, partition)
        } else {
            pending[partition, default: []].append((offset, start, acknowledged))
        }
    }

    func observe(_ rows: [(Int, Int64)], at now: ContinuousClock.Instant) {
        for (partition, next) in rows {
            checkpoints[partition] = (next, now)
            guard var list = pending[partition] else { continue }
            list.removeAll { entry in
                if entry.offset < next {
                    record(entry.at, now - entry.at, entry.acknowledged, partition)
                    return true
                }
                return false
            }
            pending[partition] = list
        }
    }

    private func record(_ sent: ContinuousClock.Instant, _ visible: Duration, _ acknowledged: Duration, _ partition: Int) {
        latencies.record(visible)
        samples.append((sent, visible, acknowledged, partition))
    }

    func allSeen(_ total: Int) -> Bool { latencies.samples.count >= total }

    /// The samples in send order, seconds from the first and milliseconds, tab-separated.
    func samplesTSV() -> String {
        let sorted = samples.sorted { $0.sent < $1.sent }
        guard let first = sorted.first?.sent else { return "sent_s\tvisible_ms\tacknowledged_ms\tpartition\n" }
        var out = "sent_s\tvisible_ms\tacknowledged_ms\tpartition\n"
        for s in sorted {
            out += String(format: "%.4f\t%.2f\t%.2f\t%d\n", (s.sent - first).seconds, s.visible.milliseconds, s.acknowledged.milliseconds, s.partition)
        }
        return out
    }
}
