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
        var out: [UInt8] = []
        out.reserveCapacity(batch.payloads.reduce(0) { $0 + $1.readableBytes * 2 + 200 })
        let hex = Array("0123456789abcdef".utf8)
        func text(_ s: String) {
            for b in s.utf8 {
                switch b {
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                default: out.append(b)
                }
            }
        }
        func orNull(_ s: String) {
            if s.isEmpty { out.append(0x5C); out.append(UInt8(ascii: "N")) } else { text(s) }
        }
        for i in 0..<batch.count {
            let key = PartitionKey(topic: batch.topics[i], partition: Int(batch.partitions[i]))
            text(batch.topics[i]); out.append(0x09)
            out.append(contentsOf: String(batch.partitions[i]).utf8); out.append(0x09)
            out.append(contentsOf: String(bases[key]! + Int64(batch.indexes[i])).utf8); out.append(0x09)
            text(batch.ids[i]); out.append(0x09)
            text(batch.keys[i]); out.append(0x09)
            text(batch.types[i]); out.append(0x09)
            out.append(contentsOf: String(batch.versions[i]).utf8); out.append(0x09)
            text(batch.sources[i]); out.append(0x09)
            orNull(batch.occurredAt[i]); out.append(0x09)
            orNull(batch.headers[i]); out.append(0x09)
            out.append(contentsOf: String(batch.compression[i]).utf8); out.append(0x09)
            // bytea hex input, its backslash escaped for the text format: \\x...
            out.append(0x5C); out.append(0x5C); out.append(UInt8(ascii: "x"))
            batch.payloads[i].withUnsafeReadableBytes { bytes in
                for b in bytes {
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0x0F)])
                }
            }
            out.append(0x0A)
        }
        return ByteBuffer(bytes: out)
    }
}
