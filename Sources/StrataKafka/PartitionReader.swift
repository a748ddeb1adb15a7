import CRdKafka
import Foundation
import StrataCore
import Synchronization

/// The first offset of every event id in one partition, built by reading the partition in order.
///
/// Kafka does not deduplicate by id, so two writers can both append an event with the same id.
/// Readers of a `KafkaEventLog` see only the first copy (by offset) of each id; later copies are
/// holes, skipped on every read, live or on replay, so a re-appended event never changes a view.
/// The index is exact because it is extended only by a reader that has read every message from
/// where the index stopped (`scannedTo`).
final class IDIndex: Sendable {
    struct Entry: Sendable {
        var offset: Int64
        /// The content, for telling a repeat (same content) from a conflict (other content).
        var digest: Int
    }

    struct State {
        var first: [String: Entry] = [:]
        /// Every message below this offset has been indexed.
        var scannedTo: Int64 = 0
        /// Ids this process appended at or past `scannedTo` (the append side's view until a reader
        /// gets there).
        var own: [String: Entry] = [:]
    }

    let state = Mutex(State())

    var scannedTo: Int64 { state.withLock { $0.scannedTo } }

    /// Whether the event at `offset` is the first of its id. Call in offset order from a reader that
    /// read every message since `scannedTo` (or, below it, in any order).
    func admit(id: String, offset: Int64, digest: Int) -> Bool {
        state.withLock { s in
            if offset < s.scannedTo { return s.first[id].map { $0.offset == offset } ?? true }
            s.scannedTo = offset + 1
            if let entry = s.first[id] { return entry.offset == offset }
            s.first[id] = Entry(offset: offset, digest: digest)
            s.own.removeValue(forKey: id)
            return true
        }
    }

    /// The id's first copy, as far as this process knows.
    func lookup(_ id: String) -> Entry? {
        state.withLock { $0.first[id] ?? $0.own[id] }
    }

    /// Records ids this process appended (under one lock for the batch).
    func recordOwn(_ entries: [(id: String, offset: Int64, digest: Int)]) {
        state.withLock { s in
            for (id, offset, digest) in entries where s.first[id] == nil && s.own[id] == nil {
                s.own[id] = Entry(offset: offset, digest: digest)
            }
        }
    }

    static func digest(key: String, type: String, version: Int, payload: [UInt8]) -> Int {
        var h = Hasher()
        h.combine(key)
        h.combine(type)
        h.combine(version)
        h.combine(payload.count)
        payload.withUnsafeBytes { h.combine(bytes: $0) }
        return h.finalize()
    }
}

/// Reads one partition through a legacy-API (simple) consumer handle: positioned by offset, no
/// consumer group, no committed offsets (checkpoints live with the views in PostgreSQL). Used by
/// one task at a time (checked out of a `ReaderPool`); every method blocks and runs via `blocking`.
final class PartitionReader: @unchecked Sendable {
    let topic: String
    let partition: Int32
    let index: IDIndex
    private let handle: KafkaHandle
    private let rkt: OpaquePointer
    private var started = false
    private var destroyed = false
    /// The offset after the last message pulled off librdkafka's queue.
    private var fetched: Int64 = 0
    /// Decoded messages not yet handed out, in offset order, with their stored sizes.
    private var buffer: [(event: Event, stored: Int)] = []
    private var bufferStart = 0
    /// The last thing pulled was the end of the partition (at `fetched`).
    private var atEnd = false
    /// Where the next read continues, and the lowest offset from which reading would return the
    /// same (the offsets in between hold no visible event).
    private(set) var position: Int64 = 0
    private var holeFrom: Int64 = 0
    /// How long a pull waits for a fetch that should bring data (the high watermark is past us).
    static let dataWait: Int32 = 5000

    init(handle: KafkaHandle, topic: String, partition: Int32, index: IDIndex) throws {
        guard let rkt = rd_kafka_topic_new(handle.rk, topic, nil) else {
            throw KafkaError(code: Int32(rd_kafka_last_error().rawValue), context: "opening topic '\(topic)' for reading").strata
        }
        self.handle = handle
        self.rkt = rkt
        self.topic = topic
        self.partition = partition
        self.index = index
    }

    /// Stops reading and destroys the topic object (blocks: call it off the cooperative pool). The
    /// reader cannot be used afterwards.
    func shutdown() {
        guard !destroyed else { return }
        destroyed = true
        if started { rd_kafka_consume_stop(rkt, partition) }
        started = false
        rd_kafka_topic_destroy(rkt)
    }

    deinit {
        if destroyed { return }
        // Stopping waits for the fetcher: not on the cooperative pool. The handle stays alive until then.
        let parts = UncheckedBox((rkt, partition, started, handle))
        DispatchQueue.global(qos: .utility).async {
            let (rkt, partition, started, handle) = parts.value
            if started { rd_kafka_consume_stop(rkt, partition) }
            rd_kafka_topic_destroy(rkt)
            withExtendedLifetime(handle) {}
        }
    }

    private var pending: Int { buffer.count - bufferStart }

    /// Fetch errors librdkafka recovers from by itself: LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION,
    /// REQUEST_TIMED_OUT, REPLICA_NOT_AVAILABLE, NETWORK_EXCEPTION, NOT_ENOUGH_REPLICAS,
    /// KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, OFFSET_NOT_AVAILABLE, and the
    /// local _TRANSPORT, _TIMED_OUT, _ALL_BROKERS_DOWN.
    static let transient: Set<Int32> = [5, 6, 7, 9, 13, 19, 56, 74, 75, 78, -195, -185, -187]

    /// Whether reading from `offset` needs no seek.
    func isPositioned(at offset: Int64) -> Bool { started && offset >= holeFrom && offset <= position }

    private func seek(_ offset: Int64) throws {
        if !started {
            if rd_kafka_consume_start(rkt, partition, offset) == -1 {
                throw KafkaError(code: Int32(rd_kafka_last_error().rawValue), context: "starting to read \(topic)/\(partition)@\(offset)").strata
            }
            started = true
        } else {
            try KafkaError.check(rd_kafka_seek(rkt, partition, offset, 10_000), "seeking \(topic)/\(partition) to \(offset)")
        }
        buffer.removeAll(keepingCapacity: true)
        bufferStart = 0
        fetched = offset
        position = offset
        holeFrom = offset
        atEnd = false
    }

    /// Drops the consumer's state after an error; the next use starts afresh.
    func reset() {
        if started { rd_kafka_consume_stop(rkt, partition) }
        started = false
        buffer.removeAll()
        bufferStart = 0
        atEnd = false
    }

    /// Pulls what librdkafka has queued (waiting up to `wait` ms for the first message when nothing
    /// is); returns how many events came in.
    @discardableResult
    private func pull(wait: Int32) throws -> Int {
        if bufferStart > 4096 {
            buffer.removeFirst(bufferStart)
            bufferStart = 0
        }
        let capacity = 1000
        var messages = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: capacity)
        var n = messages.withUnsafeMutableBufferPointer { rd_kafka_consume_batch(rkt, partition, 0, $0.baseAddress, capacity) }
        if n == 0 && wait > 0 {
            if let m = rd_kafka_consume(rkt, partition, wait) {
                messages[0] = m
                n = 1
            }
        }
        if n < 0 {
            throw KafkaError(code: Int32(rd_kafka_last_error().rawValue), context: "reading \(topic)/\(partition)").strata
        }
        var added = 0
        var failure: (any Error)?
        for i in 0..<n {
            guard let m = messages[i] else { continue }
            defer { rd_kafka_message_destroy(m) }
            if failure != nil { continue }
            let err = m.pointee.err
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                atEnd = true
                fetched = max(fetched, m.pointee.offset)
                continue
            }
            if Self.transient.contains(err.rawValue) {
                // librdkafka reports a failed fetch and fetches again (from the new leader, after
                // reconnecting): nothing to do but keep reading.
                continue
            }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let text = m.pointee.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: m.pointee.len), as: UTF8.self) }
                if err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE {
                    failure = StrataError(.notFound, """
                        offset \(position) of \(topic)/\(partition) is outside the log (below its start after retention, or past its end): \
                        \(text ?? "offset out of range"); Strata never jumps to another offset on its own
                        """)
                } else {
                    failure = KafkaError(code: Int32(err.rawValue), message: text, context: "reading \(topic)/\(partition)").strata
                }
                continue
            }
            // Messages from before a seek may still be queued: librdkafka drops most, this the rest.
            if m.pointee.offset < fetched { continue }
            do {
                let (event, stored) = try KafkaEnvelope.decode(UnsafePointer(m), topic: topic)
                buffer.append((event, stored))
                fetched = event.offset + 1
                atEnd = false
                added += 1
            } catch {
                failure = error
            }
        }
        if let failure {
            reset()
            throw failure
        }
        return added
    }

    /// The next buffered event, pulling (and waiting up to `wait` ms) when none is buffered; nil at
    /// the end of what is there.
    private func peek(wait: Int32, highWatermark: () throws -> Int64) throws -> (event: Event, stored: Int)? {
        if pending > 0 { return buffer[bufferStart] }
        if atEnd && wait == 0 { return nil }
        if try pull(wait: 0) > 0 { return buffer[bufferStart] }
        if atEnd && wait == 0 { return nil }
        if wait == 0 {
            // Nothing queued yet: fetch more only if the partition holds something past us.
            guard try highWatermark() > fetched else { return nil }
            try pull(wait: Self.dataWait)
        } else {
            try pull(wait: wait)
        }
        return pending > 0 ? buffer[bufferStart] : nil
    }

    private func take() { bufferStart += 1 }

    /// Makes the index cover every offset below `offset` by reading from where it stopped.
    private func ensureIndexed(upTo offset: Int64, highWatermark: () throws -> Int64) throws {
        var scanned = index.scannedTo
        guard scanned < offset else { return }
        if !isPositioned(at: scanned) { try seek(scanned) }
        while let (event, _) = try peek(wait: 0, highWatermark: highWatermark), event.offset < offset {
            _ = index.admit(id: event.id, offset: event.offset, digest: Self.digest(event))
            take()
            position = event.offset + 1
            holeFrom = position
            scanned = event.offset + 1
        }
        if pending == 0 && atEnd { position = max(position, fetched) }
    }

    /// Indexes every id below `offset` (an append's duplicate check needs the partition's history).
    func indexAll(upTo offset: Int64, highWatermark: () throws -> Int64) throws {
        try ensureIndexed(upTo: offset, highWatermark: highWatermark)
    }

    static func digest(_ e: Event) -> Int {
        IDIndex.digest(key: e.key, type: e.type, version: e.schemaVersion, payload: e.payload)
    }

    /// Up to `limit` visible events from `offset` (the first copy of each id), stopping after the
    /// event whose stored bytes reach `maxBytes`; returns them and where to read next.
    func read(from offset: Int64, limit: Int, maxBytes: Int?, highWatermark: () throws -> Int64) throws -> (events: [Event], next: Int64) {
        try ensureIndexed(upTo: offset, highWatermark: highWatermark)
        if !isPositioned(at: offset) { try seek(offset) }
        // Buffered events below the requested offset are holes from here.
        while pending > 0 && buffer[bufferStart].event.offset < offset { take() }
        position = max(position, offset)
        holeFrom = offset
        var out: [Event] = []
        var bytes = 0
        let budget = maxBytes.map { max(1, $0) }
        while out.count < max(1, limit) {
            if let budget, bytes >= budget { break }
            guard let (event, stored) = try peek(wait: 0, highWatermark: highWatermark) else { break }
            take()
            position = event.offset + 1
            if index.admit(id: event.id, offset: event.offset, digest: Self.digest(event)) {
                out.append(event)
                bytes += stored
                holeFrom = position
            }
        }
        if pending == 0 && atEnd { position = max(position, fetched) }
        return (out, position)
    }

    /// Waits until a visible event at or past `offset` exists (it stays buffered for the next read)
    /// or `timeout` passes; librdkafka's fetch long-poll does the waiting, in slices of at most a
    /// second so cancellation is seen.
    func wait(beyond offset: Int64, timeout: Duration, cancelled: CancelFlag, highWatermark: () throws -> Int64) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        try ensureIndexed(upTo: offset, highWatermark: highWatermark)
        if !isPositioned(at: offset) { try seek(offset) }
        while pending > 0 && buffer[bufferStart].event.offset < offset { take() }
        position = max(position, offset)
        while true {
            let remaining = deadline - ContinuousClock.now
            let slice: Int32 = remaining <= .zero ? 0 : min(1000, max(1, remaining.milliseconds))
            if let (event, _) = try peek(wait: slice, highWatermark: highWatermark) {
                if index.admit(id: event.id, offset: event.offset, digest: Self.digest(event)) { return true }
                // A later copy of an id: a hole; step over it.
                take()
                position = event.offset + 1
                continue
            }
            if pending == 0 && atEnd { position = max(position, fetched) }
            if remaining <= .zero || cancelled.isSet { return false }
        }
    }
}

/// Tells a blocking wait on a Dispatch thread that its task was cancelled.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
