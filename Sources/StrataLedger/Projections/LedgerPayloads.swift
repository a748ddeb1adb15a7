import Foundation
import NIOCore
import PostgresNIO
import StrataCore

/// Ledger events' payloads as one `jsonb` parameter: `[payload, payload, ...]`. The canonical
/// JSON bytes from the log are concatenated, not re-parsed, and PostgreSQL unpacks the rows with
/// `jsonb_to_recordset`, whose column names are Hubble's field names.
struct LedgerPayloads: PostgresEncodable, Sendable {
    let bytes: ByteBuffer

    init(_ events: [Event]) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.reduce(2) { $0 + $1.payload.count + 1 })
        buffer.writeInteger(UInt8(1))  // jsonb binary format version
        buffer.writeString("[")
        for (i, e) in events.enumerated() {
            if i > 0 { buffer.writeString(",") }
            buffer.writeBytes(e.payload)
        }
        buffer.writeString("]")
        self.bytes = buffer
    }

    static var psqlType: PostgresDataType { .jsonb }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        var copy = bytes
        byteBuffer.writeBuffer(&copy)
    }
}
