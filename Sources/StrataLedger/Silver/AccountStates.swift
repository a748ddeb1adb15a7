import PostgresNIO
import Foundation
import StrataCore
import StrataStellarXDR
import StrataProjections

/// Current account state from the account entries in transaction meta: the last created, updated,
/// restored or removed entry of each account wins, ordered by (transaction id, change position).
/// Ledgers are spread over partitions and may be applied in any order, so the write keeps a row
/// only when it is newer than the stored one: the result is the same whatever the order.
enum AccountStates {
    static func derive(_ metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)], into rows: inout AccountRows) {
        for (tx, meta) in metas {
            for (position, change) in meta.accounts.enumerated() where change.kind != .state {
                let row = AccountRows.Row(
                    accountID: change.accountID, entry: change.kind == .removed ? nil : change.entry,
                    transactionID: tx.id, change: position)
                if let existing = rows.latest[change.accountID], (existing.transactionID, existing.change) > (tx.id, position) { continue }
                rows.latest[change.accountID] = row
            }
        }
    }
}

/// The newest state per account within a batch, written with a newer-wins upsert.
struct AccountRows {
    struct Row {
        var accountID: String
        var entry: AccountEntryChange.Entry?
        var transactionID: Int64
        var change: Int
    }
    var latest: [String: Row] = [:]

    func write(_ context: ProjectionContext) async throws {
        guard !latest.isEmpty else { return }
        let json = JSONValue.array(latest.keys.sorted().map { key in
            let r = latest[key]!
            var o: [String: JSONValue] = [
                "account_id": .string(r.accountID), "deleted": .bool(r.entry == nil), "updated_by_transaction_id": .int(r.transactionID),
                "updated_by_change": .int(r.change),
            ]
            if let e = r.entry {
                o["balance"] = .int(e.balance)
                o["sequence"] = .int(e.seqNum)
                o["num_subentries"] = .int(e.numSubEntries)
                o["flags"] = .int(e.flags)
                o["home_domain"] = .string(e.homeDomain)
                o["thresholds"] = .string(e.thresholds)
                o["last_modified_ledger"] = .int(e.lastModifiedLedgerSeq)
                if let s = e.sponsor { o["sponsor"] = .string(s) }
            }
            return .object(o)
        })
        let table = context.table("accounts_current")
        try await context.query("""
            INSERT INTO \(unescaped: table) AS a
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (account_id) DO UPDATE
               SET balance = EXCLUDED.balance, sequence = EXCLUDED.sequence, num_subentries = EXCLUDED.num_subentries,
                   flags = EXCLUDED.flags, home_domain = EXCLUDED.home_domain, thresholds = EXCLUDED.thresholds,
                   sponsor = EXCLUDED.sponsor, last_modified_ledger = EXCLUDED.last_modified_ledger, deleted = EXCLUDED.deleted,
                   updated_by_transaction_id = EXCLUDED.updated_by_transaction_id, updated_by_change = EXCLUDED.updated_by_change
             WHERE (EXCLUDED.updated_by_transaction_id, EXCLUDED.updated_by_change) >= (a.updated_by_transaction_id, a.updated_by_change)
            """)
    }
}

/// Current trustline state from the trustline entries in transaction meta, per (account, asset):
/// the same newer-wins rule as accounts, so the table is the same whatever order ledgers apply in.
enum TrustlineStates {
    static func derive(_ metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)], into rows: inout TrustlineRows) {
        for (tx, meta) in metas {
            for (position, change) in meta.trustlines.enumerated() where change.kind != .state {
                let key = TrustlineRows.Key(accountID: change.accountID, asset: change.asset.description)
                let row = TrustlineRows.Row(
                    key: key, poolShare: { if case .poolShare = change.asset { return true } else { return false } }(),
                    entry: change.kind == .removed ? nil : change.entry, transactionID: tx.id, change: position)
                if let existing = rows.latest[key], (existing.transactionID, existing.change) > (tx.id, position) { continue }
                rows.latest[key] = row
            }
        }
    }
}

/// The newest state per trustline within a batch, written with a newer-wins upsert.
struct TrustlineRows {
    struct Key: Hashable, Comparable {
        var accountID: String
        var asset: String
        static func < (a: Key, b: Key) -> Bool { (a.accountID, a.asset) < (b.accountID, b.asset) }
    }
    struct Row {
        var key: Key
        var poolShare: Bool
        var entry: TrustlineEntryChange.Entry?
        var transactionID: Int64
        var change: Int
    }
    var latest: [Key: Row] = [:]

    func write(_ context: ProjectionContext) async throws {
        guard !latest.isEmpty else { return }
        let json = JSONValue.array(latest.keys.sorted().compactMap { key in
            guard let r = latest[key] else { return nil }
            var o: [String: JSONValue] = [
                "account_id": .string(r.key.accountID), "asset": .string(r.key.asset), "pool_share": .bool(r.poolShare),
                "deleted": .bool(r.entry == nil), "updated_by_transaction_id": .int(r.transactionID), "updated_by_change": .int(r.change),
            ]
            if let e = r.entry {
                o["balance"] = .int(e.balance)
                o["trust_limit"] = .int(e.limit)
                o["flags"] = .int(Int(e.flags))
                o["buying_liabilities"] = .int(e.buyingLiabilities)
                o["selling_liabilities"] = .int(e.sellingLiabilities)
                if let n = e.liquidityPoolUseCount { o["liquidity_pool_use_count"] = .int(Int(n)) }
                o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
                if let s = e.sponsor { o["sponsor"] = .string(s) }
            }
            return .object(o)
        })
        let table = context.table("trustlines_current")
        try await context.query("""
            INSERT INTO \(unescaped: table) AS t
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (account_id, asset) DO UPDATE
               SET pool_share = EXCLUDED.pool_share, balance = EXCLUDED.balance, trust_limit = EXCLUDED.trust_limit,
                   flags = EXCLUDED.flags, buying_liabilities = EXCLUDED.buying_liabilities,
                   selling_liabilities = EXCLUDED.selling_liabilities, liquidity_pool_use_count = EXCLUDED.liquidity_pool_use_count,
                   sponsor = EXCLUDED.sponsor, last_modified_ledger = EXCLUDED.last_modified_ledger, deleted = EXCLUDED.deleted,
                   updated_by_transaction_id = EXCLUDED.updated_by_transaction_id, updated_by_change = EXCLUDED.updated_by_change
             WHERE (EXCLUDED.updated_by_transaction_id, EXCLUDED.updated_by_change) >= (t.updated_by_transaction_id, t.updated_by_change)
            """)
    }
}

/// Current offers from the offer entries in transaction meta, per offer id, by the same
/// newer-wins rule (a fully taken or cancelled offer is kept as deleted).
enum OfferStates {
    static func derive(_ metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)], into rows: inout OfferRows) {
        for (tx, meta) in metas {
            for (position, change) in meta.offers.enumerated() where change.kind != .state {
                let row = OfferRows.Row(
                    offerID: change.offerID, sellerID: change.sellerID, entry: change.kind == .removed ? nil : change.entry,
                    transactionID: tx.id, change: position)
                if let existing = rows.latest[change.offerID], (existing.transactionID, existing.change) > (tx.id, position) { continue }
                rows.latest[change.offerID] = row
            }
        }
    }
}

/// The newest state per offer within a batch, written with a newer-wins upsert.
struct OfferRows {
    struct Row {
        var offerID: Int64
        var sellerID: String
        var entry: OfferEntryChange.Entry?
        var transactionID: Int64
        var change: Int
    }
    var latest: [Int64: Row] = [:]

    func write(_ context: ProjectionContext) async throws {
        guard !latest.isEmpty else { return }
        let json = JSONValue.array(latest.keys.sorted().compactMap { key in
            guard let r = latest[key] else { return nil }
            var o: [String: JSONValue] = [
                "offer_id": .int(r.offerID), "seller_id": .string(r.sellerID), "deleted": .bool(r.entry == nil),
                "updated_by_transaction_id": .int(r.transactionID), "updated_by_change": .int(r.change),
            ]
            if let e = r.entry {
                o["selling"] = .string(e.selling.description)
                o["buying"] = .string(e.buying.description)
                o["amount"] = .int(e.amount)
                o["price_n"] = .int(Int(e.priceN))
                o["price_d"] = .int(Int(e.priceD))
                o["flags"] = .int(Int(e.flags))
                o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
                if let s = e.sponsor { o["sponsor"] = .string(s) }
            }
            return .object(o)
        })
        let table = context.table("offers_current")
        try await context.query("""
            INSERT INTO \(unescaped: table) AS t
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (offer_id) DO UPDATE
               SET seller_id = EXCLUDED.seller_id, selling = EXCLUDED.selling, buying = EXCLUDED.buying, amount = EXCLUDED.amount,
                   price_n = EXCLUDED.price_n, price_d = EXCLUDED.price_d, flags = EXCLUDED.flags, sponsor = EXCLUDED.sponsor,
                   last_modified_ledger = EXCLUDED.last_modified_ledger, deleted = EXCLUDED.deleted,
                   updated_by_transaction_id = EXCLUDED.updated_by_transaction_id, updated_by_change = EXCLUDED.updated_by_change
             WHERE (EXCLUDED.updated_by_transaction_id, EXCLUDED.updated_by_change) >= (t.updated_by_transaction_id, t.updated_by_change)
            """)
    }
}

/// Current liquidity pools from the pool entries in transaction meta, per pool id, by the same
/// newer-wins rule.
enum LiquidityPoolStates {
    static func derive(_ metas: [(transaction: LedgerEventView.TransactionRow, meta: DecodedTransactionMeta)], into rows: inout LiquidityPoolRows) {
        for (tx, meta) in metas {
            for (position, change) in meta.liquidityPools.enumerated() where change.kind != .state {
                let row = LiquidityPoolRows.Row(
                    poolID: change.poolID, entry: change.kind == .removed ? nil : change.entry, transactionID: tx.id, change: position)
                if let existing = rows.latest[change.poolID], (existing.transactionID, existing.change) > (tx.id, position) { continue }
                rows.latest[change.poolID] = row
            }
        }
    }
}

/// The newest state per pool within a batch, written with a newer-wins upsert.
struct LiquidityPoolRows {
    struct Row {
        var poolID: String
        var entry: LiquidityPoolEntryChange.Entry?
        var transactionID: Int64
        var change: Int
    }
    var latest: [String: Row] = [:]

    func write(_ context: ProjectionContext) async throws {
        guard !latest.isEmpty else { return }
        let json = JSONValue.array(latest.keys.sorted().compactMap { key in
            guard let r = latest[key] else { return nil }
            var o: [String: JSONValue] = [
                "pool_id": .string(r.poolID), "deleted": .bool(r.entry == nil),
                "updated_by_transaction_id": .int(r.transactionID), "updated_by_change": .int(r.change),
            ]
            if let e = r.entry {
                o["asset_a"] = .string(e.assetA.description)
                o["asset_b"] = .string(e.assetB.description)
                o["fee_bp"] = .int(Int(e.fee))
                o["reserve_a"] = .int(e.reserveA)
                o["reserve_b"] = .int(e.reserveB)
                o["total_pool_shares"] = .int(e.totalPoolShares)
                o["pool_share_trustline_count"] = .int(e.poolSharesTrustLineCount)
                o["last_modified_ledger"] = .int(Int(e.lastModifiedLedgerSeq))
            }
            return .object(o)
        })
        let table = context.table("liquidity_pools_current")
        try await context.query("""
            INSERT INTO \(unescaped: table) AS t
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (pool_id) DO UPDATE
               SET asset_a = EXCLUDED.asset_a, asset_b = EXCLUDED.asset_b, fee_bp = EXCLUDED.fee_bp, reserve_a = EXCLUDED.reserve_a,
                   reserve_b = EXCLUDED.reserve_b, total_pool_shares = EXCLUDED.total_pool_shares,
                   pool_share_trustline_count = EXCLUDED.pool_share_trustline_count, last_modified_ledger = EXCLUDED.last_modified_ledger,
                   deleted = EXCLUDED.deleted, updated_by_transaction_id = EXCLUDED.updated_by_transaction_id,
                   updated_by_change = EXCLUDED.updated_by_change
             WHERE (EXCLUDED.updated_by_transaction_id, EXCLUDED.updated_by_change) >= (t.updated_by_transaction_id, t.updated_by_change)
            """)
    }
}
