import Foundation
import StrataCore
import StrataStellarXDR

/// stellar-etl's ledger row (`history_ledgers`, `internal/transform/ledger.go`) from XDR: the same
/// field names and values as the Hubble export, so rows from a data lake and from an export are
/// interchangeable.
public enum XDRLedgerRow {
    /// A `stellar.ledger_close_meta` event's payload as the export's: `{"sequence", "ledger": row}`.
    public static func payload(of event: Event) throws -> [UInt8] {
        let members = try event.payloadMembers(["xdr"])
        guard let text = members[0]?.stringValue, let data = Data(base64Encoded: text) else {
            throw StrataError(.invalidInput, "event \(event.position) has no base64 `xdr`")
        }
        let ledger: LedgerCloseMetaSummary
        do { ledger = try LedgerCloseMetaSummary.decode(Array(data)) } catch {
            throw StrataError(.invalidInput, "event \(event.position): \(error)")
        }
        return JSONWriter.bytes(["sequence": .int(Int(ledger.sequence)), "ledger": row(ledger)])
    }

    /// The row of one decoded `LedgerCloseMeta`.
    public static func row(_ ledger: LedgerCloseMetaSummary) -> JSONValue {
        row(header: ledger.header, counts: ledger.counts, sorobanFeeWrite1KB: ledger.sorobanFeeWrite1KB,
            liveSorobanStateBytes: ledger.liveSorobanStateBytes)
    }

    /// The row from a header and the counts of its transactions.
    public static func row(header h: LedgerHeaderFields, counts c: LedgerCounts, sorobanFeeWrite1KB: Int64 = 0, liveSorobanStateBytes: UInt64 = 0) -> JSONValue {
        [
            "sequence": .int(Int(h.sequence)),
            // TOID of the ledger: the sequence in the high 32 bits.
            "id": .int(Int(Int64(h.sequence) << 32)),
            "ledger_hash": .string(StellarXDR.hex(h.hash)),
            "previous_ledger_hash": .string(StellarXDR.hex(h.previousLedgerHash)),
            "ledger_header": .string(Data(h.xdr).base64EncodedString()),
            "transaction_count": .int(c.transactions - c.failed),
            "operation_count": .int(c.operations),
            "successful_transaction_count": .int(c.successful),
            "failed_transaction_count": .int(c.failed),
            // A string in stellar-etl's output.
            "tx_set_operation_count": .string(String(c.txSetOperations)),
            "closed_at": .string(timestamp(h.closeTime)),
            "total_coins": .int(Int(h.totalCoins)),
            "fee_pool": .int(Int(h.feePool)),
            "base_fee": .int(Int(h.baseFee)),
            "base_reserve": .int(Int(h.baseReserve)),
            "max_tx_set_size": .int(Int(h.maxTxSetSize)),
            "protocol_version": .int(Int(h.protocolVersion)),
            "soroban_fee_write_1kb": .int(Int(sorobanFeeWrite1KB)),
            "node_id": .string(h.nodeID ?? ""),
            "signature": .string(h.signature.map { Data($0).base64EncodedString() } ?? ""),
            "total_byte_size_of_bucket_list": .int(Int(clamping: liveSorobanStateBytes)),
            "total_byte_size_of_live_soroban_state": .int(Int(clamping: liveSorobanStateBytes)),
        ]
    }

    /// `2020-07-28T00:10:40Z`: whole seconds, as stellar-etl writes close times (years past 9999
    /// are clamped).
    static func timestamp(_ seconds: UInt64) -> String { RFC3339.formatSeconds(Int64(min(seconds, 253_402_300_799))) }

}
