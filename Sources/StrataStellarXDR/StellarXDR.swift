import Foundation

/// Entry points: decode the base64 XDR found in stellar-etl / Hubble exports.
public enum StellarXDR {
    /// A transaction's `tx_meta`.
    public static func decodeTransactionMeta(base64: String) throws -> DecodedTransactionMeta {
        try decode(base64, "TransactionMeta") { r in try r.readTransactionMeta() }
    }

    /// A bare `LedgerEntryChanges`, e.g. a transaction's `tx_fee_meta`.
    public static func decodeLedgerEntryChanges(base64: String) throws -> DecodedLedgerEntryChanges {
        try decode(base64, "LedgerEntryChanges") { r in
            var changes = DecodedLedgerEntryChanges()
            try r.readLedgerEntryChanges(operationIndex: nil, into: &changes)
            return changes
        }
    }

    /// A standalone `ContractEvent`.
    ///
    /// The contract-events export's `contract_event_xdr` is NOT this: it holds a `DiagnosticEvent`
    /// (a leading `inSuccessfulContractCall` boolean); use `decodeDiagnosticEvent` for it.
    public static func decodeContractEvent(base64: String) throws -> DecodedContractEvent {
        try decode(base64, "ContractEvent") { r in try r.readContractEvent() }
    }

    /// A `DiagnosticEvent`: what the contract-events export's `contract_event_xdr` holds.
    public static func decodeDiagnosticEvent(base64: String) throws -> DecodedContractEvent {
        try decode(base64, "DiagnosticEvent") { r in try r.readDiagnosticEvent() }
    }

    /// A v4 `TransactionEvent` (as Soroban RPC's `transactionEventsXdr` lists them).
    public static func decodeTransactionEvent(base64: String) throws -> DecodedTransactionEvent {
        try decode(base64, "TransactionEvent") { r in try r.readTransactionEvent() }
    }

    /// An `SCVal`, e.g. one of the export's `topics` or its `data`.
    public static func decodeSCVal(base64: String) throws -> SCValue {
        try decode(base64, "SCVal") { r in try r.readSCValue() }
    }

    /// Decodes base64 and requires `body` to consume every byte.
    public static func decode<T>(_ base64: String, _ type: String, _ body: (inout XDRReader) throws -> T) throws -> T {
        guard let data = Data(base64Encoded: base64) else {
            throw XDRDecodingError(type: type, offset: 0, reason: "input is not valid base64")
        }
        var reader = XDRReader(Array(data))
        let value = try body(&reader)
        try reader.expectEnd(type)
        return value
    }

    /// Lower-case hex, as hashes and pool ids are shown.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
