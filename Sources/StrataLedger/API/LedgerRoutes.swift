import Foundation
import Logging
import Hummingbird
import PostgresNIO
import StrataAPI
import StrataCore
import StrataStellarXDR

/// Read routes over the ledger views, in the spirit of Obsrvr's query API (see docs/api.md).
public struct LedgerRoutes: APIRoutes {
    public init() {}

    public func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger

        router.get("/v1/ledgers") { request, _ -> Response in
            // A range (?from=A&to=B, either side optional): ledgers A..B oldest first.
            let from = try request.stringQuery("from").map { try LedgerParameters.sequence($0, name: "from") }
            let to = try request.stringQuery("to").map { try LedgerParameters.sequence($0, name: "to") }
            if from != nil || to != nil {
                let low = from ?? 1
                let high = to ?? Int64(UInt32.max)
                guard low <= high else {
                    throw APIError(.badRequest, "bad_range", "from (\(low)) is above to (\(high))")
                }
                let page = try PageRequest(request, scope: "ledger_range")
                let after = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? (low - 1)
                return try await JSONPage.fetch(db, """
                    SELECT row_to_json(l)::text, l.sequence FROM ledger_bronze.ledgers l
                     WHERE l.sequence > \(max(after, low - 1)) AND l.sequence <= \(high) ORDER BY l.sequence LIMIT \(page.limit + 1)
                    """, page: page, scope: "ledger_range", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
            }
            let page = try PageRequest(request, scope: "ledgers")
            let before = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? Int64.max
            return try await JSONPage.fetch(db, """
                SELECT row_to_json(l)::text, l.sequence FROM ledger_bronze.ledgers l
                 WHERE l.sequence < \(before) ORDER BY l.sequence DESC LIMIT \(page.limit + 1)
                """, page: page, scope: "ledgers", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
        }

        router.get("/v1/ledgers/:sequence") { _, context -> Response in
            let sequence = try LedgerParameters.sequence(context.parameters.get("sequence"))
            guard let json = try await JSONPage.one(db, """
                SELECT row_to_json(l)::text FROM ledger_bronze.ledgers l WHERE l.sequence = \(sequence)
                """, logger: logger)
            else {
                // Its transactions or operations may be in the log without its header (the ledgers
                // export was not ingested): say so rather than deny the ledger exists.
                let parts = try await JSONPage.one(db, """
                    SELECT json_build_object('transactions', (SELECT count(*) FROM ledger_bronze.transactions WHERE ledger_sequence = \(sequence)),
                                             'operations', (SELECT count(*) FROM ledger_bronze.operations WHERE ledger_sequence = \(sequence)))::text
                    """, logger: logger).flatMap { try? JSONParser.parse($0) }
                let transactions = parts?["transactions"]?.intValue ?? 0
                let operations = parts?["operations"]?.intValue ?? 0
                if transactions > 0 || operations > 0 {
                    throw APIError(.notFound, "no_header", """
                        ledger \(sequence) has no header in the log: \(transactions) transactions and \(operations) operations of it are, \
                        but no row of a ledgers export (ingest the ledgers file for it)
                        """)
                }
                throw APIError.notFound("ledger \(sequence) is not in the log (or not yet applied)")
            }
            return rawJSONResponse(json)
        }

        // Without ?include=xdr only the small columns are read: the XDR columns are large and
        // compressed, and reading them just to drop them would dominate the lookup.
        let summaryColumns = LedgerBronzeProjection.columnNames(LedgerBronzeProjection.tables[1].columns)
            .filter { !["tx_envelope", "tx_result", "tx_meta", "tx_fee_meta"].contains($0) }
        let summary = "json_build_object(\(summaryColumns.map { "'\($0)', t.\($0)" }.joined(separator: ", ")), 'application_order', i.application_order)"
        let full = "(to_jsonb(t) || jsonb_build_object('application_order', i.application_order))"
        router.get("/v1/transactions/:hash") { request, context -> Response in
            let hash = try LedgerParameters.hash(context.parameters.get("hash"))
            let object = request.stringQuery("include") == "xdr" ? full : summary
            var binds = PostgresBindings()
            binds.append(hash)
            guard let json = try await JSONPage.one(db, PostgresQuery(unsafeSQL: """
                SELECT \(object)::text
                  FROM ledger_index.transactions_by_hash i JOIN ledger_bronze.transactions t USING (transaction_hash)
                 WHERE i.transaction_hash = $1
                """, binds: binds), logger: logger)
            else { throw APIError.notFound("transaction \(hash) is not in the log") }
            return rawJSONResponse(json)
        }

        router.get("/v1/transactions/:hash/operations") { request, context -> Response in
            let hash = try LedgerParameters.hash(context.parameters.get("hash"))
            let page = try PageRequest(request, scope: "tx-ops:\(hash)")
            let after = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? Int64.min
            try await LedgerParameters.requireTransaction(hash, db, logger)
            return try await JSONPage.fetch(db, """
                SELECT row_to_json(o)::text, o.id FROM ledger_silver.enriched_operations o
                 WHERE o.transaction_hash = \(hash) AND o.id > \(after) ORDER BY o.id LIMIT \(page.limit + 1)
                """, page: page, scope: "tx-ops:\(hash)", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
        }

        router.get("/v1/transactions/:hash/call-graph") { _, context -> Response in
            let hash = try LedgerParameters.hash(context.parameters.get("hash"))
            // Contract events can arrive without their transaction rows: the graph is enough.
            let json = try await JSONPage.one(db, """
                SELECT coalesce(json_agg(row_to_json(c) ORDER BY c.invocation_index), '[]')::text
                  FROM ledger_silver.contract_invocations c WHERE c.transaction_hash = \(hash)
                """, logger: logger) ?? "[]"
            if json == "[]" { try await LedgerParameters.requireTransaction(hash, db, logger) }
            return rawJSONResponse(#"{"transaction_hash":"\#(hash)","invocations":\#(json)}"#)
        }

        router.get("/v1/accounts/:account") { _, context -> Response in
            let account = try LedgerParameters.account(context.parameters.get("account"))
            guard let json = try await JSONPage.one(db, """
                SELECT row_to_json(a)::text FROM ledger_silver.accounts_current a WHERE a.account_id = \(account)
                """, logger: logger)
            else { throw APIError.notFound("account \(account) has no state in the ingested ledgers") }
            return rawJSONResponse(json)
        }

        router.get("/v1/accounts/:account/trustlines") { request, context -> Response in
            let account = try LedgerParameters.account(context.parameters.get("account"))
            let page = try PageRequest(request, scope: "acct-tl:\(account)")
            let after = try page.after.map { try LedgerParameters.string($0.first, "cursor") } ?? ""
            return try await JSONPage.fetch(db, """
                SELECT row_to_json(t)::text, t.asset
                  FROM ledger_silver.trustlines_current t
                 WHERE t.account_id = \(account) AND NOT t.deleted AND t.asset > \(after)
                 ORDER BY t.asset LIMIT \(page.limit + 1)
                """, page: page, scope: "acct-tl:\(account)", logger: logger) { [.string(try $0[1].decode(String.self))] }.response()
        }

        router.get("/v1/accounts/:account/offers") { request, context -> Response in
            let account = try LedgerParameters.account(context.parameters.get("account"))
            let page = try PageRequest(request, scope: "acct-offers:\(account)")
            let after = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? Int64.min
            return try await JSONPage.fetch(db, """
                SELECT row_to_json(o)::text, o.offer_id
                  FROM ledger_silver.offers_current o
                 WHERE o.seller_id = \(account) AND NOT o.deleted AND o.offer_id > \(after)
                 ORDER BY o.offer_id LIMIT \(page.limit + 1)
                """, page: page, scope: "acct-offers:\(account)", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
        }

        router.get("/v1/liquidity-pools/:pool") { _, context -> Response in
            let pool = try LedgerParameters.pool(context.parameters.get("pool"))
            guard let json = try await JSONPage.one(db, """
                SELECT row_to_json(p)::text FROM ledger_silver.liquidity_pools_current p WHERE p.pool_id = \(pool)
                """, logger: logger)
            else { throw APIError.notFound("liquidity pool \(pool) has no state in the ingested ledgers") }
            return rawJSONResponse(json)
        }

        router.get("/v1/accounts/:account/operations") { request, context -> Response in
            let account = try LedgerParameters.account(context.parameters.get("account"))
            let page = try PageRequest(request, scope: "acct-ops:\(account)")
            let before = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? Int64.max
            return try await JSONPage.fetch(db, """
                SELECT row_to_json(o)::text, o.id
                  FROM ledger_index.operations_by_account x JOIN ledger_silver.enriched_operations o ON o.id = x.operation_id
                 WHERE x.account_id = \(account) AND x.operation_id < \(before)
                 ORDER BY x.operation_id DESC LIMIT \(page.limit + 1)
                """, page: page, scope: "acct-ops:\(account)", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
        }

        router.get("/v1/accounts/:account/token-transfers") { request, context -> Response in
            let account = try LedgerParameters.account(context.parameters.get("account"))
            return try await transfers(request, scope: "acct-tt:\(account)", filter: #"(t."from" = $4 OR t."to" = $4)"#, value: account,
                db: db, logger: logger)
        }

        router.get("/v1/assets/:asset/token-transfers") { request, context -> Response in
            let asset = try LedgerParameters.asset(context.parameters.get("asset"))
            return try await transfers(request, scope: "asset-tt:\(asset)", filter: "t.asset = $4", value: asset, db: db, logger: logger)
        }

        router.get("/v1/contracts/:contract/events") { request, context -> Response in
            let contract = try LedgerParameters.contract(context.parameters.get("contract"))
            let page = try PageRequest(request, scope: "contract-ev:\(contract)")
            let (ledger, hash, index) = try LedgerParameters.eventCursor(page.after)
            return try await JSONPage.fetch(db, """
                SELECT (to_jsonb(e) - 'contract_event_xdr')::text, e.ledger_sequence, e.transaction_hash, e.event_index
                  FROM ledger_index.contract_events_by_contract x
                  JOIN ledger_bronze.contract_events e USING (transaction_hash, event_index)
                 WHERE x.contract_id = \(contract)
                   AND (x.ledger_sequence, x.transaction_hash, x.event_index) < (\(ledger), \(hash), \(index))
                 ORDER BY x.ledger_sequence DESC, x.transaction_hash DESC, x.event_index DESC LIMIT \(page.limit + 1)
                """, page: page, scope: "contract-ev:\(contract)", logger: logger) {
                [.int(try $0[1].decode(Int64.self)), .string(try $0[2].decode(String.self)), .int(try $0[3].decode(Int.self))]
            }.response()
        }

        router.get("/v1/contracts/:contract/ledgers") { request, context -> Response in
            let contract = try LedgerParameters.contract(context.parameters.get("contract"))
            let page = try PageRequest(request, scope: "contract-ledgers:\(contract)")
            let before = try page.after.map { try LedgerParameters.int64($0.first, "cursor") } ?? Int64.max
            return try await JSONPage.fetch(db, """
                SELECT json_build_object('ledger_sequence', x.ledger_sequence, 'events', count(*))::text, x.ledger_sequence
                  FROM ledger_index.contract_events_by_contract x
                 WHERE x.contract_id = \(contract) AND x.ledger_sequence < \(before)
                 GROUP BY x.ledger_sequence ORDER BY x.ledger_sequence DESC LIMIT \(page.limit + 1)
                """, page: page, scope: "contract-ledgers:\(contract)", logger: logger) { [.int(try $0[1].decode(Int64.self))] }.response()
        }
    }

    /// Token transfers, newest first, for a filter (constant SQL) on `value`, bound as `$4`.
    func transfers(_ request: Request, scope: String, filter: String, value: String, db: PostgresClient, logger: Logger) async throws -> Response {
        let page = try PageRequest(request, scope: scope)
        let (ledger, hash, index) = try LedgerParameters.eventCursor(page.after)
        return try await JSONPage.fetch(db, PostgresQuery(unsafeSQL: """
            SELECT row_to_json(t)::text, t.ledger_sequence, t.transaction_hash, t.event_index
              FROM ledger_silver.token_transfers t
             WHERE \(filter) AND (t.ledger_sequence, t.transaction_hash, t.event_index) < ($1, $2, $3)
             ORDER BY t.ledger_sequence DESC, t.transaction_hash DESC, t.event_index DESC LIMIT \(page.limit + 1)
            """, binds: {
                var b = PostgresBindings()
                b.append(ledger)
                b.append(hash)
                b.append(index)
                b.append(value)
                return b
            }()), page: page, scope: scope, logger: logger) {
            [.int(try $0[1].decode(Int64.self)), .string(try $0[2].decode(String.self)), .int(try $0[3].decode(Int.self))]
        }.response()
    }
}

/// Validation of path parameters and cursor values: a bad one is a 400 that says what is wrong.
enum LedgerParameters {
    static func sequence(_ text: String?, name: String? = nil) throws -> Int64 {
        guard let text, let n = Int64(text), n > 0, n <= Int64(UInt32.max) else {
            throw APIError.badRequest("\(name.map { "\($0): " } ?? "")ledger sequence must be an integer from 1 to \(UInt32.max), got '\(text ?? "")'")
        }
        return n
    }

    static func hash(_ text: String?) throws -> String {
        try hex64(text, code: "bad_hash", what: "a transaction hash")
    }

    static func pool(_ text: String?) throws -> String {
        try hex64(text, code: "bad_pool", what: "a liquidity pool id")
    }

    /// A 32-byte id in hex, lower-cased.
    static func hex64(_ text: String?, code: String, what: String) throws -> String {
        let lower = (text ?? "").lowercased()
        guard lower.count == 64, lower.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
            throw APIError(.badRequest, code, "\(what) is 64 hexadecimal characters, got '\(text ?? "")'")
        }
        return lower
    }

    static func account(_ text: String?) throws -> String {
        let value = text ?? ""
        guard value.hasPrefix("G"), (try? StrKey.decode(value)) != nil else {
            throw APIError(.badRequest, "bad_account", "'\(value)' is not a valid Stellar account id (G..., 56 characters, valid checksum)")
        }
        return value
    }

    static func contract(_ text: String?) throws -> String {
        let value = text ?? ""
        guard value.hasPrefix("C"), (try? StrKey.decode(value)) != nil else {
            throw APIError(.badRequest, "bad_contract", "'\(value)' is not a valid contract id (C..., 56 characters, valid checksum)")
        }
        return value
    }

    /// `native`, `CODE:ISSUER`, or `credit_alphanum4:CODE:ISSUER` -> the token_transfers.asset form.
    static func asset(_ text: String?) throws -> String {
        let value = (text ?? "").removingPercentEncoding ?? (text ?? "")
        if value == "native" || value == "XLM" { return "native" }
        var parts = value.split(separator: ":").map(String.init)
        if parts.count == 3, parts[0].hasPrefix("credit_alphanum") { parts.removeFirst() }
        guard parts.count == 2, (1...12).contains(parts[0].count), parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
            parts[1].hasPrefix("G"), (try? StrKey.decode(parts[1])) != nil
        else {
            throw APIError(.badRequest, "bad_asset", "asset must be 'native' or CODE:ISSUER (e.g. USDC:GA5Z...), got '\(value)'")
        }
        return "\(parts[0].count <= 4 ? "credit_alphanum4" : "credit_alphanum12"):\(parts[0]):\(parts[1])"
    }

    static func string(_ value: JSONValue?, _ what: String) throws -> String {
        guard let text = value?.stringValue else { throw APIError(.badRequest, "bad_cursor", "the \(what) is malformed") }
        return text
    }

    static func int64(_ value: JSONValue?, _ what: String) throws -> Int64 {
        guard let n = value?.int64Value else { throw APIError(.badRequest, "bad_cursor", "the \(what) is malformed") }
        return n
    }

    /// (ledger, hash, index) of the last row, or the largest key when there is no cursor.
    static func eventCursor(_ after: [JSONValue]?) throws -> (Int64, String, Int) {
        guard let after else { return (Int64.max, "~", Int(Int32.max)) }
        guard after.count == 3, let l = after[0].int64Value, let h = after[1].stringValue, let i = after[2].intValue else {
            throw APIError(.badRequest, "bad_cursor", "the cursor is malformed")
        }
        return (l, h, i)
    }

    static func requireTransaction(_ hash: String, _ db: PostgresClient, _ logger: Logger) async throws {
        let rows = try await db.query("SELECT 1 FROM ledger_index.transactions_by_hash WHERE transaction_hash = \(hash)", logger: logger)
        for try await _ in rows { return }
        throw APIError.notFound("transaction \(hash) is not in the log")
    }
}
