import Foundation
import NIOCore
import StrataCore

/// Rows in PostgreSQL's `COPY ... FROM STDIN` text format: fields separated by tabs, rows by
/// newlines, `\N` for NULL, backslash escapes for the separators. Build them with `append` calls in
/// column order and `endRow()`; hand them to `COPY` (`ProjectionContext.copy`, the log's bulk append).
public struct CopyTextRows: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var rows = 0
    private var fields = 0
    private var timestamps = RFC3339.Writer()
    private static let hex = Array("0123456789abcdef".utf8)

    public init(reservingBytes capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if fields > 0 { bytes.append(0x09) }
        fields += 1
    }

    /// A text field, escaped.
    public mutating func append(_ value: String) {
        separate()
        for b in value.utf8 {
            switch b {
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            default: bytes.append(b)
            }
        }
    }

    /// An integer field.
    public mutating func append(_ value: Int64) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        let start = bytes.count
        while magnitude > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        bytes[start...].reverse()
    }

    public mutating func append(_ value: Int) { append(Int64(value)) }
    public mutating func append(_ value: Int32) { append(Int64(value)) }
    public mutating func append(_ value: Int16) { append(Int64(value)) }

    /// A `timestamptz` field, in UTC with microseconds.
    public mutating func append(_ value: Date) {
        separate()
        timestamps.write(value, into: &bytes)
    }

    /// A `bytea` field, hex-encoded.
    public mutating func appendBytea<Bytes: Sequence>(_ value: Bytes) where Bytes.Element == UInt8 {
        separate()
        // \\x: bytea's hex prefix, its backslash escaped for the text format.
        bytes.append(0x5C); bytes.append(0x5C); bytes.append(UInt8(ascii: "x"))
        for b in value {
            bytes.append(Self.hex[Int(b >> 4)])
            bytes.append(Self.hex[Int(b & 0x0F)])
        }
    }

    /// A NULL field.
    public mutating func appendNull() {
        separate()
        bytes.append(0x5C); bytes.append(UInt8(ascii: "N"))
    }

    /// Ends the current row.
    public mutating func endRow() {
        bytes.append(0x0A)
        fields = 0
        rows += 1
    }

    public var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }
}
