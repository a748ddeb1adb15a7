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
