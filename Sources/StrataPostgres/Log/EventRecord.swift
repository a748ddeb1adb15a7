import Foundation
import NIOCore
import PostgresNIO
import StrataCore

/// Decodes log events that a read sends as composite values, `ROW(log_offset, event_id, key, type,
/// schema_version, source, occurred_at, appended_at, headers::text, compression, payload)`, packed
/// up to `chunk` to a row as a `record[]`, in PostgreSQL's binary formats: an array header, then per
/// element its length and the record; a record is a column count, then for each column its type
/// OID, its length (-1 for NULL) and its value in binary.
///
/// One cell per thousand events instead of eleven cells per event: on the replay path PostgresNIO's
/// per-row and per-cell work (message decoding, state-machine steps, iterator steps, retains of the
/// column description and buffer slices) cost more than decoding the bytes. Every column's type and
/// length is checked; anything unexpected is an error naming the column, never a misread.
enum EventRecord {
    /// The columns in order, with the type each must have.
    static let columns: [(name: String, type: PostgresDataType)] = [
        ("log_offset", .int8), ("event_id", .text), ("key", .text), ("type", .text), ("schema_version", .int4),
        ("source", .text), ("occurred_at", .timestamptz), ("appended_at", .timestamptz), ("headers", .text),
        ("compression", .int2), ("payload", .bytea),
    ]

    /// The select list that produces the record.
    static let selectList =
        "ROW(log_offset, event_id, key, type, schema_version, source, occurred_at, appended_at, headers::text, compression, payload)"

    /// Seconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
    private static let postgresEpoch: Double = 946_684_800

    /// The most offsets one row of a read covers.
    static let maxChunk = 1024
    /// The most payload bytes one row of a read may carry, judged by the topic's payload limit: a
    /// topic of 1 MiB payloads reads 64 events to a row, one of 64 MiB payloads one.
    static let chunkBytes = 64 << 20

    /// Decodes a row holding a `record[]` of `selectList` values, appending its events to `events`;
    /// a NULL (a range with no events) appends nothing.
    static func decodeChunk(_ row: PostgresRow, topic: String, partition: Int, into events: inout [Event]) throws {
        guard let cell = row.first(where: { _ in true }) else { throw StrataError(.backend, "a log row has no columns") }
        guard let bytes = cell.bytes else { return }
        guard cell.dataType == .recordArray, cell.format == .binary else {
            throw StrataError(.backend, "a log row is not a binary record array (type \(cell.dataType), format \(cell.format))")
        }
        try bytes.withUnsafeReadableBytes { raw in
            var reader = Reader(raw)
            // Array header: dimensions, has-nulls flag, element type, then length and lower bound per dimension.
            let dimensions = try reader.int32()
            _ = try reader.int32()
            let elementType = UInt32(bitPattern: try reader.int32())
            if dimensions == 0 { return }
            guard dimensions == 1, elementType == PostgresDataType.record.rawValue else {
                throw StrataError(.backend, "a log chunk is a \(dimensions)-dimensional array of type OID \(elementType), expected records")
            }
            let count = try reader.int32()
            _ = try reader.int32()
            guard count >= 0 else { throw StrataError(.backend, "a log chunk claims \(count) elements") }
            for _ in 0..<count {
                guard let record = try reader.bytes() else { throw StrataError(.backend, "a log chunk holds a NULL record") }
                events.append(try decode(record, topic: topic, partition: partition))
            }
        }
    }

    /// Decodes one record (the bytes of a `selectList` value).
    static func decode(_ raw: UnsafeRawBufferPointer, topic: String, partition: Int) throws -> Event {
        var reader = Reader(raw)
        let count = try reader.int32()
        guard count == columns.count else {
            throw StrataError(.backend, "a log record has \(count) columns, the read expects \(columns.count)")
        }
        let offset = try reader.int64(0)
        let id = try reader.string(1)
        let key = try reader.string(2)
        let type = try reader.string(3)
        let version = Int(try reader.int32(4))
        let source = try reader.string(5)
        let occurredAt = try reader.optionalDate(6)
        guard let appendedAt = try reader.optionalDate(7) else { throw reader.null(7) }
        let headers = try reader.optionalString(8)
        let codec = PayloadCompression(rawValue: try reader.int16(9)) ?? .none
        guard let stored = try reader.field(10) else { throw reader.null(10) }
        return Event(
            topic: topic, partition: partition, offset: offset, key: key, type: type, schemaVersion: version, id: id,
            source: source, occurredAt: occurredAt, appendedAt: appendedAt, headers: PostgresEventLog.decodeHeaders(headers),
            payload: try PayloadCodec.decode(Array(stored), codec))
    }

    private struct Reader {
        let raw: UnsafeRawBufferPointer
        var index = 0

        init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

        func null(_ column: Int) -> StrataError {
            StrataError(.backend, "unexpected NULL in log column \(EventRecord.columns[column].name)")
        }

        mutating func int32() throws -> Int32 {
            guard index + 4 <= raw.count else { throw StrataError(.backend, "a log record ends early at byte \(index)") }
            defer { index += 4 }
            return Int32(bigEndian: raw.loadUnaligned(fromByteOffset: index, as: Int32.self))
        }

        /// A length-prefixed value's bytes, nil for NULL (length -1).
        mutating func bytes() throws -> UnsafeRawBufferPointer? {
            let length = Int(try int32())
            if length < 0 { return nil }
            guard index + length <= raw.count else {
                throw StrataError(.backend, "a log value at byte \(index) claims \(length) bytes past its end")
            }
            defer { index += length }
            return UnsafeRawBufferPointer(rebasing: raw[index..<(index + length)])
        }

        /// The column's value bytes, nil for NULL, after checking its type.
        mutating func field(_ column: Int) throws -> UnsafeRawBufferPointer? {
            let oid = UInt32(bitPattern: try int32())
            guard oid == EventRecord.columns[column].type.rawValue else {
                throw StrataError(.backend, "log column \(EventRecord.columns[column].name) has type OID \(oid), expected \(EventRecord.columns[column].type)")
            }
            return try bytes()
        }

        /// A fixed-size column's bytes, nil for NULL.
        private mutating func optionalFixed(_ column: Int, _ size: Int) throws -> UnsafeRawBufferPointer? {
            guard let bytes = try field(column) else { return nil }
            guard bytes.count == size else {
                throw StrataError(.backend, "log column \(EventRecord.columns[column].name) has \(bytes.count) bytes, expected \(size)")
            }
            return bytes
        }

        private mutating func fixed(_ column: Int, _ size: Int) throws -> UnsafeRawBufferPointer {
            guard let bytes = try optionalFixed(column, size) else { throw null(column) }
            return bytes
        }

        mutating func int64(_ column: Int) throws -> Int64 {
            Int64(bigEndian: try fixed(column, 8).loadUnaligned(as: Int64.self))
        }

        mutating func int32(_ column: Int) throws -> Int32 {
            Int32(bigEndian: try fixed(column, 4).loadUnaligned(as: Int32.self))
        }

        mutating func int16(_ column: Int) throws -> Int16 {
            Int16(bigEndian: try fixed(column, 2).loadUnaligned(as: Int16.self))
        }

        mutating func optionalString(_ column: Int) throws -> String? {
            try field(column).map { String(decoding: $0, as: UTF8.self) }
        }

        mutating func string(_ column: Int) throws -> String {
            guard let value = try optionalString(column) else { throw null(column) }
            return value
        }

        mutating func optionalDate(_ column: Int) throws -> Date? {
            guard let bytes = try optionalFixed(column, 8) else { return nil }
            let micros = Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
            return Date(timeIntervalSince1970: EventRecord.postgresEpoch + Double(micros) / 1_000_000)
        }
    }
}
