import CRdKafka
import CRdKafkaShims
import Foundation
import Logging
import StrataCore
import Synchronization

/// librdkafka's producer with nothing of Strata's around it: the reference `strata bench kafka`
/// measures the Kafka log's appends against. It writes the messages the log would write (key,
/// stored payload, envelope headers, partition) with the producer settings the log uses
/// (idempotent, acks=all, linger.ms=1), and checks every delivery report; it keeps no id index and
/// builds no receipts.
public struct KafkaReferenceProducer: Sendable {
    public enum Mode: Sendable {
        /// One transaction per batch, as the log appends.
        case transactional
        /// Idempotent, no transactions: every message produced, then one flush.
        case idempotent
    }

    public var bootstrap: String
    public var properties: KafkaProperties
    public var logger: Logger

    public init(bootstrap: String, properties: KafkaProperties = KafkaProperties(), logger: Logger) {
        self.bootstrap = bootstrap
        self.properties = properties
        self.logger = logger
    }

    /// Produces `events` to `topic` in batches of `batchSize`; returns the time from the first
    /// produce call to the last delivery. Creating the producer, registering it with the
    /// transaction coordinator and a warm-up of one message per partition are not timed.
    public func run(_ events: [PreparedEvent], topic: String, batchSize: Int, mode: Mode) async throws -> Duration {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let messages = events.map { OutgoingMessage($0, timestampMs: now, topic: topic) }
        var props = KafkaProperties(["bootstrap.servers": bootstrap]).merging(properties.values).merging([
            "enable.idempotence": "true", "acks": "all", "linger.ms": "1", "queue.buffering.max.messages": "200000",
        ])
        if mode == .transactional { props["transactional.id"] = "strata-bench-reference-\(UUID().uuidString)" }
        let handle = try KafkaHandle(.producer, properties: props, name: "bench-reference", logger: logger)
        defer { handle.closeInBackground() }
        do {
            if mode == .transactional {
                try await blocking { try KafkaError.check(rd_kafka_init_transactions(handle.rk, 30_000), "initializing transactions") }
            }
            // Warm up untimed, as the log is warm after its first append: one message per partition
            // (metadata, connections to every leader, the producer id).
            var warmup: [OutgoingMessage] = []
            for m in messages where !warmup.contains(where: { $0.partition == m.partition }) { warmup.append(m) }
            _ = try await send(warmup, firstTag: UInt(messages.count + 1), batchSize: warmup.count, mode: mode, handle: handle)
            return try await send(messages, firstTag: 1, batchSize: batchSize, mode: mode, handle: handle)
        } catch let error as KafkaError {
            throw error.strata
        }
    }

    /// Produces `messages` in batches (a transaction each, or one flush at the end), waits for
    /// every delivery report and checks it; returns the time from the first produce call.
    private func send(_ messages: [OutgoingMessage], firstTag: UInt, batchSize: Int, mode: Mode, handle: KafkaHandle) async throws -> Duration {
        let waiter = DeliveryWaiter(expected: messages.count)
        handle.events.deliveries.withLock { map in
            for i in 0..<messages.count { map[firstTag + UInt(i)] = waiter }
        }
        let clock = ContinuousClock()
        let started = clock.now
        try await blocking {
            let rk = handle.rk
            for start in stride(from: 0, to: messages.count, by: max(1, batchSize)) {
                if mode == .transactional { try KafkaError.check(rd_kafka_begin_transaction(rk), "beginning a transaction") }
                for i in start..<min(start + batchSize, messages.count) {
                    if let error = TransactionalProducer.produce(messages[i], rk: rk, tag: firstTag + UInt(i)) { throw error }
                }
                if mode == .transactional {
                    try KafkaError.check(rd_kafka_commit_transaction(rk, 60_000), "committing a transaction")
                }
            }
            if mode == .idempotent {
                try KafkaError.check(rd_kafka_flush(rk, 60_000), "flushing")
            }
        }
        let reports = try await withDeadline(.seconds(60), "the reference producer's delivery reports") { await waiter.wait() }
        let elapsed = clock.now - started
        if let failed = reports.values.first(where: { $0.err != 0 }) {
            throw KafkaError(code: failed.err, context: "the reference producer's delivery").strata
        }
        return elapsed
    }
}
