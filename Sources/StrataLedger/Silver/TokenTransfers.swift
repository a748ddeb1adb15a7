import PostgresNIO
import Foundation
import StrataCore
import StrataStellarXDR
import StrataProjections

/// Token transfers (CAP-67 unified events), the way stellar-etl's token transfer export shows them.
///
/// Source: the `transfer`, `mint`, `burn`, `clawback` and `fee` events in each transaction's meta
/// (TransactionMeta v4 carries them for classic operations and Soroban alike). Transactions whose
/// meta predates v4 contribute the SEP-41 events of their contract-event rows instead.
enum TokenTransfers {
    static let eventNames: Set<String> = ["transfer", "mint", "burn", "clawback", "fee"]

    static func derive(
        _ ledger: LedgerEventView, metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)],
        into rows: inout TokenTransferRows
    ) throws {
        var fromMeta = Set<String>()
        for (tx, meta) in metas {
            guard meta.version >= 4 else { continue }
            fromMeta.insert(tx.hash)
            var index = 0
            for event in meta.transactionEvents {
                if let row = row(event.event, tx: tx, operationIndex: nil, eventIndex: index, ledger: ledger) {
                    rows.rows.append(row)
                    index += 1
                }
            }
            for (opIndex, events) in meta.operationEvents.enumerated() {
                for event in events {
                    if let row = row(event, tx: tx, operationIndex: opIndex, eventIndex: index, ledger: ledger) {
                        rows.rows.append(row)
                        index += 1
                    }
                }
            }
        }
        try deriveFromContractEvents(ledger, skipping: fromMeta, into: &rows)
    }

    static func row(
        _ event: DecodedContractEvent, tx: LedgerEventView.TransactionRow, operationIndex: Int?, eventIndex: Int, ledger: LedgerEventView
    ) -> TokenTransferRows.Row? {
        guard let name = event.topics.first?.symbol, eventNames.contains(name) else { return nil }
        var from: String?
        var to: String?
        switch name {
        case "transfer":
            from = event.topics.count > 1 ? event.topics[1].address : nil
            to = event.topics.count > 2 ? event.topics[2].address : nil
        case "mint":
            to = event.topics.count > 1 ? event.topics[1].address : nil
        default:  // burn, clawback, fee
            from = event.topics.count > 1 ? event.topics[1].address : nil
        }
        // The amount is the data, or the `amount` entry of a map that also carries `to_muxed_id`.
        var amountValue = event.data
        var muxedID: String?
        if let amount = event.data.mapValue(symbol: "amount") {
            amountValue = amount
            if let muxed = event.data.mapValue(symbol: "to_muxed_id") {
                // stellar-etl reports an id memo's value and 0 for text and hash memos.
                muxedID = muxed.u64.map(String.init) ?? "0"
            }
        }
        guard let raw = amountValue.i128Decimal else { return nil }
        var toMuxed: String?
        if let muxedID, let to, let id = UInt64(muxedID) { toMuxed = StrKey.muxedAccount(to, id: id) }
        let asset = name == "fee" ? AssetName.native : AssetName(sep11: event.topics.count > 1 ? event.topics.last?.string : nil)
        return TokenTransferRows.Row(
            transactionHash: tx.hash, eventIndex: eventIndex, ledgerSequence: tx.ledgerSequence, transactionID: tx.id,
            operationID: operationIndex.map { tx.id + Int64($0) + 1 }, closedAt: tx.closedAt ?? ledger.closedAt, eventTopic: name,
            from: from, to: to, toMuxed: toMuxed, toMuxedID: muxedID, asset: asset, amountRaw: raw, contractID: event.contractID,
            source: "transaction_meta")
    }

    /// SEP-41 events from contract-event rows (decoded topics), for transactions without v4 meta.
    static func deriveFromContractEvents(_ ledger: LedgerEventView, skipping: Set<String>, into rows: inout TokenTransferRows) throws {
        let txs = Dictionary(ledger.transactions.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a })
        var position: [String: Int] = [:]
        for e in ledger.contractEvents {
            guard let hash = e["transaction_hash"]?.stringValue, !skipping.contains(hash) else { continue }
            let index = position[hash, default: 0]
            position[hash] = index + 1
            guard e["type_string"]?.stringValue == "ContractEventTypeContract",
                let topics = e["topics_decoded"]?.arrayValue, let name = topics.first?["symbol"]?.stringValue, eventNames.contains(name)
            else { continue }
            let address = { (i: Int) -> String? in i < topics.count ? topics[i]["address"]?.stringValue : nil }
            var amount = e["data_decoded"]?["i128"]?.stringValue
            if amount == nil, let entries = e["data_decoded"]?["map"]?.arrayValue {
                amount = entries.first { $0["key"]?["symbol"]?.stringValue == "amount" }?["val"]?["i128"]?.stringValue
            }
            guard let raw = amount else { continue }
            let txID = e["transaction_id"]?.int64Value ?? txs[hash]?.id ?? 0
            rows.rows.append(TokenTransferRows.Row(
                transactionHash: hash, eventIndex: 10_000 + index, ledgerSequence: e["ledger_sequence"]?.int64Value ?? ledger.sequence,
                transactionID: txID, operationID: e["operation_id"]?.int64Value,
                closedAt: e["closed_at"]?.stringValue.flatMap(RFC3339.parse) ?? ledger.closedAt, eventTopic: name,
                from: name == "mint" ? nil : address(1), to: name == "transfer" ? address(2) : (name == "mint" ? address(1) : nil),
                toMuxed: nil, toMuxedID: nil, asset: AssetName(sep11: topics.last?["string"]?.stringValue), amountRaw: raw,
                contractID: e["contract_id"]?.stringValue, source: "contract_events"))
        }
    }
}

/// An asset as stellar-etl names it.
struct AssetName: Equatable {
    var asset: String?
    var type: String?
    var code: String?
    var issuer: String?

    static let native = AssetName(asset: "native", type: "native", code: nil, issuer: nil)

    /// From a SEP-11 string: `native` or `CODE:ISSUER`; nil for tokens that are not Stellar assets.
    init(sep11: String?) {
        guard let sep11 else { self.init(asset: nil, type: nil, code: nil, issuer: nil); return }
        if sep11 == "native" { self = .native; return }
        let parts = sep11.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { self.init(asset: nil, type: nil, code: nil, issuer: nil); return }
        let type = parts[0].count <= 4 ? "credit_alphanum4" : "credit_alphanum12"
        self.init(asset: "\(type):\(parts[0]):\(parts[1])", type: type, code: parts[0], issuer: parts[1])
    }

    init(asset: String?, type: String?, code: String?, issuer: String?) {
        self.asset = asset
        self.type = type
        self.code = code
        self.issuer = issuer
    }
}

/// Token transfer rows, written in one statement.
struct TokenTransferRows {
    struct Row {
        var transactionHash: String
        var eventIndex: Int
        var ledgerSequence: Int64
        var transactionID: Int64
        var operationID: Int64?
        var closedAt: Date?
        var eventTopic: String
        var from: String?
        var to: String?
        var toMuxed: String?
        var toMuxedID: String?
        var asset: AssetName
        var amountRaw: String
        var contractID: String?
        var source: String

        var json: JSONValue {
            var o: [String: JSONValue] = [
                "transaction_hash": .string(transactionHash), "event_index": .int(eventIndex), "ledger_sequence": .int(ledgerSequence),
                "transaction_id": .int(transactionID), "event_topic": .string(eventTopic), "amount_raw": .number(amountRaw),
                // stellar-etl's float: raw stroops times 1e-7.
                "amount": .number(String(Double(amountRaw).map { $0 * 0.0000001 } ?? 0)), "source": .string(source),
            ]
            let optional: [(String, String?)] = [
                ("from", from), ("to", to), ("to_muxed", toMuxed), ("to_muxed_id", toMuxedID), ("asset", asset.asset),
                ("asset_type", asset.type), ("asset_code", asset.code), ("asset_issuer", asset.issuer), ("contract_id", contractID),
                ("closed_at", closedAt.map(RFC3339.format)),
            ]
            for (k, v) in optional { if let v { o[k] = .string(v) } }
            if let operationID { o["operation_id"] = .int(operationID) }
            return .object(o)
        }
    }
    var rows: [Row] = []

    func write(_ context: ProjectionContext) async throws {
        guard !rows.isEmpty else { return }
        var latest: [String: Row] = [:]
        for r in rows { latest["\(r.transactionHash)/\(r.eventIndex)"] = r }
        let json = JSONValue.array(latest.keys.sorted().map { latest[$0]!.json })
        let table = context.table("token_transfers")
        try await context.query("""
            INSERT INTO \(unescaped: table)
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (transaction_hash, event_index) DO UPDATE
               SET event_topic = EXCLUDED.event_topic, "from" = EXCLUDED."from", "to" = EXCLUDED."to", to_muxed = EXCLUDED.to_muxed,
                   to_muxed_id = EXCLUDED.to_muxed_id, asset = EXCLUDED.asset, asset_type = EXCLUDED.asset_type,
                   asset_code = EXCLUDED.asset_code, asset_issuer = EXCLUDED.asset_issuer, amount = EXCLUDED.amount,
                   amount_raw = EXCLUDED.amount_raw, contract_id = EXCLUDED.contract_id, operation_id = EXCLUDED.operation_id,
                   closed_at = EXCLUDED.closed_at, source = EXCLUDED.source
            """)
    }
}
