import Foundation
import PostgresNIO
import StrataCore
import StrataProjections

/// Index: transaction hash -> ledger and position; contract id -> ledgers with events (counts by
/// grouping); account -> operations it took part in.
public struct LedgerIndexProjection: Projection {
    public let name = "ledger_index"
    public let topics = [LedgerIngest.topic]
    public let version = 1

    public init() {}

    public func createTables(_ context: ProjectionContext) async throws {
        try await context.execute("""
            CREATE TABLE \(context.table("transactions_by_hash")) (
                transaction_hash text PRIMARY KEY, ledger_sequence bigint NOT NULL, transaction_id bigint NOT NULL,
                application_order int NOT NULL, successful boolean, operation_count int
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("contract_events_by_contract")) (
                contract_id text NOT NULL, ledger_sequence bigint NOT NULL, transaction_hash text NOT NULL, event_index int NOT NULL,
                PRIMARY KEY (contract_id, ledger_sequence, transaction_hash, event_index)
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("operations_by_account")) (
                account_id text NOT NULL, operation_id bigint NOT NULL, ledger_sequence bigint NOT NULL,
                PRIMARY KEY (account_id, operation_id)
            )
            """)
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        // One statement: the payloads are parsed once.
        try await context.query("""
            WITH l AS MATERIALIZED (SELECT p, n FROM jsonb_array_elements(\(LedgerPayloads(events))) WITH ORDINALITY AS l(p, n)),
            w_tx AS (
                INSERT INTO \(unescaped: context.table("transactions_by_hash"))
                SELECT DISTINCT ON (t.transaction_hash) t.transaction_hash, t.ledger_sequence, t.id, ((t.id >> 12) & 1048575)::int,
                       t.successful, t.operation_count
                  FROM l, jsonb_to_recordset(l.p -> 'transactions') AS t(transaction_hash text, ledger_sequence bigint, id bigint,
                                                                      successful boolean, operation_count int)
                 ORDER BY t.transaction_hash, l.n DESC
                ON CONFLICT (transaction_hash) DO UPDATE
                   SET ledger_sequence = EXCLUDED.ledger_sequence, transaction_id = EXCLUDED.transaction_id,
                       application_order = EXCLUDED.application_order, successful = EXCLUDED.successful,
                       operation_count = EXCLUDED.operation_count
            ),
            w_events AS (
                INSERT INTO \(unescaped: context.table("contract_events_by_contract"))
                SELECT DISTINCT e.contract_id, e.ledger_sequence, e.transaction_hash, e.i::int
                  FROM l, LATERAL (SELECT NULLIF(x.value ->> 'contract_id', '') AS contract_id, (x.value ->> 'ledger_sequence')::bigint AS ledger_sequence,
                                          x.value ->> 'transaction_hash' AS transaction_hash,
                                          row_number() OVER (PARTITION BY x.value ->> 'transaction_hash' ORDER BY x.ord) - 1 AS i
                                     FROM jsonb_array_elements(l.p -> 'contract_events') WITH ORDINALITY AS x(value, ord)) e
                 WHERE e.contract_id IS NOT NULL
                ON CONFLICT DO NOTHING
            ),
            -- Participants: the source account and the accounts an operation's details name.
            w_accounts AS (
                INSERT INTO \(unescaped: context.table("operations_by_account"))
                SELECT DISTINCT a.account, o.id, o.ledger_sequence
                  FROM l, jsonb_to_recordset(l.p -> 'operations') AS o(id bigint, ledger_sequence bigint, source_account text, details jsonb),
                       LATERAL (SELECT o.source_account AS account
                                UNION SELECT o.details ->> k FROM unnest(ARRAY['from', 'to', 'funder', 'account', 'into', 'trustor', 'destination']) AS k
                                 WHERE o.details ->> k LIKE 'G%') a
                 WHERE a.account IS NOT NULL
                ON CONFLICT DO NOTHING
            )
            SELECT 1
            """)
    }
}
