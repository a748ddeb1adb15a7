import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCore

/// Large batches are appended with `COPY`: lock the partitions (in order), read their next
/// offsets, stream the rows with their offsets, advance the partitions and notify, in one
/// transaction. Same guarantees as `strata.append_events` (which small batches use: one round trip),
/// at bulk-load speed. A batch containing an id already in the log fails the COPY on the unique index
/// and is re-sent through `strata.append_events`, which sorts duplicates out.
extension PostgresEventLog {
    static let copyThreshold = 64

    func appendWithCopy(_ batch: AppendBatch) async throws -> [AppendReceipt] {
        var distinct: [PartitionKey] = []
        var seen: Set<PartitionKey> = []
        for i in 0..<batch.count {
            let key = PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i]))
            if seen.insert(key).inserted { distinct.append(key) }
        }
        distinct.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        let lockTopics = distinct.map(\.topic)
        let lockPartitions = distinct.map { Int32($0.partition) }
        return try await client.withTransaction(logger: logger) { conn in
            var bases: [PartitionKey: Int64] = [:]
            for try await (topic, partition, next) in try await conn.query("""
                SELECT sp.topic, sp.partition, sp.next_offset FROM strata.partitions sp
                  JOIN unnest(\(lockTopics)::text[], \(lockPartitions)::int[]) AS d(t, p) ON sp.topic = d.t AND sp.partition = d.p
                 ORDER BY sp.topic, sp.partition
                   FOR UPDATE OF sp
                """, logger: logger).decode((String, Int, Int64).self)
            {
                bases[PartitionKey(topic: topic, partition: partition)] = next
            }
            guard bases.count == distinct.count else {
                throw StrataError(.unknownTopic, "append names a topic or partition the log does not have (declare it in the topology)")
            }
            try await conn.query("SET LOCAL search_path TO strata", logger: logger)
            let rows = Self.copyRows(batch, bases: bases)
            try await conn.copyFrom(
                table: "events",
                columns: ["topic", "partition", "log_offset", "event_id", "key", "type", "schema_version", "source", "occurred_at",
                    "headers", "compression", "payload"],
                logger: logger
            ) { writer in
                try await writer.write(rows)
            }
            var counts: [PartitionKey: Int64] = [:]
            for i in 0..<batch.count { counts[PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i])), default: 0] += 1 }
            try await conn.query("""
                WITH advanced AS (
                    UPDATE strata.partitions sp SET next_offset = sp.next_offset + c.n, last_appended_at = now()
                      FROM unnest(\(lockTopics)::text[], \(lockPartitions)::int[], \(distinct.map { counts[$0]! })::int8[]) AS c(t, p, n)
                     WHERE sp.topic = c.t AND sp.partition = c.p
                    RETURNING sp.topic, sp.partition, sp.next_offset
                )
                SELECT count(pg_notify('strata_events', topic || '|' || partition || '|' || next_offset)) FROM advanced
                """, logger: logger)
            return (0..<batch.count).map { i in
                let key = PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i]))
                return AppendReceipt(topic: key.topic, partition: key.partition, offset: bases[key]! + Int64(batch.indexes[i]), duplicate: false)
            }
        }
    }

    /// The batch in COPY text format.
    static func copyRows(_ batch: AppendBatch, bases: [PartitionKey: Int64]) -> ByteBuffer {
        var rows = CopyTextRows(reservingBytes: batch.payloads.reduce(0) { $0 + $1.readableBytes * 2 + 200 })
        for i in 0..<batch.count {
            let key = PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i]))
            rows.append(batch.topics[i])
            rows.append(batch.partitions[i])
            rows.append(bases[key]! + Int64(batch.indexes[i]))
            rows.append(batch.ids[i])
            rows.append(batch.keys[i])
            rows.append(batch.types[i])
            rows.append(batch.versions[i])
            rows.append(batch.sources[i])
            if batch.occurredAt[i].isEmpty { rows.appendNull() } else { rows.append(batch.occurredAt[i]) }
            if batch.headers[i].isEmpty { rows.appendNull() } else { rows.append(batch.headers[i]) }
            rows.append(batch.compression[i])
            rows.appendBytea(batch.payloads[i].readableBytesView)
            rows.endRow()
        }
        return rows.buffer
    }
}
