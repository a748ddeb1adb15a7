import Foundation
import StrataCore
import StrataStellarXDR
import StrataProjections

/// Typed access to a `stellar.ledger.closed` payload for the projections that work in Swift.
struct LedgerEventView {
    let sequence: Int64
    let closedAt: Date?
    let protocolVersion: Int?
    let transactions: [TransactionRow]
    let operations: [JSONValue]
    let contractEvents: [JSONValue]

    struct TransactionRow {
        let hash: String
        let id: Int64
        let ledgerSequence: Int64
        let successful: Bool
        let account: String
        let closedAt: Date?
        let meta: String?
        let feeCharged: Int64
        let memoType: String
        let memo: String
    }

    /// Each transaction's decoded `tx_meta` (transactions without one are left out), decoded once
    /// for every silver table that needs it.
    func decodedMetas() throws -> [(transaction: TransactionRow, meta: DecodedTransactionMeta)] {
        try transactions.compactMap { tx in
            guard let base64 = tx.meta, !base64.isEmpty else { return nil }
            do {
                return (tx, try StellarXDR.decodeTransactionMeta(base64: base64))
            } catch {
                throw ProjectionError("transaction \(tx.hash): cannot decode tx_meta: \(error)")
            }
        }
    }

    /// The decoded metas of a raw ledger (`stellar.ledger_close_meta`): every applied transaction
    /// with its TOID (ledger, apply order from 1) and hash; the fields only the Hubble rows carry
    /// (account, fee, memo) are empty.
    static func rawLedgerMetas(_ event: Event) throws -> [(transaction: TransactionRow, meta: DecodedTransactionMeta)] {
        let members = try event.payloadMembers(["xdr"])
        guard let text = members[0]?.stringValue, let data = Data(base64Encoded: text) else {
            throw ProjectionError("raw ledger \(event.position) has no base64 xdr")
        }
        let bytes = Array(data)
        let ledger: LedgerCloseMetaSummary
        do { ledger = try LedgerCloseMetaSummary.decode(bytes) } catch {
            throw ProjectionError("raw ledger \(event.position): \(error)")
        }
        let closedAt = Date(timeIntervalSince1970: TimeInterval(ledger.closeTime))
        return try ledger.applied.enumerated().map { index, tx in
            var reader = XDRReader(Array(bytes[tx.metaRange]))
            let meta: DecodedTransactionMeta
            do { meta = try reader.readTransactionMeta() } catch {
                throw ProjectionError("raw ledger \(ledger.sequence), transaction \(index + 1): cannot decode its meta: \(error)")
            }
            let id = Int64(ledger.sequence) << 32 | Int64(index + 1) << 12
            let row = TransactionRow(
                hash: StellarXDR.hex(tx.hash), id: id, ledgerSequence: Int64(ledger.sequence), successful: tx.successful, account: "",
                closedAt: closedAt, meta: nil, feeCharged: 0, memoType: "", memo: "")
            return (row, meta)
        }
    }

    init(_ payload: JSONValue, at position: LogPosition) throws {
        guard let sequence = payload["sequence"]?.int64Value else {
            throw StrataError(.invalidInput, "ledger event \(position) has no sequence")
        }
        self.sequence = sequence
        let header = payload["ledger"]
        closedAt = header?["closed_at"]?.stringValue.flatMap(RFC3339.parse)
        protocolVersion = header?["protocol_version"]?.intValue
        transactions = (payload["transactions"]?.arrayValue ?? []).compactMap { row in
            guard let hash = row["transaction_hash"]?.stringValue, let id = row["id"]?.int64Value else { return nil }
            return TransactionRow(
                hash: hash, id: id, ledgerSequence: row["ledger_sequence"]?.int64Value ?? sequence,
                successful: row["successful"]?.boolValue ?? false, account: row["account"]?.stringValue ?? "",
                closedAt: row["closed_at"]?.stringValue.flatMap(RFC3339.parse), meta: row["tx_meta"]?.stringValue,
                feeCharged: row["fee_charged"]?.int64Value ?? 0, memoType: row["memo_type"]?.stringValue ?? "",
                memo: row["memo"]?.stringValue ?? "")
        }.sorted { $0.id < $1.id }
        operations = payload["operations"]?.arrayValue ?? []
        contractEvents = payload["contract_events"]?.arrayValue ?? []
    }
}
