import CRdKafka
import Foundation
import Logging
import StrataCore
import Synchronization

/// Where the Kafka log is and how to talk to it.
public struct KafkaLogSettings: Sendable {
    /// `host:port,host:port`.
    public var bootstrap: String
    /// librdkafka properties passed through to every client (`security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `ssl.ca.location`, ...).
    public var properties: KafkaProperties
    /// The producer's `transactional.id`: stable per writer, so a restarted writer fences the one it
    /// replaces. Two live writers must not share one.
    public var transactionalID: String
    /// For topics Strata creates: replication factor (-1: the broker's default) and
    /// `min.insync.replicas` (nil: the broker's default). Retention is infinite (replay from zero is
    /// the reset).
    public var replicationFactor = -1
    public var minInsyncReplicas: Int?
    /// Readers kept per partition (each positioned where its last read ended).
    public var readersPerPartition = 4
    /// A reader unused this long stops fetching (a started reader long-polls its partition and
    /// holds prefetched messages); its next read seeks again.
    public var readerIdleStop: Duration = .seconds(2)
    /// How long a read waits for a free reader of its partition (all `readersPerPartition` busy)
    /// before it fails with a timeout naming the partition. Readers are held at most for a fetch
    /// wait or a `waitForEvents` timeout (at most 30 s in Strata's callers).
    public var readerWait: Duration = .seconds(60)
    /// Bounds metadata, watermark and admin calls, and each transaction step (`request_timeout_ms`).
    public var requestTimeout: Duration = .seconds(30)

    public init(bootstrap: String, properties: KafkaProperties = KafkaProperties(), transactionalID: String) {
        self.bootstrap = bootstrap
        self.properties = properties
        self.transactionalID = transactionalID
    }

    /// Parses `kafka://host:port[,host:port...][?key=value&...]`. Query keys `transactional_id`,
    /// `replication_factor`, `min_insync_replicas` and `request_timeout_ms` are Strata's; any other key is a librdkafka
    /// property passed through (`?security.protocol=SASL_SSL&sasl.mechanism=PLAIN`).
    public static func parse(_ url: String, defaultTransactionalID: String) throws -> KafkaLogSettings {
        guard url.hasPrefix("kafka://") else {
            throw StrataError(.invalidConfiguration, "a Kafka log URL starts with kafka:// (got '\(url)')")
        }
        let rest = url.dropFirst("kafka://".count)
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let hosts = parts[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !hosts.isEmpty, hosts.allSatisfy({ h in
            guard let colon = h.lastIndex(of: ":"), let port = Int(h[h.index(after: colon)...]), (1...65535).contains(port) else { return false }
            return colon > h.startIndex
        }) else {
            throw StrataError(.invalidConfiguration, "the Kafka log URL '\(url)' needs a bootstrap list host:port[,host:port...]")
        }
        var settings = KafkaLogSettings(bootstrap: hosts.joined(separator: ","), transactionalID: defaultTransactionalID)
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") where !pair.isEmpty {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                switch key {
                case "transactional_id":
                    guard !value.isEmpty else { throw StrataError(.invalidConfiguration, "transactional_id in '\(url)' is empty") }
                    settings.transactionalID = value
                case "replication_factor":
                    guard let n = Int(value), n == -1 || n >= 1 else {
                        throw StrataError(.invalidConfiguration, "replication_factor in '\(url)' must be -1 or a positive number")
                    }
                    settings.replicationFactor = n
                case "request_timeout_ms":
                    guard let n = Int64(value), n >= 100 else {
                        throw StrataError(.invalidConfiguration, "request_timeout_ms in '\(url)' must be at least 100")
                    }
                    settings.requestTimeout = .milliseconds(n)
                case "min_insync_replicas":
                    guard let n = Int(value), n >= 1 else {
                        throw StrataError(.invalidConfiguration, "min_insync_replicas in '\(url)' must be a positive number")
                    }
                    settings.minInsyncReplicas = n
                default:
                    guard key.contains(".") else {
                        throw StrataError(.invalidConfiguration, """
                            unknown setting '\(key)' in the Kafka log URL (Strata's are transactional_id, replication_factor, \
                            min_insync_replicas, request_timeout_ms; librdkafka properties contain a dot)
                            """)
                    }
                    settings.properties[key] = value
                }
            }
        }
        return settings
    }

    var clientProperties: KafkaProperties {
        KafkaProperties(["bootstrap.servers": bootstrap]).merging(properties.values)
    }
}

struct TopicPartition: Hashable, Sendable {
    var topic: String
    var partition: Int
}

/// The event log on Kafka (or any Kafka-protocol broker), through librdkafka.
///
/// - Appends are Kafka transactions (idempotent, acks=all): a batch is all or nothing across
///   partitions; offsets come from the delivery reports. Keys map to partitions with murmur2 as on
///   PostgreSQL, so a topic moves between backends without re-keying; the envelope travels in
///   headers (`KafkaEnvelope`), the payload as the PostgreSQL backend stores it.
/// - Reads use manual assignment and `read_committed`: no consumer group, no committed offsets
///   (projection checkpoints stay in their PostgreSQL transaction), `auto.offset.reset=error` (an
///   offset outside the log is an error, never a silent jump).
/// - Kafka does not deduplicate by id. Readers see the first copy of each id only (`IDIndex`), so
///   an event appended twice — two writers racing, a retry after a lost answer — never reaches a
///   view twice; appends through this process answer a known id with the original's receipt.
/// - Offsets are not dense (transaction markers, skipped copies): `readBatch` reports where to go on.
public final class KafkaEventLog: EventLog, Sendable {
    public let settings: KafkaLogSettings
    let logger: Logger
    let producer: TransactionalProducer
    /// Metadata, watermarks and admin requests.
    let admin: KafkaHandle
    let pool: ReaderPool
    private let specs = Mutex<[String: TopicSpec]>([:])
    private let indexes = Mutex<[TopicPartition: IDIndex]>([:])
    /// Partitions whose id index was read up to their end before this process's first append there.
    private let primed = Mutex<Set<TopicPartition>>([])

    public var capabilities: LogCapabilities { [] }

    public var problems: [LogProblem] {
        guard let (error, at) = producer.fenced.withLock({ $0 }) else { return [] }
        return [LogProblem(kind: "writer_fenced", detail: error.message, since: at)]
    }

    public init(settings: KafkaLogSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        admin = try KafkaHandle(.consumer, properties: Self.consumerProperties(settings), name: "strata-admin", logger: logger)
        producer = TransactionalProducer(
            settings: .init(properties: settings.clientProperties, transactionalID: settings.transactionalID, transactionTimeout: settings.requestTimeout),
            logger: logger)
        pool = ReaderPool(settings: settings, properties: Self.consumerProperties(settings), logger: logger)
    }

    static func consumerProperties(_ settings: KafkaLogSettings) -> KafkaProperties {
        KafkaProperties([
            "group.id": "strata-readers",
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "enable.partition.eof": "true",
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": "100",
        ]).merging(settings.clientProperties.values)
    }

    /// Closes every client. The log cannot be used afterwards.
    public func close() async {
        await producer.close()
        await pool.close()
        await admin.closeAsync()
    }

    func index(_ key: TopicPartition) -> IDIndex {
        indexes.withLock { map in
            if let index = map[key] { return index }
            let index = IDIndex()
            map[key] = index
            return index
        }
    }

    private func spec(_ topic: String) -> TopicSpec? { specs.withLock { $0[topic] } }

    // MARK: Topics

    public func createTopics(_ topics: [TopicSpec]) async throws {
        for spec in topics.sorted(by: { $0.name < $1.name }) {
            var existing = try await partitionCount(spec.name)
            if existing == nil {
                try await createTopic(spec)
                // Metadata reaches every broker shortly after creation.
                for _ in 0..<50 where existing == nil {
                    existing = try await partitionCount(spec.name)
                    if existing == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
            }
            guard let count = existing else {
                throw StrataError(.backend, "topic '\(spec.name)' was created but the cluster's metadata does not show it")
            }
            guard count == spec.partitions else {
                throw StrataError(.invalidTopology, """
                    topic '\(spec.name)' has \(count) partitions in Kafka but the topology declares \(spec.partitions); \
                    partition counts are fixed once a topic exists (keys would move to other partitions)
                    """)
            }
            specs.withLock { $0[spec.name] = spec }
        }
    }

    private func partitionCount(_ topic: String) async throws -> Int? {
        let admin = self.admin
        let timeout = settings.requestTimeout
        do {
            return try await blocking { try admin.partitionCount(topic: topic, timeout: timeout) }
        } catch let error as KafkaError {
            throw error.strata
        }
    }

    /// CreateTopics through the admin API, with infinite retention.
    private func createTopic(_ spec: TopicSpec) async throws {
        let admin = self.admin
        let settings = self.settings
        logger.info("creating Kafka topic", metadata: ["topic": "\(spec.name)", "partitions": "\(spec.partitions)"])
        try await blocking {
            var errbuf = [CChar](repeating: 0, count: 512)
            guard let topic = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(settings.replicationFactor), &errbuf, errbuf.count) else {
                throw StrataError(.invalidConfiguration, "topic '\(spec.name)': \(String(cString: errbuf))")
            }
            defer { rd_kafka_NewTopic_destroy(topic) }
            try KafkaError.check(rd_kafka_NewTopic_set_config(topic, "retention.ms", "-1"), "configuring topic '\(spec.name)'")
            try KafkaError.check(rd_kafka_NewTopic_set_config(topic, "retention.bytes", "-1"), "configuring topic '\(spec.name)'")
            if let isr = settings.minInsyncReplicas {
                try KafkaError.check(rd_kafka_NewTopic_set_config(topic, "min.insync.replicas", String(isr)), "configuring topic '\(spec.name)'")
            }
            guard let queue = rd_kafka_queue_new(admin.rk) else { throw StrataError(.backend, "cannot create a Kafka queue") }
            defer { rd_kafka_queue_destroy(queue) }
            var topics: [OpaquePointer?] = [topic]
            topics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(admin.rk, $0.baseAddress, 1, nil, queue) }
            guard let event = rd_kafka_queue_poll(queue, settings.requestTimeout.milliseconds) else {
                throw StrataError(.timeout, "creating Kafka topic '\(spec.name)' got no answer within \(settings.requestTimeout)")
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
                throw StrataError(.backend, """
                    cannot create Kafka topic '\(spec.name)' (\(spec.partitions) partitions): \(text ?? "error \(err.rawValue)"); \
                    create it by hand with that partition count
                    """)
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
            for i in 0..<count {
                guard let r = results[i] else { continue }
                let e = rd_kafka_topic_result_error(r)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                    let text = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
                    throw KafkaError(code: Int32(e.rawValue), message: text, context: "creating Kafka topic '\(spec.name)'").strata
                }
            }
        }
    }

    public func topics() async throws -> [TopicSpec] {
        specs.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    // MARK: Append

    public func append(_ events: [PreparedEvent]) async throws -> [AppendReceipt] {
        guard !events.isEmpty else { return [] }
        for e in events {
            guard let spec = spec(e.topic) else {
                throw StrataError(.unknownTopic, "unknown topic '\(e.topic)' (declare it in the topology)")
            }
            guard e.partition >= 0 && e.partition < spec.partitions else {
                throw StrataError(.unknownTopic, "append names partition \(e.partition) of topic '\(e.topic)', which has \(spec.partitions)")
            }
        }
        // Each partition's index covers its whole history before this process first appends there.
        for key in Set(events.map { TopicPartition(topic: $0.topic, partition: $0.partition) }) {
            try await prime(key)
        }
        var receipts = [AppendReceipt?](repeating: nil, count: events.count)
        var firstInBatch: [String: Int] = [:]
        var toSend: [Int] = []
        var digests = [Int](repeating: 0, count: events.count)
        var batchIndexes: [TopicPartition: IDIndex] = [:]
        for (i, e) in events.enumerated() {
            let payload = try PayloadCodec.decode(e.storedPayload, e.compression)
            let digest = IDIndex.digest(key: e.key, type: e.type, version: e.schemaVersion, payload: payload)
            digests[i] = digest
            let scoped = e.topic + "\u{0}" + e.id
            if let first = firstInBatch[scoped] {
                guard digests[first] == digest || events[first].semanticID else {
                    throw StrataError(.conflict, """
                        event id '\(e.id)' appears twice in the batch (events \(first + 1) and \(i + 1)) with a different key, type or payload
                        """)
                }
                continue
            }
            firstInBatch[scoped] = i
            // The key decides the partition, so a repeat of an event lands in its original's partition.
            let key = TopicPartition(topic: e.topic, partition: e.partition)
            let partitionIndex: IDIndex
            if let cached = batchIndexes[key] {
                partitionIndex = cached
            } else {
                partitionIndex = index(key)
                batchIndexes[key] = partitionIndex
            }
            if let known = partitionIndex.lookup(e.id) {
                guard known.digest == digest || e.semanticID else {
                    throw StrataError(.conflict, "topic '\(e.topic)': event id '\(e.id)' is already in the log with other content")
                }
                receipts[i] = AppendReceipt(topic: e.topic, partition: e.partition, offset: known.offset, duplicate: true)
                continue
            }
            toSend.append(i)
        }
        if !toSend.isEmpty {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let messages = toSend.map { OutgoingMessage(events[$0], timestampMs: now) }
            var offsets = try await producer.commit(messages)
            // A retried request the broker had already written (its ack was lost or late) is
            // reported delivered without an offset: find the message in the partition by its id.
            let unknown = Set(offsets.indices.filter { offsets[$0].offset < 0 }.map {
                TopicPartition(topic: events[toSend[$0]].topic, partition: Int(offsets[$0].partition))
            })
            for key in unknown { try await catchUpIndex(key) }
            for n in offsets.indices where offsets[n].offset < 0 {
                let e = events[toSend[n]]
                guard let found = index(TopicPartition(topic: e.topic, partition: Int(offsets[n].partition))).lookup(e.id), found.offset >= 0 else {
                    throw StrataError(.backend,
                        "Kafka reported event '\(e.id)' delivered to \(e.topic)/\(offsets[n].partition) without an offset, and it is not in the partition")
                }
                offsets[n].offset = found.offset
            }
            var own: [TopicPartition: [(id: String, offset: Int64, digest: Int)]] = [:]
            for (n, i) in toSend.enumerated() {
                let e = events[i]
                let (partition, offset) = offsets[n]
                own[TopicPartition(topic: e.topic, partition: Int(partition)), default: []].append((e.id, offset, digests[i]))
                receipts[i] = AppendReceipt(topic: e.topic, partition: Int(partition), offset: offset, duplicate: false)
            }
            for (key, entries) in own { (batchIndexes[key] ?? index(key)).recordOwn(entries) }
        }
        // Repeats inside the batch answer with the first one's receipt.
        for (i, e) in events.enumerated() where receipts[i] == nil {
            if let first = firstInBatch[e.topic + "\u{0}" + e.id], var r = receipts[first] {
                r.duplicate = true
                receipts[i] = r
            }
        }
        return try receipts.enumerated().map { i, r in
            guard let r else { throw StrataError(.backend, "append produced no receipt for event \(i + 1)") }
            return r
        }
    }

    /// Reads the partition's ids up to its current end, once per process.
    private func prime(_ key: TopicPartition) async throws {
        if primed.withLock({ $0.contains(key) }) { return }
        try await catchUpIndex(key)
        primed.withLock { _ = $0.insert(key) }
    }

    /// Indexes the partition's ids up to its current end.
    private func catchUpIndex(_ key: TopicPartition) async throws {
        let end = try await highWatermark(key)
        let index = index(key)
        if index.scannedTo < end {
            try await withReader(key, near: index.scannedTo) { reader, high in
                try reader.indexAll(upTo: end, highWatermark: high)
                // A one-off scan: stop fetching (a started reader long-polls its partition).
                reader.reset()
            }
        }
    }

    // MARK: Read

    public func read(topic: String, partition: Int, from offset: Int64, limit: Int, maxBytes: Int?) async throws -> [Event] {
        try await readBatch(topic: topic, partition: partition, from: offset, limit: limit, maxBytes: maxBytes).events
    }

    public func readBatch(topic: String, partition: Int, from requested: Int64, limit: Int, maxBytes: Int?) async throws -> LogBatch {
        let offset = max(0, requested)
        guard let spec = spec(topic), partition >= 0, partition < spec.partitions else { return LogBatch(events: [], next: offset) }
        let key = TopicPartition(topic: topic, partition: partition)
        let (events, next) = try await withReader(key, near: offset) { reader, high in
            try reader.read(from: offset, limit: limit, maxBytes: maxBytes, highWatermark: high)
        }
        return LogBatch(events: events, next: next)
    }

    /// Runs `body` with a reader of the partition checked out (one positioned at `offset` when
    /// there is one), on a Dispatch thread.
    private func withReader<T: Sendable>(
        _ key: TopicPartition, near offset: Int64, _ body: @escaping @Sendable (PartitionReader, () throws -> Int64) throws -> T
    ) async throws -> T {
        let reader = try await pool.acquire(key, near: offset, index: index(key))
        let admin = self.admin
        let timeout = settings.requestTimeout
        let high: @Sendable () throws -> Int64 = { try admin.watermarks(topic: key.topic, partition: key.partition, timeout: timeout).high }
        do {
            let result = try await blocking { try body(reader, high) }
            await pool.release(reader)
            return result
        } catch {
            _ = try? await blocking { reader.reset() }
            await pool.release(reader)
            throw (error as? KafkaError)?.strata ?? error
        }
    }

    private func highWatermark(_ key: TopicPartition) async throws -> Int64 {
        try await partitionWatermarks(key).high
    }

    /// The partition's low and high watermarks, from its leader.
    private func partitionWatermarks(_ key: TopicPartition) async throws -> (low: Int64, high: Int64) {
        let admin = self.admin
        let timeout = settings.requestTimeout
        do {
            return try await blocking { try admin.watermarks(topic: key.topic, partition: key.partition, timeout: timeout) }
        } catch let error as KafkaError {
            throw error.strata
        }
    }

    public func endOffsets(topic: String) async throws -> [Int64] {
        try await watermarks(topic: topic).map(\.high)
    }

    /// Each partition's low and high watermarks (the first offset still held, the end offset).
    public func watermarks(topic: String) async throws -> [(low: Int64, high: Int64)] {
        guard let spec = spec(topic) else { throw StrataError(.unknownTopic, "unknown topic '\(topic)'") }
        return try await withThrowingTaskGroup(of: (Int, Int64, Int64).self) { group in
            for p in 0..<spec.partitions {
                group.addTask {
                    let marks = try await self.partitionWatermarks(TopicPartition(topic: topic, partition: p))
                    return (p, marks.low, marks.high)
                }
            }
            var out = [(low: Int64, high: Int64)](repeating: (0, 0), count: spec.partitions)
            for try await (p, low, high) in group { out[p] = (low, high) }
            return out
        }
    }

    public func appendedAt(topic: String, partition: Int, offset: Int64) async throws -> Date? {
        try await read(topic: topic, partition: partition, from: offset, limit: 1, maxBytes: nil).first?.appendedAt
    }

    public func waitForEvents(topic: String, partition: Int, beyond offset: Int64, timeout: Duration) async throws -> Bool {
        guard let spec = spec(topic), partition >= 0, partition < spec.partitions else {
            try await Task.sleep(for: timeout)
            return false
        }
        let key = TopicPartition(topic: topic, partition: partition)
        let flag = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withReader(key, near: offset) { reader, high in
                try reader.wait(beyond: max(0, offset), timeout: timeout, cancelled: flag, highWatermark: high)
            }
        } onCancel: {
            flag.set()
        }
    }
}

/// Readers per partition, each kept where its last read ended so sequential readers (projection
/// workers, tails) never seek. A partition has at most `readersPerPartition`; more concurrent reads
/// wait for one. Readers of one slot share a consumer handle (its threads and connections).
actor ReaderPool {
    let settings: KafkaLogSettings
    let properties: KafkaProperties
    let logger: Logger
    private var handles: [KafkaHandle] = []
    private var idle: [TopicPartition: [PartitionReader]] = [:]
    /// When each idle reader came back (by identity), for stopping the ones unused too long.
    private var idleSince: [ObjectIdentifier: ContinuousClock.Instant] = [:]
    private var sweeping = false
    private var created: [TopicPartition: Int] = [:]
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<PartitionReader?, Never>
    }
    private var waiters: [TopicPartition: [Waiter]] = [:]
    private var nextWaiter: UInt64 = 0
    private var closed = false
    /// Readers checked out and not yet released.
    private var outstanding = 0

    init(settings: KafkaLogSettings, properties: KafkaProperties, logger: Logger) {
        self.settings = settings
        self.properties = properties
        self.logger = logger
    }

    func acquire(_ key: TopicPartition, near offset: Int64, index: IDIndex) async throws -> PartitionReader {
        guard !closed else { throw StrataError(.backend, "the Kafka log is closed") }
        if var list = idle[key], !list.isEmpty {
            let pick = list.firstIndex { $0.isPositioned(at: offset) } ?? (list.count - 1)
            let reader = list.remove(at: pick)
            idle[key] = list
            idleSince.removeValue(forKey: ObjectIdentifier(reader))
            outstanding += 1
            return reader
        }
        let count = created[key, default: 0]
        if count < max(1, settings.readersPerPartition) {
            created[key] = count + 1
            do {
                let handle = try self.handle(slot: count)
                let reader = try PartitionReader(handle: handle, topic: key.topic, partition: Int32(key.partition), index: index)
                outstanding += 1
                return reader
            } catch {
                created[key] = count
                throw error
            }
        }
        // Handed over by `release` (still counted as outstanding), or nil when the pool closed or
        // the wait ran out.
        nextWaiter += 1
        let id = nextWaiter
        let limit = settings.readerWait
        let timer = Task { [weak self] in
            try await Task.sleep(for: limit)
            await self?.expire(key, id)
        }
        let reader = await withCheckedContinuation { waiters[key, default: []].append(Waiter(id: id, continuation: $0)) }
        timer.cancel()
        guard let reader else {
            if closed { throw StrataError(.backend, "the Kafka log is closed") }
            throw StrataError(.timeout,
                "no reader of \(key.topic)/\(key.partition) came free within \(limit) (all \(settings.readersPerPartition) are in use by other reads)")
        }
        return reader
    }

    private func expire(_ key: TopicPartition, _ id: UInt64) {
        guard var list = waiters[key], let at = list.firstIndex(where: { $0.id == id }) else { return }
        let waiter = list.remove(at: at)
        waiters[key] = list
        waiter.continuation.resume(returning: nil)
    }

    func release(_ reader: PartitionReader) async {
        if closed {
            _ = try? await blocking { reader.shutdown() }
            outstanding -= 1
            return
        }
        let key = TopicPartition(topic: reader.topic, partition: Int(reader.partition))
        if var list = waiters[key], !list.isEmpty {
            let next = list.removeFirst()
            waiters[key] = list
            next.continuation.resume(returning: reader)
            return
        }
        outstanding -= 1
        idle[key, default: []].append(reader)
        idleSince[ObjectIdentifier(reader)] = .now
        if !sweeping {
            sweeping = true
            Task { await self.sweep() }
        }
    }

    /// Stops the fetching of readers idle for `readerIdleStop`, until no started reader is idle.
    private func sweep() async {
        while !closed && !idleSince.isEmpty {
            try? await Task.sleep(for: settings.readerIdleStop / 2)
            let cutoff = ContinuousClock.now - settings.readerIdleStop
            var stale: [PartitionReader] = []
            for list in idle.values {
                for r in list where (idleSince[ObjectIdentifier(r)] ?? .now) <= cutoff {
                    stale.append(r)
                    idleSince.removeValue(forKey: ObjectIdentifier(r))
                }
            }
            guard !stale.isEmpty else { continue }
            // Checked out while stopping: taken off the idle lists, put back afterwards.
            let ids = Set(stale.map(ObjectIdentifier.init))
            for key in Array(idle.keys) { idle[key]?.removeAll { ids.contains(ObjectIdentifier($0)) } }
            outstanding += stale.count
            let stopping = stale
            _ = try? await blocking { for r in stopping { r.reset() } }
            for r in stale {
                if closed {
                    _ = try? await blocking { r.shutdown() }
                    outstanding -= 1
                } else {
                    outstanding -= 1
                    give(r)
                }
            }
        }
        sweeping = false
    }

    /// Hands a reader back without marking it idle-since (it is stopped: nothing to sweep).
    private func give(_ reader: PartitionReader) {
        let key = TopicPartition(topic: reader.topic, partition: Int(reader.partition))
        if var list = waiters[key], !list.isEmpty {
            let next = list.removeFirst()
            waiters[key] = list
            outstanding += 1
            next.continuation.resume(returning: reader)
            return
        }
        idle[key, default: []].append(reader)
    }

    private func handle(slot: Int) throws -> KafkaHandle {
        while handles.count <= slot {
            handles.append(try KafkaHandle(.consumer, properties: properties, name: "strata-reader-\(handles.count)", logger: logger))
        }
        return handles[slot]
    }

    /// Destroys every reader, then the handles (librdkafka's destroy waits for every topic object
    /// of its handle to be destroyed first). Readers in use are destroyed as they come back, which
    /// their own deadlines bound.
    func close() async {
        closed = true
        idleSince.removeAll()
        for list in waiters.values { for w in list { w.continuation.resume(returning: nil) } }
        waiters.removeAll()
        let readers = idle.values.flatMap { $0 }
        idle.removeAll()
        _ = try? await blocking { for r in readers { r.shutdown() } }
        let deadline = ContinuousClock.now + settings.requestTimeout + .seconds(10)
        while outstanding > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if outstanding > 0 {
            logger.warning("closing the Kafka log with readers still in use", metadata: ["readers": "\(outstanding)"])
        }
        let all = handles
        handles.removeAll()
        for h in all { await h.closeAsync() }
    }
}
