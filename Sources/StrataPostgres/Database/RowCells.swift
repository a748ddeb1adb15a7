import Foundation
import NIOCore
import PostgresNIO
import StrataCore

/// Reads a row's cells in order, decoding the binary wire format of the few types the log uses
/// directly. The hot read paths (log reads during replay) use it: PostgresNIO's generic tuple
/// decoding spends more time instantiating generic metadata than decoding bytes. Anything
/// unexpected (another type, text format) goes through PostgresNIO's own decoders.
struct RowCells {
    private var iterator: PostgresRow.Iterator
    /// Seconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
    private static let postgresEpoch: Double = 946_684_800

    init(_ row: PostgresRow) {
        iterator = row.makeIterator()
    }

    private mutating func cell() throws -> PostgresCell {
        guard let cell = iterator.next() else { throw StrataError(.backend, "a log row has fewer columns than the read expects") }
        return cell
    }

    mutating func int64() throws -> Int64 {
        let cell = try cell()
        guard cell.format == .binary, var bytes = cell.bytes else { return try cell.decode(Int64.self) }
        switch (cell.dataType, bytes.readableBytes) {
        case (.int8, 8): return bytes.readInteger(as: Int64.self)!
        case (.int4, 4): return Int64(bytes.readInteger(as: Int32.self)!)
        case (.int2, 2): return Int64(bytes.readInteger(as: Int16.self)!)
        default: return try cell.decode(Int64.self)
        }
    }

    mutating func string() throws -> String {
        try optionalString() ?? { throw StrataError(.backend, "unexpected NULL in a log row") }()
    }

    mutating func optionalString() throws -> String? {
        let cell = try cell()
        guard let bytes = cell.bytes else { return nil }
        guard cell.format == .binary, cell.dataType == .text || cell.dataType == .varchar || cell.dataType == .name else {
            return try cell.decode(String.self)
        }
        return String(buffer: bytes)
    }

    mutating func date() throws -> Date {
        try optionalDate() ?? { throw StrataError(.backend, "unexpected NULL in a log row") }()
    }

    mutating func optionalDate() throws -> Date? {
        let cell = try cell()
        guard var bytes = cell.bytes else { return nil }
        guard cell.format == .binary, cell.dataType == .timestamptz || cell.dataType == .timestamp, bytes.readableBytes == 8 else {
            return try cell.decode(Date.self)
        }
        let micros = bytes.readInteger(as: Int64.self)!
        return Date(timeIntervalSince1970: Self.postgresEpoch + Double(micros) / 1_000_000)
    }

    mutating func bytes() throws -> [UInt8] {
        let cell = try cell()
        guard let bytes = cell.bytes else { throw StrataError(.backend, "unexpected NULL in a log row") }
        guard cell.format == .binary, cell.dataType == .bytea else { return Array(try cell.decode(ByteBuffer.self).readableBytesView) }
        return Array(bytes.readableBytesView)
    }
}
