import Foundation
import PostgresNIO
import StrataCore
import StrataProjections

/// Silver: enriched operations, current account and trustline state, token transfers, contract
/// invocations and their call graph. Raw ledgers feed the current state only (their operations,
/// token transfers and invocations are not derived from XDR yet).
public struct LedgerSilverProjection: Projection {
    public let name = "ledger_silver"
    public let topics = [LedgerIngest.topic, LedgerMetaLog.topic]
    /// 2: transaction and ledger context kept in tables of its own, so operations that arrive in a
    /// later batch than their transactions are enriched the same as in one batch.
    /// 3: `trustlines_current`, `offers_current`, `liquidity_pools_current`; raw ledgers (`ledger_meta`) update the current account,
    /// trustline, offer and pool state from their transaction metas.
    public let version = 3

    public init() {}

    public func createTables(_ context: ProjectionContext) async throws {
        try await context.execute("""
            CREATE TABLE \(context.table("enriched_operations")) (
                id bigint PRIMARY KEY, transaction_id bigint NOT NULL, transaction_hash text, ledger_sequence bigint NOT NULL,
                application_order int NOT NULL, type int, type_string text, source_account text, details jsonb,
                operation_result_code text, operation_trace_code text, closed_at timestamptz,
                transaction_successful boolean, transaction_account text, fee_charged bigint, memo_type text, memo text,
                protocol_version int, is_payment boolean NOT NULL, is_soroban boolean NOT NULL,
                asset text, amount numeric, from_account text, to_account text
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("enriched_operations")) (transaction_hash, id)")
        try await context.execute("CREATE INDEX ON \(context.table("enriched_operations")) (transaction_id)")
        try await context.execute("CREATE INDEX ON \(context.table("enriched_operations")) (ledger_sequence)")
        // What enrichment needs from a ledger's transactions and header, whichever event (and batch)
        // brought them: the latest event that carried a transaction (or the header) defines it.
        try await context.execute("""
            CREATE TABLE \(context.table("transaction_context")) (
                transaction_id bigint PRIMARY KEY, transaction_hash text NOT NULL, successful boolean NOT NULL, account text NOT NULL,
                fee_charged bigint NOT NULL, memo_type text NOT NULL, memo text NOT NULL
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("ledger_context")) (sequence bigint PRIMARY KEY, protocol_version int NOT NULL)
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("accounts_current")) (
                account_id text PRIMARY KEY, balance bigint, sequence bigint, num_subentries int, flags int, home_domain text,
                thresholds text, sponsor text, last_modified_ledger bigint, deleted boolean NOT NULL,
                updated_by_transaction_id bigint NOT NULL, updated_by_change int NOT NULL
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("trustlines_current")) (
                account_id text NOT NULL, asset text NOT NULL, pool_share boolean NOT NULL, balance bigint, trust_limit bigint,
                flags int, buying_liabilities bigint, selling_liabilities bigint, liquidity_pool_use_count int, sponsor text,
                last_modified_ledger bigint, deleted boolean NOT NULL, updated_by_transaction_id bigint NOT NULL,
                updated_by_change int NOT NULL,
                PRIMARY KEY (account_id, asset)
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("offers_current")) (
                offer_id bigint PRIMARY KEY, seller_id text NOT NULL, selling text, buying text, amount bigint, price_n int, price_d int,
                flags int, sponsor text, last_modified_ledger bigint, deleted boolean NOT NULL,
                updated_by_transaction_id bigint NOT NULL, updated_by_change int NOT NULL
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("offers_current")) (seller_id, offer_id)")
        try await context.execute("""
            CREATE TABLE \(context.table("liquidity_pools_current")) (
                pool_id text PRIMARY KEY, asset_a text, asset_b text, fee_bp int, reserve_a bigint, reserve_b bigint,
                total_pool_shares bigint, pool_share_trustline_count bigint, last_modified_ledger bigint, deleted boolean NOT NULL,
                updated_by_transaction_id bigint NOT NULL, updated_by_change int NOT NULL
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("token_transfers")) (
                transaction_hash text NOT NULL, event_index int NOT NULL, ledger_sequence bigint NOT NULL, transaction_id bigint NOT NULL,
                operation_id bigint, closed_at timestamptz, event_topic text NOT NULL, "from" text, "to" text, to_muxed text,
                to_muxed_id text, asset text, asset_type text, asset_code text, asset_issuer text, amount double precision,
                amount_raw numeric NOT NULL, contract_id text, source text NOT NULL,
                PRIMARY KEY (transaction_hash, event_index)
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("token_transfers")) (\"from\", ledger_sequence)")
        try await context.execute("CREATE INDEX ON \(context.table("token_transfers")) (\"to\", ledger_sequence)")
        try await context.execute("CREATE INDEX ON \(context.table("token_transfers")) (asset, ledger_sequence)")
        try await context.execute("""
            CREATE TABLE \(context.table("contract_invocations")) (
                transaction_hash text NOT NULL, invocation_index int NOT NULL, ledger_sequence bigint NOT NULL,
                contract_id text, function text, parent_index int, depth int NOT NULL, caller text, returned boolean NOT NULL,
                successful boolean, source text NOT NULL,
                PRIMARY KEY (transaction_hash, invocation_index)
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("contract_invocations")) (contract_id, ledger_sequence)")
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        var transfers = TokenTransferRows()
        var state = CurrentState()
        var invocations = InvocationRows()
        var ledgers: [LedgerEventView] = []
        var exported: [Event] = []
        for event in events {
            // Raw ledgers: current account and trustline state from their transaction metas.
            if event.type == LedgerMetaLog.eventType {
                let metas = try LedgerEventView.rawLedgerMetas(event)
                state.derive(metas)
                continue
            }
            exported.append(event)
            let ledger = try LedgerEventView(try event.payloadJSON(), at: event.position)
            ledgers.append(ledger)
            let metas = try ledger.decodedMetas()
            try TokenTransfers.derive(ledger, metas: metas, into: &transfers)
            state.derive(metas)
            CallGraph.derive(ledger, into: &invocations)
        }
        if !exported.isEmpty { try await applyEnrichedOperations(LedgerPayloads(exported), ledgers, context) }
        try await transfers.write(context)
        try await state.write(context)
        try await invocations.write(context)
    }

    /// Enriched operations are a function of three things the log may deliver in separate events
    /// (and so separate batches): the operation, its transaction, and its ledger's header. The
    /// latter two are kept in context tables; each batch first records the context it carries, then
    /// writes its operations joined with the stored context, then refreshes the stored operations
    /// whose context it changed. Whatever the batching, every operation ends up with the latest
    /// context of its transaction and ledger, as one replay gives it.
    private func applyEnrichedOperations(_ payloads: LedgerPayloads, _ ledgers: [LedgerEventView], _ context: ProjectionContext) async throws {
        let table = context.table("enriched_operations")
        let txTable = context.table("transaction_context")
        let ledgerTable = context.table("ledger_context")
        // The batch's context, the latest event's version of each transaction and header.
        var txByID: [Int64: LedgerEventView.TransactionRow] = [:]
        var versions: [Int64: Int] = [:]
        for ledger in ledgers {
            for tx in ledger.transactions { txByID[tx.id] = tx }
            if let v = ledger.protocolVersion { versions[ledger.sequence] = v }
        }
        let txs = txByID.keys.sorted().compactMap { txByID[$0] }
        if !txs.isEmpty {
            try await context.query("""
                INSERT INTO \(unescaped: txTable) AS c (transaction_id, transaction_hash, successful, account, fee_charged, memo_type, memo)
                SELECT * FROM unnest(\(txs.map(\.id)), \(txs.map(\.hash)), \(txs.map(\.successful)), \(txs.map(\.account)),
                                     \(txs.map(\.feeCharged)), \(txs.map(\.memoType)), \(txs.map(\.memo)))
                ON CONFLICT (transaction_id) DO UPDATE SET
                    transaction_hash = EXCLUDED.transaction_hash, successful = EXCLUDED.successful, account = EXCLUDED.account,
                    fee_charged = EXCLUDED.fee_charged, memo_type = EXCLUDED.memo_type, memo = EXCLUDED.memo
                """)
        }
        let sequences = versions.keys.sorted()
        if !sequences.isEmpty {
            try await context.query("""
                INSERT INTO \(unescaped: ledgerTable) AS c (sequence, protocol_version)
                SELECT * FROM unnest(\(sequences), \(sequences.map { versions[$0] ?? 0 }))
                ON CONFLICT (sequence) DO UPDATE SET protocol_version = EXCLUDED.protocol_version
                """)
        }
        try await context.query("""
            INSERT INTO \(unescaped: table) AS e
            SELECT DISTINCT ON (o.id)
                   o.id, o.transaction_id, t.transaction_hash, o.ledger_sequence, (o.id & 4095)::int, o.type, o.type_string,
                   o.source_account, o.details, o.operation_result_code, o.operation_trace_code, o.closed_at,
                   t.successful, t.account, t.fee_charged, t.memo_type, t.memo, h.protocol_version,
                   o.type_string IN ('payment', 'path_payment_strict_receive', 'path_payment_strict_send', 'create_account', 'account_merge'),
                   o.type_string IN ('invoke_host_function', 'extend_footprint_ttl', 'restore_footprint'),
                   CASE WHEN o.type_string IN ('create_account', 'account_merge') THEN 'native'
                        WHEN o.details ->> 'asset_type' = 'native' THEN 'native'
                        WHEN o.details ? 'asset_code' THEN (o.details ->> 'asset_code') || ':' || (o.details ->> 'asset_issuer') END,
                   CASE WHEN o.type_string = 'create_account' THEN (o.details ->> 'starting_balance')::numeric
                        WHEN o.type_string IN ('payment', 'path_payment_strict_receive', 'path_payment_strict_send')
                        THEN (o.details ->> 'amount')::numeric END,
                   CASE WHEN o.type_string = 'create_account' THEN o.details ->> 'funder'
                        WHEN o.type_string = 'account_merge' THEN o.details ->> 'account'
                        ELSE o.details ->> 'from' END,
                   CASE WHEN o.type_string = 'create_account' THEN o.details ->> 'account'
                        WHEN o.type_string = 'account_merge' THEN o.details ->> 'into'
                        ELSE o.details ->> 'to' END
              FROM jsonb_array_elements(\(payloads)) WITH ORDINALITY AS l(p, n),
                   jsonb_to_recordset(l.p -> 'operations') AS o(id bigint, transaction_id bigint, ledger_sequence bigint, type int,
                       type_string text, source_account text, details jsonb, operation_result_code text, operation_trace_code text,
                       closed_at timestamptz)
              LEFT JOIN \(unescaped: txTable) t ON t.transaction_id = o.transaction_id
              LEFT JOIN \(unescaped: ledgerTable) h ON h.sequence = o.ledger_sequence
             ORDER BY o.id, l.n DESC
            ON CONFLICT (id) DO UPDATE SET
                transaction_id = EXCLUDED.transaction_id, transaction_hash = EXCLUDED.transaction_hash,
                ledger_sequence = EXCLUDED.ledger_sequence, application_order = EXCLUDED.application_order,
                type = EXCLUDED.type, type_string = EXCLUDED.type_string, source_account = EXCLUDED.source_account,
                details = EXCLUDED.details, operation_result_code = EXCLUDED.operation_result_code,
                operation_trace_code = EXCLUDED.operation_trace_code, closed_at = EXCLUDED.closed_at,
                transaction_successful = EXCLUDED.transaction_successful, transaction_account = EXCLUDED.transaction_account,
                fee_charged = EXCLUDED.fee_charged, memo_type = EXCLUDED.memo_type, memo = EXCLUDED.memo,
                protocol_version = EXCLUDED.protocol_version, is_payment = EXCLUDED.is_payment, is_soroban = EXCLUDED.is_soroban,
                asset = EXCLUDED.asset, amount = EXCLUDED.amount, from_account = EXCLUDED.from_account, to_account = EXCLUDED.to_account
            """)
        // Operations stored by earlier batches take the context this batch changed.
        if !txs.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: table) AS e
                   SET transaction_hash = t.transaction_hash, transaction_successful = t.successful, transaction_account = t.account,
                       fee_charged = t.fee_charged, memo_type = t.memo_type, memo = t.memo
                  FROM \(unescaped: txTable) t
                 WHERE t.transaction_id = ANY(\(txs.map(\.id))) AND e.transaction_id = t.transaction_id
                   AND (e.transaction_hash, e.transaction_successful, e.transaction_account, e.fee_charged, e.memo_type, e.memo)
                       IS DISTINCT FROM (t.transaction_hash, t.successful, t.account, t.fee_charged, t.memo_type, t.memo)
                """)
        }
        if !sequences.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: table) AS e SET protocol_version = h.protocol_version
                  FROM \(unescaped: ledgerTable) h
                 WHERE h.sequence = ANY(\(sequences)) AND e.ledger_sequence = h.sequence
                   AND e.protocol_version IS DISTINCT FROM h.protocol_version
                """)
        }
    }
}
