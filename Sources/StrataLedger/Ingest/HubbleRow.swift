import StrataCore
import StrataStellarXDR

/// The kinds of rows in a Hubble / stellar-etl JSON Lines export, recognized by their fields so
/// files can be named anything and mixed in one directory.
public enum HubbleRowKind: String, Sendable, CaseIterable {
    case ledger
    case transaction
    case operation
    case effect
    case trade
    case contractEvent = "contract_event"
    /// stellar-etl's token transfers: derived data, which Strata computes itself (silver).
    case tokenTransfer = "token_transfer"
    /// Raw XDR transaction rows (`tx_ledger_history` ...): the same transactions as the Hubble rows.
    case rawTransactionXDR = "raw_transaction_xdr"
    /// stellar-etl's `export_assets` rows: recognized, not ingested (asset state is derived from
    /// the ledger's own changes), reported as skipped.
    case asset

    /// The payload array the rows go into, nil for rows that are not ingested.
    var payloadField: String? {
        switch self {
        case .ledger: nil
        case .transaction: "transactions"
        case .operation: "operations"
        case .effect: "effects"
        case .trade: "trades"
        case .contractEvent: "contract_events"
        case .tokenTransfer, .rawTransactionXDR, .asset: nil
        }
    }

    /// The sub-schema of `stellar.ledger.closed` rows of this kind are validated against.
    var schemaPointer: String? {
        switch self {
        case .ledger: "#/$defs/ledger"
        case .transaction: "#/$defs/transaction"
        case .operation: "#/$defs/operation"
        case .effect: "#/$defs/effect"
        case .trade: "#/$defs/trade"
        case .contractEvent: "#/$defs/contract_event"
        case .tokenTransfer, .rawTransactionXDR, .asset: nil
        }
    }

    static func classify(_ row: [String: JSONValue]) -> HubbleRowKind? {
        if row["ledger_hash"] != nil && row["sequence"] != nil { return .ledger }
        if row["event_topic"] != nil && row["amount_raw"] != nil { return .tokenTransfer }
        if row["contract_event_xdr"] != nil || (row["topics"] != nil && row["transaction_hash"] != nil && row["type_string"] != nil) {
            return .contractEvent
        }
        if row["history_operation_id"] != nil { return .trade }
        if row["tx_ledger_history"] != nil { return .rawTransactionXDR }
        if row["transaction_hash"] != nil && row["fee_charged"] != nil { return .transaction }
        if row["transaction_id"] != nil && row["type_string"] != nil && row["details"] != nil { return .operation }
        if row["operation_id"] != nil && row["type_string"] != nil && row["address"] != nil { return .effect }
        if row["asset_type"] != nil && row["asset_code"] != nil && row["asset_issuer"] != nil && row["transaction_hash"] == nil {
            return .asset
        }
        return nil
    }

    /// The ledger a row belongs to. Trades carry no sequence; their operation id (a TOID) holds it in
    /// its top 32 bits.
    static func ledgerSequence(of row: [String: JSONValue], kind: HubbleRowKind) -> Int64? {
        switch kind {
        case .ledger: return row["sequence"]?.int64Value
        case .trade: return row["history_operation_id"]?.int64Value.map { $0 >> 32 }
        default: return row["ledger_sequence"]?.int64Value
        }
    }
}

/// Stellar's total order ids: ledger sequence (32 bits), transaction order (20), operation order (12).
public enum TOID {
    public static func ledger(_ id: Int64) -> Int64 { id >> 32 }
    public static func transactionOrder(_ id: Int64) -> Int { Int((id >> 12) & 0xFFFFF) }
    public static func operationOrder(_ id: Int64) -> Int { Int(id & 0xFFF) }
    public static func make(ledger: Int64, transaction: Int, operation: Int) -> Int64 {
        ledger << 32 | Int64(transaction) << 12 | Int64(operation)
    }
}
