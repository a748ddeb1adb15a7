import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import StrataCore

/// The event log on PostgreSQL (the default backend).
///
/// As a `Service`, it holds one LISTEN connection on `strata_events` and wakes readers waiting in
/// `waitForEvents`. Without the service running, `waitForEvents` listens on a connection of its own
/// for the duration of the wait, so one-shot commands (`strata tail --follow`) need no set-up.
public final class PostgresEventLog: EventLog, Service {
    public let client: PostgresClient
    let logger: Logger
    let hub = NotificationHub()
    let coalescer = AppendCoalescer()
    /// Batches up to this size to a single partition are group-committed with concurrent ones.
    static let coalesceLimit = 256
    static let channel = "strata_events"
    static let listenPing: Duration = .seconds(3)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Applies the log's migrations.
    public func migrate() async throws {
        try await MigrationRunner.migrate(component: LogMigrations.component, LogMigrations.all, client: client, logger: logger)
    }

    // MARK: Topics

    public func createTopics(_ topics: [TopicSpec]) async throws {
        do {
            try await client.withTransaction(logger: logger) { conn in
                for spec in topics.sorted(by: { $0.name < $1.name }) {
                    let rows = try await conn.query("""
                        INSERT INTO strata.topics (topic, partitions, event_types, max_payload_bytes, description)
                        VALUES (\(spec.name), \(spec.partitions), \(spec.eventTypes), \(spec.maxPayloadBytes), \(spec.description))
                        ON CONFLICT (topic) DO UPDATE
                           SET event_types = EXCLUDED.event_types, max_payload_bytes = EXCLUDED.max_payload_bytes,
                               description = EXCLUDED.description
                        RETURNING partitions
                        """, logger: logger)
                    var existing = spec.partitions
                    for try await p in rows.decode(Int.self) { existing = p }
                    guard existing == spec.partitions else {
                        throw StrataError(.invalidTopology, """
                            topic '\(spec.name)' has \(existing) partitions in the log but the topology declares \(spec.partitions); \
                            partition counts are fixed once a topic exists (keys would move to other partitions)
                            """)
                    }
                    try await conn.query("""
                        INSERT INTO strata.partitions (topic, partition)
                        SELECT \(spec.name), g FROM generate_series(0, \(spec.partitions - 1)) AS g
                        ON CONFLICT DO NOTHING
                        """, logger: logger)
                }
            }
        } catch {
            throw PostgresErrors.wrap(error, "creating topics")
        }
    }

    public func topics() async throws -> [TopicSpec] {
        do {
            let rows = try await client.query(
                "SELECT topic, partitions, event_types, max_payload_bytes, description FROM strata.topics ORDER BY topic",
                logger: logger)
            var specs: [TopicSpec] = []
            for try await (name, partitions, types, maxPayload, description) in rows.decode((String, Int, [String], Int, String).self) {
                specs.append(TopicSpec(name: name, partitions: partitions, eventTypes: types, maxPayloadBytes: maxPayload, description: description))
            }
            return specs
        } catch {
            throw PostgresErrors.wrap(error, "listing topics")
        }
    }

    // MARK: Append

    public func append(_ events: [PreparedEvent]) async throws -> [AppendReceipt] {
        guard let first = events.first else { return [] }
        if events.count <= Self.coalesceLimit, events.allSatisfy({ $0.partition == first.partition && $0.topic == first.topic }) {
            let key = PartitionKey(topic: first.topic, partition: first.partition)
            return try await coalescer.append(events, to: key) { try await self.appendDirect($0) }
        }
        return try await appendDirect(events)
    }

    /// Appends in one transaction (retrying conflicts), without group commit.
    func appendDirect(_ events: [PreparedEvent]) async throws -> [AppendReceipt] {
        // Repeats of an id inside the batch are answered with the first one's receipt.
        var firstByID: [IdempotencyKey: Int] = [:]
        var unique: [Int] = []
        var aliasOf = [Int](repeating: -1, count: events.count)
        for (i, e) in events.enumerated() {
            let key = IdempotencyKey(topic: e.topic, id: e.id)
            if let first = firstByID[key] {
                // The same id twice in one batch: harmless only with the same content.
                let original = events[unique[first]]
                let sameContent = original.key == e.key && original.type == e.type && original.schemaVersion == e.schemaVersion
                    && original.storedPayload == e.storedPayload
                guard sameContent || original.semanticID else {
                    throw StrataError(.conflict, """
                        event id '\(e.id)' appears twice in the batch (events \(unique[first] + 1) and \(i + 1)) with a different key, \
                        type or payload
                        """)
                }
                aliasOf[i] = first
            } else {
                firstByID[key] = unique.count
                aliasOf[i] = unique.count
                unique.append(i)
            }
        }
        let batch = AppendBatch(events: unique.map { events[$0] })
        var attempt = 0
        var bulk = batch.count >= Self.copyThreshold
        while true {
            do {
                let receipts = bulk ? try await appendWithCopy(batch) : try await appendOnce(batch)
                return events.indices.map { i in
                    var r = receipts[aliasOf[i]]
                    if unique[aliasOf[i]] != i { r.duplicate = true }
                    return r
                }
            } catch {
                // A concurrent append of the same id to another partition, or a deadlock between
                // multi-partition batches: the whole batch rolled back, so it is safe to run again.
                attempt += 1
                if PostgresErrors.isUniqueViolation(error) {
                    // Some id is already in the log: let append_events sort the duplicates out.
                    bulk = false
                }
                if attempt < 8 && (PostgresErrors.isUniqueViolation(error) || PostgresErrors.isRetryable(error)) {
                    try await Task.sleep(for: .milliseconds(attempt * 5))
                    continue
                }
                if PostgresErrors.sqlState(error) == "SX409" {
                    throw StrataError(.conflict, "topic '\(events[0].topic)': " + (PostgresErrors.primaryMessage(error) ?? "an event id is re-used with other content"))
                }
                if PostgresErrors.sqlState(error) == "P0002" {
                    throw StrataError(.unknownTopic, "append names a topic or partition the log does not have (declare it in the topology)")
                }
                throw PostgresErrors.wrap(error, "appending \(events.count) events")
            }
        }
    }

    private func appendOnce(_ batch: AppendBatch) async throws -> [AppendReceipt] {
        let rows = try await client.query("""
            SELECT ord, out_topic, out_partition, out_offset, duplicate FROM strata.append_events(
                \(batch.topics), \(batch.partitions), \(batch.indexes), \(batch.ids), \(batch.keys), \(batch.types), \(batch.versions),
                \(batch.sources), \(batch.occurredAt), \(batch.headers), \(batch.compression), \(batch.payloads), \(batch.semantic))
            """, logger: logger)
        var receipts = [AppendReceipt?](repeating: nil, count: batch.count)
        var bases: [PartitionKey: Int64] = [:]
        for try await (ord, topic, partition, offset, duplicate) in rows.decode((Int, String, Int, Int64, Bool).self) {
            if ord == 0 {
                // Fast path: the partition's first new offset; events follow in batch order.
                bases[PartitionKey(topic: topic, partition: partition)] = offset
            } else {
                receipts[ord - 1] = AppendReceipt(topic: topic, partition: partition, offset: offset, duplicate: duplicate)
            }
        }
        if !bases.isEmpty {
            for i in 0..<batch.count {
                let key = PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i]))
                if let base = bases[key] {
                    receipts[i] = AppendReceipt(topic: key.topic, partition: key.partition, offset: base + Int64(batch.indexes[i]), duplicate: false)
                }
            }
        }
        guard receipts.allSatisfy({ $0 != nil }) else {
            throw StrataError(.backend, "append returned fewer receipts than events")
        }
        return receipts.map { $0! }
    }

    // MARK: Read

    public func read(topic: String, partition: Int, from requested: Int64, limit: Int, maxBytes: Int?) async throws -> [Event] {
        // Offsets start at 0; a partition number outside int4 cannot exist.
        let offset = max(0, requested)
        guard Int32(exactly: partition) != nil else { return [] }
        do {
            var count = Int64(max(1, limit))
            if let maxBytes {
                // The running total of stored payload bytes, without reading the payloads: an event is
                // returned when the ones before it stay under the budget (so the first always is).
                let rows = try await client.query("""
                    SELECT max(log_offset)
                      FROM (SELECT log_offset, sum(octet_length(payload)) OVER (ORDER BY log_offset ROWS UNBOUNDED PRECEDING) - octet_length(payload) AS before
                              FROM strata.events
                             WHERE topic = \(topic) AND partition = \(Int32(partition)) AND log_offset >= \(offset)
                             ORDER BY log_offset
                             LIMIT \(count)) w
                     WHERE before < \(Int64(max(1, maxBytes)))
                    """, logger: logger)
                var last: Int64?
                for try await value in rows.decode(Int64?.self) { last = value }
                guard let last else { return [] }
                count = last - offset + 1
            }
            var (events, belowEnd) = try await readRange(topic: topic, partition: partition, from: offset, count: count)
            if events.isEmpty, belowEnd, maxBytes == nil {
                // Offsets are gapless, so a range below the partition's end holds events. Were one ever
                // empty, the read goes on from the next event there is rather than stop there.
                let rows = try await client.query("""
                    SELECT min(log_offset) FROM strata.events
                     WHERE topic = \(topic) AND partition = \(Int32(partition)) AND log_offset >= \(offset)
                    """, logger: logger)
                var next: Int64?
                for try await value in rows.decode(Int64?.self) { next = value }
                if let next { events = try await readRange(topic: topic, partition: partition, from: next, count: count).events }
            }
            return events
        } catch {
            throw PostgresErrors.wrap(error, "reading \(topic)/\(partition)@\(requested)")
        }
    }

    /// `readChunked`, falling back to one event per row should a chunk be too large for PostgreSQL
    /// (over 1 GB: the topic's payload limit lowered after bigger events were stored, or huge
    /// headers, which no limit bounds).
    private func readRange(topic: String, partition: Int, from offset: Int64, count: Int64) async throws -> (events: [Event], belowEnd: Bool) {
        do {
            return try await readChunked(topic: topic, partition: partition, from: offset, count: count, chunk: nil)
        } catch {
            // 54000: program_limit_exceeded ("array size exceeds the maximum allowed");
            // 53200: out_of_memory; XX000 with "invalid memory alloc request size".
            let state = PostgresErrors.sqlState(error)
            guard state == "54000" || state == "53200" || PostgresErrors.message(error).contains("invalid memory alloc request size") else {
                throw error
            }
            logger.notice("a log chunk was too large for PostgreSQL; reading one event per row", metadata: [
                "topic": "\(topic)", "partition": "\(partition)", "offset": "\(offset)", "error": "\(PostgresErrors.message(error))",
            ])
            return try await readChunked(topic: topic, partition: partition, from: offset, count: count, chunk: 1)
        }
    }

    /// The events with offsets in `offset ..< offset + count`, in order, and whether `offset` was
    /// below the partition's end (at or past it, the statement returns no rows at all).
    ///
    /// One row per chunk of offsets, each an index range scan aggregated into a record array: no
    /// sort (grouping a `LIMIT`ed scan sorted all of its rows again, spilling big batches to disk),
    /// and ranges past the end cost one index probe each. A chunk spans `chunk` offsets, or by
    /// default up to `EventRecord.maxChunk`, fewer where the topic's payload limit could make its
    /// row larger than `EventRecord.chunkBytes` (PostgreSQL refuses values over 1 GB).
    func readChunked(topic: String, partition: Int, from offset: Int64, count: Int64, chunk: Int64?) async throws -> (events: [Event], belowEnd: Bool) {
        // The range stops at the partition's end (in the statement's snapshot, the same one the
        // scans see), so a generous limit costs nothing; the sum saturates rather than overflow.
        let (sum, overflow) = offset.addingReportingOverflow(count)
        let end = overflow ? Int64.max : sum
        let rows = try await client.query("""
            WITH c AS (SELECT coalesce(\(chunk), greatest(1, least(\(Int64(EventRecord.maxChunk)), \(Int64(EventRecord.chunkBytes)) / greatest(1, max_payload_bytes))))::int8 AS n
                         FROM strata.topics WHERE topic = \(topic)),
                 r AS (SELECT least(\(end), next_offset) AS stop
                         FROM strata.partitions WHERE topic = \(topic) AND partition = \(Int32(partition)))
            SELECT (SELECT array_agg(\(unescaped: EventRecord.selectList))
                      FROM strata.events
                     WHERE topic = \(topic) AND partition = \(Int32(partition)) AND log_offset >= s AND log_offset < least(s + c.n, r.stop))
              FROM c, r, generate_series(\(offset), r.stop - 1, c.n) s
             ORDER BY s
            """, logger: logger)
        var events: [Event] = []
        events.reserveCapacity(Int(min(count, 50_000)))
        var belowEnd = false
        for try await row in rows {
            belowEnd = true
            try EventRecord.decodeChunk(row, topic: topic, partition: partition, into: &events)
        }
        // An index scan returns a range in order and array_agg keeps its input's order, but SQL does
        // not promise it (a bitmap scan would not): check, and sort if it ever did not.
        if events.indices.dropFirst().contains(where: { events[$0 - 1].offset >= events[$0].offset }) {
            events.sort { $0.offset < $1.offset }
        }
        return (events, belowEnd)
    }

    public func endOffsets(topic: String) async throws -> [Int64] {
        let rows: [(Int, Int64)]
        do {
            rows = try await client.query(
                "SELECT partition, next_offset FROM strata.partitions WHERE topic = \(topic) ORDER BY partition", logger: logger
            ).decode((Int, Int64).self).reduce(into: []) { $0.append($1) }
        } catch {
            throw PostgresErrors.wrap(error, "reading end offsets of \(topic)")
        }
        guard !rows.isEmpty else { throw StrataError(.unknownTopic, "unknown topic '\(topic)'") }
        return rows.map(\.1)
    }

    public func appendedAt(topic: String, partition: Int, offset: Int64) async throws -> Date? {
        do {
            let rows = try await client.query("""
                SELECT appended_at FROM strata.events WHERE topic = \(topic) AND partition = \(partition) AND log_offset = \(offset)
                """, logger: logger).decode(Date.self)
            for try await d in rows { return d }
            return nil
        } catch {
            throw PostgresErrors.wrap(error, "reading \(topic)/\(partition)@\(offset)")
        }
    }

    // MARK: Waiting

    public func waitForEvents(topic: String, partition: Int, beyond offset: Int64, timeout: Duration) async throws -> Bool {
        let key = PartitionKey(topic: topic, partition: partition)
        if await hub.isListening {
            let waiter = await hub.register(key, beyond: offset)
            // Registered first, then checked: an append committed in between is seen by one of the two.
            if try await endOffset(key) > offset {
                await hub.cancel(waiter)
                return true
            }
            return try await hub.wait(waiter, timeout: timeout)
        }
        return try await waitWithOwnListener(key, beyond: offset, timeout: timeout)
    }

    private func endOffset(_ key: PartitionKey) async throws -> Int64 {
        let offsets = try await endOffsets(topic: key.topic)
        guard key.partition >= 0 && key.partition < offsets.count else {
            throw StrataError(.notFound, "topic '\(key.topic)' has no partition \(key.partition)")
        }
        return offsets[key.partition]
    }

    private func waitWithOwnListener(_ key: PartitionKey, beyond offset: Int64, timeout: Duration) async throws -> Bool {
        do {
            // Bounded even if the connection dies without a word: the timeout, plus time to connect.
            let client = self.client
            return try await withDeadline(timeout + .seconds(10), "waiting for events on \(key.topic)/\(key.partition)") {
                try await self.waitListening(client, key, beyond: offset, timeout: timeout)
            }
        } catch {
            throw PostgresErrors.wrap(error, "waiting for events on \(key.topic)/\(key.partition)")
        }
    }

    private func waitListening(_ client: PostgresClient, _ key: PartitionKey, beyond offset: Int64, timeout: Duration) async throws -> Bool {
        try await client.withConnection { conn in
            try await conn.listen(on: PostgresEventLog.channel) { notifications in
                if try await self.endOffset(key) > offset { return true }
                return try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await n in notifications {
                            if let (k, end) = NotificationHub.parse(n.payload), k == key, end > offset { return true }
                        }
                        return false
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return false
                    }
                    let result = try await group.next() ?? false
                    group.cancelAll()
                    return result
                }
            }
        }
    }

    /// Listens for append notifications until shut down; reconnects after connection loss.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown { try await self.listenLoop() }
        await hub.setListening(false)
    }

    private func listenLoop() async throws {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await client.withConnection { conn in
                    try await conn.listen(on: PostgresEventLog.channel) { notifications in
                        await self.hub.setListening(true)
                        backoff = .milliseconds(100)
                        // A connection that died without closing would leave this loop waiting for
                        // notifications that never come: a ping with a deadline every few seconds
                        // ends it, and the loop reconnects.
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await n in notifications {
                                    if let (key, end) = NotificationHub.parse(n.payload) { await self.hub.notify(key, end: end) }
                                }
                            }
                            group.addTask {
                                while true {
                                    try await Task.sleep(for: Self.listenPing)
                                    try await withDeadline(Self.listenPing, "a ping on the LISTEN connection") {
                                        try await conn.query("SELECT 1", logger: self.logger)
                                    }
                                }
                            }
                            try await group.next()
                            group.cancelAll()
                        }
                    }
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                logger.warning("LISTEN connection lost; reconnecting", metadata: ["error": "\(PostgresErrors.message(error))"])
            }
            // Waiters may have missed notifications while disconnected: wake them all to re-read.
            await hub.setListening(false)
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    static func decodeHeaders(_ text: String?) -> [String: String] {
        guard let text, let value = try? JSONParser.parse(text), let o = value.objectValue else { return [:] }
        return o.compactMapValues(\.stringValue)
    }
}

struct IdempotencyKey: Hashable {
    var topic: String
    var id: String
}

/// The batch as column arrays, the shape `strata.append_events` takes.
struct AppendBatch {
    var topics: [String] = []
    var partitions: [Int32] = []
    /// Position of each event among the batch's events of its partition.
    var indexes: [Int32] = []
    var ids: [String] = []
    var keys: [String] = []
    var types: [String] = []
    var versions: [Int32] = []
    var sources: [String] = []
    var occurredAt: [String] = []
    var headers: [String] = []
    var compression: [Int16] = []
    var payloads: [ByteBuffer] = []
    var semantic: [Bool] = []
    var count: Int { topics.count }

    init(events: [PreparedEvent]) {
        var counts: [PartitionKey: Int32] = [:]
        for e in events {
            topics.append(e.topic)
            partitions.append(Int32(e.partition))
            let key = PartitionKey(topic: e.topic, partition: e.partition)
            indexes.append(counts[key, default: 0])
            counts[key, default: 0] += 1
            ids.append(e.id)
            keys.append(e.key)
            types.append(e.type)
            versions.append(Int32(e.schemaVersion))
            sources.append(e.source)
            occurredAt.append(e.occurredAt.map(RFC3339.format) ?? "")
            headers.append(e.headers.isEmpty ? "" : JSONWriter.string(.object(e.headers.mapValues { .string($0) })))
            compression.append(e.compression.rawValue)
            payloads.append(ByteBuffer(bytes: e.storedPayload))
            semantic.append(e.semanticID)
        }
    }
}
