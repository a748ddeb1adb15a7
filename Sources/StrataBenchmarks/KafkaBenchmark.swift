import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataKafka
import StrataPostgres
import StrataProjections

/// The Kafka log's benchmarks: batched appends through `KafkaEventLog` beside librdkafka's own
/// producer writing the same messages to the same cluster in the same run; and replay of the
/// reference projection from the Kafka log beside the same replay from the PostgreSQL log.
public struct KafkaBenchmark: Sendable {
    public var events: Int
    public var batchSize: Int
    public var keys: Int
    public var rounds: Int
    public var replayRounds: Int

    public init(events: Int = 20_000, batchSize: Int = 1000, keys: Int = 1000, rounds: Int = 3, replayRounds: Int = 3) {
        self.events = events
        self.batchSize = batchSize
        self.keys = keys
        self.rounds = max(1, rounds)
        self.replayRounds = max(1, replayRounds)
    }

    public struct Report: Sendable {
        public var cluster: String
        public var events: Int
        public var batchSize: Int
        public var appendEventsPerSecond: [Double]
        public var referenceTransactionalEventsPerSecond: [Double]
        public var referenceIdempotentEventsPerSecond: [Double]
        public var replayedEvents: Int
        public var kafkaReadEventsPerSecond: [Double]
        public var postgresReadEventsPerSecond: [Double]
        public var kafkaReplayEventsPerSecond: [Double]
        public var postgresReplayEventsPerSecond: [Double]

        public var markdown: String {
            let all = { (rates: [Double]) in rates.map(grouped).joined(separator: " / ") }
            let x = { (r: Double) in String(format: "%.2fx", r) }
            let append = median(appendEventsPerSecond)
            return """
                | measurement (\(cluster)) | result |
                |---|---|
                | KafkaEventLog batched append, \(grouped(Double(events))) events in batches of \(batchSize), \(appendEventsPerSecond.count) rounds | \(all(appendEventsPerSecond)) events/s |
                | librdkafka's producer, the same messages, one transaction per batch of \(batchSize) | \(all(referenceTransactionalEventsPerSecond)) events/s |
                | librdkafka's producer, the same messages, idempotent, no transactions, one flush | \(all(referenceIdempotentEventsPerSecond)) events/s |
                | append / transactional reference, medians | **\(x(append / median(referenceTransactionalEventsPerSecond)))** |
                | append / non-transactional reference, medians | \(x(append / median(referenceIdempotentEventsPerSecond))) |
                | reading every event of the topic from the Kafka log (all partitions at once, batches of 50,000, nothing applied), \(kafkaReadEventsPerSecond.count) rounds | \(all(kafkaReadEventsPerSecond)) events/s |
                | the same read from the PostgreSQL log | \(all(postgresReadEventsPerSecond)) events/s |
                | Kafka read / PostgreSQL read, medians | \(x(median(kafkaReadEventsPerSecond) / median(postgresReadEventsPerSecond))) |
                | replay of the reference projection from the Kafka log, \(grouped(Double(replayedEvents))) events, \(kafkaReplayEventsPerSecond.count) rounds | \(all(kafkaReplayEventsPerSecond)) events/s |
                | the same replay from the PostgreSQL log | \(all(postgresReplayEventsPerSecond)) events/s |
                | Kafka replay / PostgreSQL replay, medians | **\(x(median(kafkaReplayEventsPerSecond) / median(postgresReplayEventsPerSecond)))** |
                """
        }
    }

    func drafts(round: Int) -> [EventDraft] {
        (0..<events).map { i in
            EventDraft(topic: "demo", key: "key-\(i % keys)", type: "demo.event", id: "kafka-bench-\(round)-\(i)", source: "bench",
                payload: ["amount": .int(i % 1000), "note": .string("event \(i)")])
        }
    }

    /// - Parameters:
    ///   - kafka: the Kafka log (its views and checkpoints in `kafkaClient`'s database).
    ///   - reference: librdkafka's producer on the same cluster; `referenceTopic` has the demo
    ///     topic's partition count.
    ///   - postgres: the PostgreSQL log (and its views) in another database.
    public func run(
        kafka: KafkaEventLog, kafkaClient: PostgresClient, producer: EventProducer, reference: KafkaReferenceProducer, referenceTopic: String,
        postgres: PostgresEventLog, postgresClient: PostgresClient, logger: Logger
    ) async throws -> Report {
        let clock = ContinuousClock()
        var appends: [Double] = []
        var transactional: [Double] = []
        var idempotent: [Double] = []
        var all: [PreparedEvent] = []
        // Warm up untimed, as the reference does: one event per partition (the producer and its
        // transactional registration, connections to every leader, each partition's id index).
        var warmup: [PreparedEvent] = []
        var warmed = Set<Int>()
        for k in 0..<keys {
            let e = try producer.prepare(EventDraft(topic: "demo", key: "key-\(k)", type: "demo.event", id: "kafka-bench-warmup-\(k)",
                source: "bench", payload: ["amount": .int(0), "note": .string("warm-up")]))
            if warmed.insert(e.partition).inserted { warmup.append(e) }
        }
        progress("warming up the Kafka log (\(warmup.count) events, untimed)...")
        _ = try await kafka.append(warmup)
        all += warmup
        for round in 0..<rounds {
            let prepared = try drafts(round: round).map { try producer.prepare($0) }
            all += prepared
            progress("round \(round + 1)/\(rounds): librdkafka's producer, one transaction per batch of \(batchSize)...")
            let t = try await reference.run(prepared, topic: referenceTopic, batchSize: batchSize, mode: .transactional)
            transactional.append(Double(events) / t.seconds)
            progress("round \(round + 1)/\(rounds): KafkaEventLog.append, batches of \(batchSize)...")
            let started = clock.now
            for start in stride(from: 0, to: prepared.count, by: batchSize) {
                _ = try await kafka.append(Array(prepared[start..<min(start + batchSize, prepared.count)]))
            }
            appends.append(Double(events) / (clock.now - started).seconds)
            progress("round \(round + 1)/\(rounds): librdkafka's producer, idempotent, one flush...")
            let f = try await reference.run(prepared, topic: referenceTopic, batchSize: batchSize, mode: .idempotent)
            idempotent.append(Double(events) / f.seconds)
            progress("  append \(grouped(appends.last!)) events/s; reference \(grouped(transactional.last!)) (transactions) / \(grouped(idempotent.last!)) (flush) events/s")
        }
        // The replay reads from offset zero: a cluster that dropped the oldest data (librdkafka's
        // mock keeps about 5 MiB per partition) cannot be replayed.
        let marks = try await kafka.watermarks(topic: "demo")
        guard marks.allSatisfy({ $0.low == 0 }) else {
            throw StrataError(.invalidInput, """
                the cluster no longer holds the oldest events of topic demo (low watermarks \(marks.map(\.low))): \
                the mock keeps about 5 MiB per partition; run with fewer --events or --rounds
                """)
        }

        progress("appending the same \(all.count) events to the PostgreSQL log...")
        for start in stride(from: 0, to: all.count, by: 5000) {
            _ = try await postgres.append(Array(all[start..<min(start + 5000, all.count)]))
        }

        // The read path alone (what bounds a replay), rounds alternating between the two logs.
        var kafkaReads: [Double] = []
        var postgresReads: [Double] = []
        let reader = ProjectionBenchmark(events: 0)
        for round in 1...replayRounds {
            progress("read \(round)/\(replayRounds): every event from the Kafka log, then from the PostgreSQL log...")
            kafkaReads.append(try await reader.readAll(log: kafka))
            postgresReads.append(try await reader.readAll(log: postgres))
            progress("  Kafka \(grouped(kafkaReads.last!)) events/s, PostgreSQL \(grouped(postgresReads.last!)) events/s")
        }

        let kafkaReplays = try await replays(log: kafka, total: all.count, client: kafkaClient, name: "Kafka", logger: logger)
        let postgresReplays = try await withThrowingTaskGroup(of: [Double]?.self) { group in
            group.addTask {
                try await postgres.run()
                return nil
            }
            let rates = try await replays(log: postgres, total: all.count, client: postgresClient, name: "PostgreSQL", logger: logger)
            group.cancelAll()
            return rates
        }
        return Report(
            cluster: reference.bootstrap, events: events, batchSize: batchSize, appendEventsPerSecond: appends,
            referenceTransactionalEventsPerSecond: transactional, referenceIdempotentEventsPerSecond: idempotent,
            replayedEvents: all.count, kafkaReadEventsPerSecond: kafkaReads, postgresReadEventsPerSecond: postgresReads,
            kafkaReplayEventsPerSecond: kafkaReplays, postgresReplayEventsPerSecond: postgresReplays)
    }

    /// The first build of the reference projection, then `replayRounds` replays (each a new
    /// generation beside the live one); events per second of each replay.
    func replays(log: any EventLog, total: Int, client: PostgresClient, name: String, logger: Logger) async throws -> [Double] {
        let projection = DemoCountsProjection()
        let catalog = GenerationCatalog(client: client, log: log, logger: logger)
        var settings = WorkerSettings(workerID: "bench")
        settings.heartbeat = .milliseconds(500)
        settings.idleWait = .milliseconds(500)
        let helper = ProjectionBenchmark(events: 0)
        progress("\(name): first build of demo_counts...")
        try await helper.runWorker(projection, settings: settings, log: log, client: client, logger: logger) {
            try await helper.caughtUp(client: client, log: log, logger: logger)
        }
        var rates: [Double] = []
        let clock = ContinuousClock()
        for round in 1...replayRounds {
            progress("\(name): replay \(round)/\(replayRounds)...")
            _ = try await catalog.startReplay(projection)
            let started = clock.now
            try await helper.runWorker(projection, settings: settings, log: log, client: client, logger: logger) {
                try await helper.caughtUp(client: client, log: log, logger: logger)
            }
            rates.append(Double(total) / (clock.now - started).seconds)
            progress("  \(grouped(rates.last!)) events/s")
        }
        return rates
    }
}
