import CRdKafka
import CRdKafkaShims
import Foundation
import Logging
import StrataCore
import Synchronization

/// One message to produce: where, and the bytes.
struct OutgoingMessage: Sendable {
    var topic: String
    var partition: Int32
    var key: [UInt8]
    var value: [UInt8]
    var headers: [(String, [UInt8])]
    var timestampMs: Int64
}

extension OutgoingMessage {
    /// The message the Kafka log writes for `event` (on `topic` when given, for benchmarks).
    init(_ event: PreparedEvent, timestampMs: Int64, topic: String? = nil) {
        self.init(
            topic: topic ?? event.topic, partition: Int32(event.partition), key: Array(event.key.utf8), value: event.storedPayload,
            headers: KafkaEnvelope.headers(of: event), timestampMs: timestampMs)
    }
}

/// A transactional, idempotent producer (acks=all): every `commit` call produces its messages in one
/// Kafka transaction and returns their offsets from the delivery reports, or fails as a whole. One
/// transaction runs at a time; calls that arrive while one is committing are grouped into the next
/// (group commit), each still all or nothing for the caller, since a group succeeds or fails whole.
///
/// The `transactional.id` is stable per writer, so a restarted writer fences its predecessor: the
/// predecessor's open transaction is aborted by the broker and it can commit nothing more.
actor TransactionalProducer {
    struct Settings: Sendable {
        var properties: KafkaProperties
        var transactionalID: String
        /// Bounds `init_transactions`, `commit_transaction` and `abort_transaction`.
        var transactionTimeout: Duration = .seconds(30)
        /// How many messages one transaction carries at most (larger groups are split).
        var maxMessagesPerTransaction = 50_000
    }

    private struct Pending {
        var messages: [OutgoingMessage]
        var continuation: CheckedContinuation<[(partition: Int32, offset: Int64)], any Error>
    }

    let settings: Settings
    let logger: Logger
    private var handle: KafkaHandle?
    /// Set once a newer writer with the same transactional id took over: this one never writes again.
    private var fencedBy: KafkaError?
    /// The fenced state, readable without the actor (for health).
    nonisolated let fenced = Mutex<(error: StrataError, at: Date)?>(nil)
    private var queue: [Pending] = []
    private var draining = false
    private let tags = Atomic<UInt>(1)

    init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Produces the messages in one transaction; returns each one's (partition, offset) in order.
    func commit(_ messages: [OutgoingMessage]) async throws -> [(partition: Int32, offset: Int64)] {
        guard !messages.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            queue.append(Pending(messages: messages, continuation: continuation))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    func close() async {
        let handle = self.handle
        self.handle = nil
        await handle?.closeAsync()
    }

    private func drain() async {
        while !queue.isEmpty {
            // Take queued calls up to the transaction size (always at least one).
            var group: [Pending] = []
            var count = 0
            while let next = queue.first, group.isEmpty || count + next.messages.count <= settings.maxMessagesPerTransaction {
                group.append(queue.removeFirst())
                count += next.messages.count
            }
            do {
                let all = group.flatMap(\.messages)
                let offsets = try await transaction(all)
                var start = 0
                for pending in group {
                    pending.continuation.resume(returning: Array(offsets[start..<(start + pending.messages.count)]))
                    start += pending.messages.count
                }
            } catch {
                for pending in group { pending.continuation.resume(throwing: error) }
            }
        }
        draining = false
    }

    /// The handle, created and registered with the transaction coordinator on first use (and again
    /// after a fatal error, such as being fenced by a newer instance with the same id).
    private func ready() async throws -> KafkaHandle {
        if let fencedBy { throw Self.fencedError(settings.transactionalID, fencedBy) }
        if let handle { return handle }
        var properties = settings.properties.merging([
            "transactional.id": settings.transactionalID,
            "enable.idempotence": "true",
            "acks": "all",
        ])
        if properties["message.timeout.ms"] == nil { properties["message.timeout.ms"] = "30000" }
        if properties["transaction.timeout.ms"] == nil { properties["transaction.timeout.ms"] = "60000" }
        if properties["queue.buffering.max.messages"] == nil { properties["queue.buffering.max.messages"] = "200000" }
        if properties["linger.ms"] == nil { properties["linger.ms"] = "1" }
        let handle = try KafkaHandle(.producer, properties: properties, name: "producer \(settings.transactionalID)", logger: logger)
        let timeout = settings.transactionTimeout.milliseconds
        do {
            try await blocking { try KafkaError.check(rd_kafka_init_transactions(handle.rk, timeout), "initializing transactions") }
        } catch {
            handle.closeInBackground()
            throw (error as? KafkaError)?.strata ?? error
        }
        self.handle = handle
        return handle
    }

    private func discardHandle() {
        handle?.closeInBackground()
        handle = nil
    }

    /// `_FENCED` (-144), `PRODUCER_FENCED` (90), `INVALID_PRODUCER_EPOCH` (47).
    static func isFencing(_ error: KafkaError) -> Bool { [Int32(-144), 90, 47].contains(error.code) }

    static func fencedError(_ id: String, _ cause: KafkaError) -> StrataError {
        StrataError(.conflict, """
            this writer was fenced: another process started with the same Kafka transactional id '\(id)' and took over; \
            this one appends nothing more (restart it, or give each live writer its own id). \(cause)
            """)
    }

    /// Handles a fatal error: a fenced writer stops for good, anything else recreates the handle.
    private func fatal(_ error: KafkaError) -> any Error {
        discardHandle()
        if Self.isFencing(error) {
            fencedBy = error
            fenced.withLock { $0 = (Self.fencedError(settings.transactionalID, error), Date()) }
            logger.error("Kafka writer fenced by a newer instance", metadata: ["transactional_id": "\(settings.transactionalID)", "error": "\(error)"])
            return Self.fencedError(settings.transactionalID, error)
        }
        return error.strata
    }

    private func transaction(_ messages: [OutgoingMessage]) async throws -> [(partition: Int32, offset: Int64)] {
        let handle = try await ready()
        let rk = handle.rk
        let timeout = settings.transactionTimeout.milliseconds
        handle.events.transactionError.withLock { $0 = nil }
        do {
            try KafkaError.check(rd_kafka_begin_transaction(rk), "beginning a transaction")
        } catch let error as KafkaError {
            if error.fatal || Self.isFencing(error) { throw fatal(error) }
            throw error.strata
        }
        let waiter = DeliveryWaiter(expected: messages.count)
        let base = tags.add(UInt(messages.count), ordering: .relaxed).oldValue
        handle.events.deliveries.withLock { map in
            for i in 0..<messages.count { map[base + UInt(i)] = waiter }
        }
        var produceError: KafkaError?
        var enqueued = 0
        for (i, m) in messages.enumerated() {
            if let error = Self.produce(m, rk: rk, tag: base + UInt(i)) {
                produceError = error
                break
            }
            enqueued += 1
        }
        if enqueued < messages.count {
            handle.events.deliveries.withLock { map in
                for i in enqueued..<messages.count { map.removeValue(forKey: base + UInt(i)) }
            }
            waiter.expect(enqueued)
        }
        var failure: KafkaError? = produceError
        if var refused = produceError, refused.code == RD_KAFKA_RESP_ERR__STATE.rawValue,
           let cause = handle.events.transactionError.withLock({ $0 }) {
            // The transaction failed while its messages were being enqueued: name the cause.
            refused.message += "; the transaction had failed: \(cause)"
            refused.txnRequiresAbort = true
            failure = refused
        }
        if failure == nil {
            // Commit flushes every message; a retriable failure (a coordinator moving) is retried.
            var attempts = 0
            while true {
                do {
                    try await blocking { try KafkaError.check(rd_kafka_commit_transaction(handle.rk, timeout), "committing \(messages.count) events") }
                    break
                } catch let error as KafkaError {
                    attempts += 1
                    if error.retriable && !error.txnRequiresAbort && !error.fatal && attempts < 5 { continue }
                    failure = error
                    break
                }
            }
        }
        if let failure {
            // Reports of the failed transaction's messages (purged or failed) are of no use now.
            handle.events.deliveries.withLock { map in
                for i in 0..<messages.count { map.removeValue(forKey: base + UInt(i)) }
            }
            if failure.fatal || Self.isFencing(failure) {
                throw fatal(failure)
            } else {
                do {
                    try await blocking { try KafkaError.check(rd_kafka_abort_transaction(handle.rk, timeout), "aborting a transaction") }
                } catch {
                    // A producer that cannot abort cannot be trusted with the next transaction.
                    logger.warning("aborting a Kafka transaction failed; recreating the producer", metadata: ["error": "\(error)"])
                }
                // Messages that failed leave the producer's sequence numbers out of step with the
                // broker's (and a topic-level error marks the topic failed in the client): the next
                // transaction starts with a fresh producer (init_transactions bumps the epoch).
                discardHandle()
            }
            throw failure.strata
        }
        // Committed: every report was served (commit flushes); the poller may still be handing over
        // the last ones.
        let reports = try await withDeadline(settings.transactionTimeout, "the delivery reports of a committed transaction") {
            await waiter.wait()
        }
        var out: [(partition: Int32, offset: Int64)] = []
        out.reserveCapacity(messages.count)
        for i in 0..<messages.count {
            guard let r = reports[base + UInt(i)] else { throw StrataError(.backend, "Kafka delivered no report for message \(i + 1) of the batch") }
            // Offset -1 with no error: delivered, offset unknown (a retry the broker had already
            // written); the caller finds it by id.
            guard r.err == 0 else {
                throw KafkaError(code: r.err, context: "delivering message \(i + 1) of \(messages.count)").strata
            }
            out.append((r.partition, r.offset))
        }
        return out
    }

    /// Enqueues one message; on a full local queue waits for room (bounded by the message timeout).
    nonisolated static func produce(_ m: OutgoingMessage, rk: OpaquePointer, tag: UInt) -> KafkaError? {
        let names = m.headers.map { strdup($0.0) }
        defer { names.forEach { free($0) } }
        let values = m.headers.map(\.1)
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let error: OpaquePointer? = m.key.withUnsafeBytes { key in
                m.value.withUnsafeBytes { value in
                    withHeaderPointers(values) { valuePointers, lengths in
                        names.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { namePointers in
                            strata_kafka_produce(
                                rk, m.topic, m.partition, key.baseAddress, key.count, value.baseAddress, value.count,
                                namePointers.baseAddress, valuePointers, lengths, m.headers.count, m.timestampMs,
                                UnsafeMutableRawPointer(bitPattern: tag))
                        }
                    }
                }
            }
            guard let error else { return nil }
            let failure = KafkaError(consuming: error, context: "producing to \(m.topic)/\(m.partition)")
            if failure.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue, ContinuousClock.now < deadline {
                // The poller drains delivery reports; give the queue a moment to empty.
                rd_kafka_flush(rk, 10)
                continue
            }
            return failure
        }
    }
}

/// Pointers to each header value and their lengths, valid inside `body` (the values are copied
/// into one buffer, so no allocation can fail half-way).
private func withHeaderPointers<R>(_ values: [[UInt8]], _ body: (UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<Int>?) -> R) -> R {
    let joined = values.flatMap { $0 }
    let lengths = values.map(\.count)
    return joined.withUnsafeBytes { raw in
        var pointers: [UnsafeRawPointer?] = []
        pointers.reserveCapacity(values.count)
        var at = 0
        for n in lengths {
            pointers.append(raw.baseAddress.map { UnsafeRawPointer($0 + at) })
            at += n
        }
        return pointers.withUnsafeBufferPointer { p in lengths.withUnsafeBufferPointer { l in body(p.baseAddress, l.baseAddress) } }
    }
}
