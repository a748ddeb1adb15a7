import Foundation
import PostgresNIO
import StrataCore
import StrataProjections
import StrataStellarXDR

/// Current ledger-entry state from the entries in transaction meta — accounts, trustlines, offers
/// and liquidity pools: the last created, updated, restored or removed entry of each wins, ordered
/// by (transaction id, change position). Ledgers are spread over partitions and may be applied in
/// any order, so the write keeps a row only when it is newer than the stored one: the result is the
/// same whatever the order. A removed entry stays as a row with `deleted` true.
struct CurrentState {
    var accounts = NewestRows<String>(
        table: "accounts_current", key: ["account_id"],
        columns: ["balance", "sequence", "num_subentries", "flags", "home_domain", "thresholds", "sponsor", "last_modified_ledger"])
    var trustlines = NewestRows<String>(
        table: "trustlines_current", key: ["account_id", "asset"],
        columns: ["pool_share", "balance", "trust_limit", "flags", "buying_liabilities", "selling_liabilities",
                  "liquidity_pool_use_count", "sponsor", "last_modified_ledger"])
    var offers = NewestRows<Int64>(
        table: "offers_current", key: ["offer_id"],
        columns: ["seller_id", "selling", "buying", "amount", "price_n", "price_d", "flags", "sponsor", "last_modified_ledger"])
    var pools = NewestRows<String>(
        table: "liquidity_pools_current", key: ["pool_id"],
        columns: ["asset_a", "asset_b", "fee_bp", "reserve_a", "reserve_b", "total_pool_shares", "pool_share_trustline_count",
                  "last_modified_ledger"])

    mutating func derive(_ metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)]) {
        for (tx, meta) in metas {
            for (position, change) in meta.accounts.enumerated() where change.kind != .state {
                var o: [String: JSONValue] = ["account_id": .string(change.accountID)]
                if change.kind != .removed, let e = change.entry {
                    o["balance"] = .int(e.balance)
                    o["sequence"] = .int(e.seqNum)
                    o["num_subentries"] = .int(e.numSubEntries)
                    o["flags"] = .int(e.flags)
                    o["home_domain"] = .string(e.homeDomain)
                    o["thresholds"] = .string(e.thresholds)
                    o["last_modified_ledger"] = .int(e.lastModifiedLedgerSeq)
                    if let s = e.sponsor { o["sponsor"] = .string(s) }
                }
                accounts.offer(change.accountID, o, deleted: change.kind == .removed, transactionID: tx.id, change: position)
            }
            for (position, change) in meta.trustlines.enumerated() where change.kind != .state {
                let asset = change.asset.description
                var poolShare = false
                if case .poolShare = change.asset { poolShare = true }
                var o: [String: JSONValue] = ["account_id": .string(change.accountID), "asset": .string(asset), "pool_share": .bool(poolShare)]
                if change.kind != .removed, let e = change.entry {
                    o["balance"] = .int(e.balance)
                    o["trust_limit"] = .int(e.limit)
                    o["flags"] = .int(Int(e.flags))
                    o["buying_liabilities"] = .int(e.buyingLiabilities)
                    o["selling_liabilities"] = .int(e.sellingLiabilities)
                    if let n = e.liquidityPoolUseCount { o["liquidity_pool_use_count"] = .int(Int(n)) }
                    o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
                    if let s = e.sponsor { o["sponsor"] = .string(s) }
                }
                trustlines.offer("\(change.accountID) \(asset)", o, deleted: change.kind == .removed, transactionID: tx.id, change: position)
            }
            for (position, change) in meta.offers.enumerated() where change.kind != .state {
                var o: [String: JSONValue] = ["offer_id": .int(change.offerID), "seller_id": .string(change.sellerID)]
                if change.kind != .removed, let e = change.entry {
                    o["selling"] = .string(e.selling.description)
                    o["buying"] = .string(e.buying.description)
                    o["amount"] = .int(e.amount)
                    o["price_n"] = .int(Int(e.priceN))
                    o["price_d"] = .int(Int(e.priceD))
                    o["flags"] = .int(Int(e.flags))
                    o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
                    if let s = e.sponsor { o["sponsor"] = .string(s) }
                }
                offers.offer(change.offerID, o, deleted: change.kind == .removed, transactionID: tx.id, change: position)
            }
            for (position, change) in meta.liquidityPools.enumerated() where change.kind != .state {
                var o: [String: JSONValue] = ["pool_id": .string(change.poolID)]
                if change.kind != .removed, let e = change.entry {
                    o["asset_a"] = .string(e.assetA.description)
                    o["asset_b"] = .string(e.assetB.description)
                    o["fee_bp"] = .int(Int(e.fee))
                    o["reserve_a"] = .int(e.reserveA)
                    o["reserve_b"] = .int(e.reserveB)
                    o["total_pool_shares"] = .int(e.totalPoolShares)
                    o["pool_share_trustline_count"] = .int(e.poolSharesTrustLineCount)
                    o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
                }
                pools.offer(change.poolID, o, deleted: change.kind == .removed, transactionID: tx.id, change: position)
            }
        }
    }

    func write(_ context: ProjectionContext) async throws {
        try await accounts.write(context)
        try await trustlines.write(context)
        try await offers.write(context)
        try await pools.write(context)
    }
}

/// The newest row per key within a batch, written with a newer-wins upsert into `table` (whose
/// columns are `key`, `columns`, `deleted`, `updated_by_transaction_id` and `updated_by_change`).
struct NewestRows<Key: Hashable & Comparable> {
    struct Row {
        var fields: [String: JSONValue]
        var transactionID: Int64
        var change: Int
    }
    let table: String
    let key: [String]
    let columns: [String]
    private(set) var latest: [Key: Row] = [:]

    init(table: String, key: [String], columns: [String]) {
        self.table = table
        self.key = key
        self.columns = columns
    }

    /// Keeps `fields` for `key` unless a newer change of it is already kept.
    mutating func offer(_ key: Key, _ fields: [String: JSONValue], deleted: Bool, transactionID: Int64, change: Int) {
        if let existing = latest[key], (existing.transactionID, existing.change) > (transactionID, change) { return }
        var fields = fields
        fields["deleted"] = .bool(deleted)
        fields["updated_by_transaction_id"] = .int(transactionID)
        fields["updated_by_change"] = .int(change)
        latest[key] = Row(fields: fields, transactionID: transactionID, change: change)
    }

    func write(_ context: ProjectionContext) async throws {
        guard !latest.isEmpty else { return }
        let json = JSONValue.array(latest.keys.sorted().compactMap { latest[$0].map { .object($0.fields) } })
        let name = context.table(table)
        let updates = (columns + ["deleted", "updated_by_transaction_id", "updated_by_change"]).map { "\($0) = EXCLUDED.\($0)" }
        // Table and column names are constants of this file, not input.
        try await context.query("""
            INSERT INTO \(unescaped: name) AS t
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: name), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (\(unescaped: key.joined(separator: ", "))) DO UPDATE
               SET \(unescaped: updates.joined(separator: ", "))
             WHERE (EXCLUDED.updated_by_transaction_id, EXCLUDED.updated_by_change) >= (t.updated_by_transaction_id, t.updated_by_change)
            """)
    }
}
