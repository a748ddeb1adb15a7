import Foundation
import PostgresNIO
import StrataCore
import StrataStellarXDR
import StrataProjections

/// Bronze: the export's rows, typed, one table per Hubble table, keyed by their natural ids. Rows
/// of a ledger that arrives again (or in parts) replace or complete what is there.
///
/// Raw ledgers (`ledger_meta`, from a data lake or `strata ingest xdr`) give `ledgers` rows too,
/// decoded from their XDR to stellar-etl's fields (`XDRLedgerRow`); their transactions,
/// operations, effects and trades are not decoded yet.
public struct LedgerBronzeProjection: Projection {
    public let name = "ledger_bronze"
    public let topics = [LedgerIngest.topic, LedgerMetaLog.topic]
    /// 2: `ledgers` rows from `ledger_meta` as well.
    public let version = 2

    public init() {}

    static let tables: [(name: String, columns: String, key: String, source: String)] = [
        ("ledgers", """
            sequence bigint, ledger_hash text, previous_ledger_hash text, closed_at timestamptz, protocol_version int,
            transaction_count int, successful_transaction_count int, failed_transaction_count int, operation_count int,
            tx_set_operation_count text, base_fee bigint, base_reserve bigint, max_tx_set_size int, total_coins bigint,
            fee_pool bigint, id bigint, soroban_fee_write_1kb bigint, total_byte_size_of_bucket_list bigint,
            node_id text, signature text, ledger_header text
            """, "sequence", "ledger"),
        ("transactions", """
            transaction_hash text, ledger_sequence bigint, id bigint, account text, account_muxed text, account_sequence bigint,
            max_fee bigint, fee_charged bigint, fee_account text, operation_count int, successful boolean,
            transaction_result_code text, memo_type text, memo text, time_bounds text, ledger_bounds text,
            closed_at timestamptz, created_at timestamptz, inclusion_fee_bid bigint, inclusion_fee_charged bigint,
            resource_fee bigint, resource_fee_refund bigint, non_refundable_resource_fee_charged bigint,
            refundable_resource_fee_charged bigint, rent_fee_charged bigint, soroban_resources_instructions bigint,
            soroban_resources_read_bytes bigint, soroban_resources_write_bytes bigint,
            tx_envelope text, tx_result text, tx_meta text, tx_fee_meta text
            """, "transaction_hash", "transactions"),
        ("operations", """
            id bigint, transaction_id bigint, ledger_sequence bigint, type int, type_string text, source_account text,
            source_account_muxed text, details jsonb, operation_result_code text, operation_trace_code text, closed_at timestamptz
            """, "id", "operations"),
        ("effects", """
            id text, operation_id bigint, ledger_sequence bigint, address text, address_muxed text, type int, type_string text,
            details jsonb, closed_at timestamptz, index int
            """, "id", "effects"),
        ("trades", """
            history_operation_id bigint, "order" int, ledger_closed_at timestamptz, trade_type int,
            selling_account_address text, selling_asset_type text, selling_asset_code text, selling_asset_issuer text,
            selling_amount numeric, selling_offer_id bigint, selling_liquidity_pool_id text,
            buying_account_address text, buying_asset_type text, buying_asset_code text, buying_asset_issuer text,
            buying_amount numeric, buying_offer_id bigint, price_n bigint, price_d bigint, liquidity_pool_fee bigint
            """, "history_operation_id, \"order\"", "trades"),
    ]

    public func createTables(_ context: ProjectionContext) async throws {
        for t in Self.tables {
            try await context.execute("CREATE TABLE \(context.table(t.name)) (\(t.columns), PRIMARY KEY (\(t.key)))")
        }
        // Contract events have no id of their own: (transaction, position in the transaction).
        try await context.execute("""
            CREATE TABLE \(context.table("contract_events")) (
                transaction_hash text, event_index int, ledger_sequence bigint, transaction_id bigint, operation_id bigint,
                contract_id text, type int, type_string text, successful boolean, in_successful_contract_call boolean,
                topics jsonb, topics_decoded jsonb, data text, data_decoded jsonb, contract_event_xdr text, closed_at timestamptz,
                PRIMARY KEY (transaction_hash, event_index)
            )
            """)
        // The base64 XDR columns are large and compress well; lz4 is much cheaper than the default pglz.
        for column in ["tx_envelope", "tx_result", "tx_meta", "tx_fee_meta"] {
            try await context.execute("ALTER TABLE \(context.table("transactions")) ALTER COLUMN \(column) SET COMPRESSION lz4")
        }
        try await context.execute("CREATE INDEX ON \(context.table("transactions")) (ledger_sequence, id)")
        try await context.execute("CREATE INDEX ON \(context.table("operations")) (transaction_id, id)")
        try await context.execute("CREATE INDEX ON \(context.table("operations")) (ledger_sequence)")
        try await context.execute("CREATE INDEX ON \(context.table("effects")) (operation_id)")
        try await context.execute("CREATE INDEX ON \(context.table("contract_events")) (ledger_sequence)")
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        // Raw ledgers become payloads of the export's shape: `{"sequence", "ledger": row}`.
        let events = try events.map { event -> Event in
            guard event.type == LedgerMetaLog.eventType else { return event }
            var converted = event
            converted.payload = try XDRLedgerRow.payload(of: event)
            return converted
        }
        // One statement: the payloads are parsed once and every table is written from them.
        var parts: [String] = []
        for t in Self.tables {
            let columns = Self.columnNames(t.columns)
            let rows = t.source == "ledger"
                ? "LATERAL (SELECT l.p -> 'ledger' AS v, 1::bigint AS k WHERE jsonb_typeof(l.p -> 'ledger') = 'object') AS x"
                : "jsonb_array_elements(l.p -> '\(t.source)') WITH ORDINALITY AS x(v, k)"
            let keys = t.key.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
            let keyColumns = Set(t.key.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let updates = columns.filter { !keyColumns.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
            // Later events for the same row win; within one event, the last occurrence does.
            parts.append("""
                w_\(t.name) AS (
                    INSERT INTO \(context.table(t.name)) (\(columns.joined(separator: ", ")))
                    SELECT DISTINCT ON (\(keys)) \(columns.map { "r." + $0 }.joined(separator: ", "))
                      FROM l, \(rows), jsonb_populate_record(NULL::\(context.table(t.name)), x.v) AS r
                     ORDER BY \(keys), l.n DESC, x.k DESC
                    ON CONFLICT (\(t.key)) DO UPDATE SET \(updates)
                )
                """)
        }
        parts.append("""
            w_contract_events AS (
                INSERT INTO \(context.table("contract_events"))
                      (transaction_hash, event_index, ledger_sequence, transaction_id, operation_id, contract_id, type, type_string,
                       successful, in_successful_contract_call, topics, topics_decoded, data, data_decoded, contract_event_xdr, closed_at)
                SELECT DISTINCT ON (e.value ->> 'transaction_hash', e.i)
                       e.value ->> 'transaction_hash', e.i::int, (e.value ->> 'ledger_sequence')::bigint, (e.value ->> 'transaction_id')::bigint,
                       (e.value ->> 'operation_id')::bigint, NULLIF(e.value ->> 'contract_id', ''), (e.value ->> 'type')::int, e.value ->> 'type_string',
                       (e.value ->> 'successful')::boolean, (e.value ->> 'in_successful_contract_call')::boolean,
                       e.value -> 'topics', e.value -> 'topics_decoded', e.value ->> 'data', e.value -> 'data_decoded',
                       e.value ->> 'contract_event_xdr', (e.value ->> 'closed_at')::timestamptz
                  FROM l, LATERAL (SELECT x.value, row_number() OVER (PARTITION BY x.value ->> 'transaction_hash' ORDER BY x.ord) - 1 AS i
                                     FROM jsonb_array_elements(l.p -> 'contract_events') WITH ORDINALITY AS x(value, ord)) e
                 ORDER BY e.value ->> 'transaction_hash', e.i, l.n DESC
                ON CONFLICT (transaction_hash, event_index) DO UPDATE
                   SET contract_id = EXCLUDED.contract_id, type = EXCLUDED.type, type_string = EXCLUDED.type_string,
                       topics = EXCLUDED.topics, topics_decoded = EXCLUDED.topics_decoded, data = EXCLUDED.data,
                       data_decoded = EXCLUDED.data_decoded, contract_event_xdr = EXCLUDED.contract_event_xdr
            )
            """)
        try await context.query("""
            WITH l AS MATERIALIZED (SELECT p, n FROM jsonb_array_elements(\(LedgerPayloads(events))) WITH ORDINALITY AS l(p, n)),
            \(unescaped: parts.joined(separator: ",\n"))
            SELECT 1
            """)
    }

    static func columnNames(_ definition: String) -> [String] {
        definition.split(separator: ",").map { part in
            let trimmed = part.trimmingCharacters(in: .whitespacesAndNewlines)
            return String(trimmed.split(separator: " ")[0])
        }
    }
}
