import Foundation
import PostgresNIO
import StrataCore
import StrataProjections

/// Silver: enriched operations, current account state, token transfers, contract invocations and
/// their call graph.
public struct LedgerSilverProjection: Projection {
    public let name = "ledger_silver"
    public let topics = [LedgerIngest.topic]
    public let version = 1

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
        try await context.execute("""
            CREATE TABLE \(context.table("accounts_current")) (
                account_id text PRIMARY KEY, balance bigint, sequence bigint, num_subentries int, flags int, home_domain text,
                thresholds text, sponsor text, last_modified_ledger bigint, deleted boolean NOT NULL,
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
        var accounts = AccountRows()
        var invocations = InvocationRows()
        var ledgers: [LedgerEventView] = []
        for event in events {
            let ledger = try LedgerEventView(try event.payloadJSON(), at: event.position)
            ledgers.append(ledger)
            let metas = try ledger.decodedMetas()
            try TokenTransfers.derive(ledger, metas: metas, into: &transfers)
            AccountStates.derive(metas, into: &accounts)
            CallGraph.derive(ledger, into: &invocations)
        }
        try await applyEnrichedOperations(LedgerPayloads(events), ledgers, context)
        try await transfers.write(context)
        try await accounts.write(context)
        try await invocations.write(context)
    }

    private func applyEnrichedOperations(_ payloads: LedgerPayloads, _ ledgers: [LedgerEventView], _ context: ProjectionContext) async throws {
        let table = context.table("enriched_operations")
        try await context.query("""
            INSERT INTO \(unescaped: table) AS e
            SELECT DISTINCT ON (o.id)
                   o.id, o.transaction_id, t.transaction_hash, o.ledger_sequence, (o.id & 4095)::int, o.type, o.type_string,
                   o.source_account, o.details, o.operation_result_code, o.operation_trace_code, o.closed_at,
                   t.successful, t.account, t.fee_charged, t.memo_type, t.memo, (l.p -> 'ledger' ->> 'protocol_version')::int,
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
              LEFT JOIN LATERAL (
                   SELECT * FROM jsonb_to_recordset(l.p -> 'transactions') AS t(transaction_hash text, id bigint, successful boolean,
                       account text, fee_charged bigint, memo_type text, memo text)
                    WHERE t.id = o.transaction_id LIMIT 1) t ON true
             ORDER BY o.id, l.n DESC
            ON CONFLICT (id) DO UPDATE SET
                type = EXCLUDED.type, type_string = EXCLUDED.type_string, source_account = EXCLUDED.source_account,
                details = EXCLUDED.details, operation_result_code = EXCLUDED.operation_result_code,
                operation_trace_code = EXCLUDED.operation_trace_code, closed_at = EXCLUDED.closed_at,
                transaction_hash = coalesce(EXCLUDED.transaction_hash, e.transaction_hash),
                transaction_successful = coalesce(EXCLUDED.transaction_successful, e.transaction_successful),
                transaction_account = coalesce(EXCLUDED.transaction_account, e.transaction_account),
                fee_charged = coalesce(EXCLUDED.fee_charged, e.fee_charged), memo_type = coalesce(EXCLUDED.memo_type, e.memo_type),
                memo = coalesce(EXCLUDED.memo, e.memo), protocol_version = coalesce(EXCLUDED.protocol_version, e.protocol_version),
                is_payment = EXCLUDED.is_payment, is_soroban = EXCLUDED.is_soroban, asset = EXCLUDED.asset,
                amount = EXCLUDED.amount, from_account = EXCLUDED.from_account, to_account = EXCLUDED.to_account
            """)
        // A ledger that arrives in parts: transactions (or the header) after their operations. The
        // values come from Swift (already parsed), and the index on transaction_id keeps it cheap.
        let txs = ledgers.flatMap(\.transactions)
        if !txs.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: table) AS e
                   SET transaction_hash = t.hash, transaction_successful = t.successful, transaction_account = t.account,
                       fee_charged = t.fee, memo_type = t.memo_type, memo = t.memo
                  FROM unnest(\(txs.map(\.id)), \(txs.map(\.hash)), \(txs.map(\.successful)), \(txs.map(\.account)),
                              \(txs.map(\.feeCharged)), \(txs.map(\.memoType)), \(txs.map(\.memo)))
                       AS t(id, hash, successful, account, fee, memo_type, memo)
                 WHERE e.transaction_id = t.id AND e.transaction_hash IS NULL
                """)
        }
        let headers = ledgers.compactMap { l in l.protocolVersion.map { (l.sequence, $0) } }
        if !headers.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: table) AS e SET protocol_version = h.version
                  FROM unnest(\(headers.map(\.0)), \(headers.map(\.1))) AS h(sequence, version)
                 WHERE e.ledger_sequence = h.sequence AND e.protocol_version IS NULL
                """)
        }
    }
}
