import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataAPI
import StrataApp
import StrataCore
import StrataLedger
import StrataProjections
import StrataTestSupport
import Testing

/// The ledger pipeline end to end on real mainnet data: ingest, bronze/silver/index, replay, API.
@Suite(.serialized) struct LedgerPipelineTests {
    static var etl: URL { TestEnvironment.sharedData.appendingPathComponent("stellar/etl") }
    static var tenLedgerFiles: [String] {
        ["10_ledgers.json", "10_ledgers_txs.json", "10_ledgers_ops.json", "10_ledgers_effects.json", "10_ledgers_trades.json",
         "contract_events_52271338-52271350.json"].map { etl.appendingPathComponent($0).path }
    }
    static let projections: [any Projection] = [LedgerBronzeProjection(), LedgerSilverProjection(), LedgerIndexProjection()]

    static func jsonLines(_ file: String) throws -> [JSONValue] {
        let text = try String(contentsOf: etl.appendingPathComponent(file), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONParser.parse(String($0)) }
    }

    /// Ingests the files and runs the three ledger projections until caught up.
    static func ingest(_ strata: StrataContext, _ paths: [String]) async throws -> LedgerIngest.Summary {
        let result = try LedgerIngest(schemas: strata.schemas).read(paths: paths)
        try await strata.producer.append(result.drafts)
        try await ProjectionHarness.runUntilCaughtUp(strata, projections, timeout: .seconds(120))
        return result.summary
    }

    static func count(_ client: PostgresClient, _ sql: String) async throws -> [Int64: Int] {
        var result: [Int64: Int] = [:]
        for try await (ledger, n) in try await client.query(PostgresQuery(unsafeSQL: sql)).decode((Int64, Int).self) { result[ledger] = n }
        return result
    }

    @Test func bronzeCountsMatchTheInputAndReplayIsIdentical() async throws {
        try await TestEnvironment.withStrata { strata in
            let summary = try await Self.ingest(strata, Self.tenLedgerFiles + [Self.etl.appendingPathComponent("2024_ledgers.json").path])
            #expect(summary.rows["transaction"] == 650)
            #expect(summary.rows["operation"] == 2085)
            #expect(summary.rows["ledger"] == 11 + 406)
            // Counts per ledger in bronze equal the input files', table by table.
            for (file, table, ledgerField) in [
                ("10_ledgers_txs.json", "transactions", "ledger_sequence"), ("10_ledgers_ops.json", "operations", "ledger_sequence"),
                ("10_ledgers_effects.json", "effects", "ledger_sequence"),
                ("contract_events_52271338-52271350.json", "contract_events", "ledger_sequence"),
            ] {
                var expected: [Int64: Int] = [:]
                for row in try Self.jsonLines(file) { expected[row[ledgerField]!.int64Value!, default: 0] += 1 }
                let actual = try await Self.count(strata.client, "SELECT \(ledgerField), count(*)::int FROM ledger_bronze.\(table) GROUP BY 1")
                #expect(actual == expected, "\(table)")
            }
            var expectedTrades: [Int64: Int] = [:]
            for row in try Self.jsonLines("10_ledgers_trades.json") { expectedTrades[row["history_operation_id"]!.int64Value! >> 32, default: 0] += 1 }
            #expect(try await Self.count(strata.client, "SELECT history_operation_id >> 32, count(*)::int FROM ledger_bronze.trades GROUP BY 1") == expectedTrades)
            let ledgers = try await Self.count(strata.client, "SELECT 0::bigint, count(*)::int FROM ledger_bronze.ledgers")
            #expect(ledgers[0] == 417)
            // Each ledger header's counts agree with its rows (Hubble's transaction_count is the
            // successful ones; failed ones are counted apart).
            let mismatched = try await Self.count(strata.client, """
                SELECT l.sequence, count(t.*)::int FROM ledger_bronze.ledgers l
                  JOIN ledger_bronze.transactions t ON t.ledger_sequence = l.sequence
                 GROUP BY l.sequence, l.successful_transaction_count, l.failed_transaction_count
                HAVING count(t.*) <> l.successful_transaction_count + l.failed_transaction_count
                    OR count(t.*) FILTER (WHERE t.successful) <> l.successful_transaction_count
                """)
            #expect(mismatched.isEmpty)

            // Re-ingesting the same files adds nothing.
            let again = try LedgerIngest(schemas: strata.schemas).read(paths: Self.tenLedgerFiles)
            #expect(try await strata.producer.append(again.drafts).allSatisfy(\.duplicate))

            // Replaying every ledger projection from zero gives identical views.
            let tables = [
                ("ledger_bronze.ledgers", "sequence"), ("ledger_bronze.transactions", "transaction_hash"), ("ledger_bronze.operations", "id"),
                ("ledger_bronze.effects", "id"), ("ledger_bronze.trades", "history_operation_id, \"order\""),
                ("ledger_bronze.contract_events", "transaction_hash, event_index"), ("ledger_silver.enriched_operations", "id"),
                ("ledger_silver.token_transfers", "transaction_hash, event_index"), ("ledger_silver.accounts_current", "account_id"),
                ("ledger_silver.contract_invocations", "transaction_hash, invocation_index"),
                ("ledger_index.transactions_by_hash", "transaction_hash"),
                ("ledger_index.contract_events_by_contract", "contract_id, ledger_sequence, transaction_hash, event_index"),
                ("ledger_index.operations_by_account", "account_id, operation_id"),
            ]
            var before: [String] = []
            for (t, order) in tables { before.append(try await ProjectionHarness.dump(strata.client, t, orderBy: order)) }
            let catalog = GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger)
            for p in Self.projections { _ = try await catalog.startReplay(p) }
            try await ProjectionHarness.runUntilCaughtUp(strata, Self.projections, timeout: .seconds(120))
            for p in Self.projections { #expect(try await catalog.activeGenerations(p.name).map(\.number) == [2]) }
            for (i, (t, order)) in tables.enumerated() {
                #expect(try await ProjectionHarness.dump(strata.client, t, orderBy: order) == before[i], "\(t) differs after replay")
            }
        }
    }

    /// The silver token transfers equal stellar-etl's own export for the 10 ledgers, row for row.
    @Test func tokenTransfersMatchStellarETL() async throws {
        try await TestEnvironment.withStrata { strata in
            _ = try await Self.ingest(strata, Self.tenLedgerFiles)
            let fields = ["amount", "amount_raw", "asset", "asset_code", "asset_issuer", "asset_type", "closed_at", "contract_id",
                          "event_topic", "from", "ledger_sequence", "operation_id", "to", "to_muxed", "to_muxed_id", "transaction_hash",
                          "transaction_id"]
            func normalize(_ row: JSONValue) -> String {
                fields.map { f -> String in
                    let v = row[f] ?? .null
                    switch (f, v) {
                    case (_, .null): return "\(f)=null"
                    case ("amount", _): return "amount=\(v.doubleValue!)"
                    case ("closed_at", .string(let s)): return "closed_at=\(RFC3339.parse(s)!.timeIntervalSince1970)"
                    case (_, .number(let n)): return "\(f)=\(Decimal(string: n)!)"
                    case (_, .string(let s)): return "\(f)=\(s)"
                    default: return "\(f)=\(v)"
                    }
                }.joined(separator: "|")
            }
            let expected = try Self.jsonLines("10_ledgers_token_transfers.json").map(normalize).sorted()
            var actual: [String] = []
            for try await text in try await strata.client.query("""
                SELECT row_to_json(t)::text FROM ledger_silver.token_transfers t WHERE t.ledger_sequence BETWEEN 30822015 AND 30822025
                """).decode(String.self) {
                actual.append(normalize(try JSONParser.parse(text)))
            }
            actual.sort()
            #expect(actual.count == 668)
            #expect(actual == expected)
            if actual != expected {
                let missing = Set(expected).subtracting(actual).sorted().prefix(3)
                let extra = Set(actual).subtracting(expected).sorted().prefix(3)
                Issue.record("missing: \(missing)\nextra: \(extra)")
            }
        }
    }

    @Test func malformedInputNamesFileAndLineAndAppendsNothing() async throws {
        try await TestEnvironment.withStrata { strata in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-bad-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let lines = try String(contentsOf: Self.etl.appendingPathComponent("10_ledgers_txs.json"), encoding: .utf8).split(separator: "\n")
            // Line 3 truncated in the middle.
            var broken = lines.map(String.init)
            broken[2] = String(broken[2].prefix(broken[2].count / 2))
            let file = dir.appendingPathComponent("txs.json")
            try broken.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            do {
                _ = try LedgerIngest(schemas: strata.schemas).read(paths: [file.path])
                Issue.record("accepted a truncated line")
            } catch let error as StrataError {
                #expect(error.location == InputLocation(source: file.path, line: 3))
                #expect(error.code == .malformedJSON)
                #expect(error.message.contains("truncated"))
            }
            // A row with a bad field: the schema names it.
            var bad = lines.map(String.init)
            bad[4] = bad[4].replacingOccurrences(of: "\"successful\":true", with: "\"successful\":\"yes\"")
                .replacingOccurrences(of: "\"successful\":false", with: "\"successful\":\"no\"")
            try bad.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            do {
                _ = try LedgerIngest(schemas: strata.schemas).read(paths: [file.path])
                Issue.record("accepted a bad row")
            } catch let error as StrataError {
                #expect(error.location?.line == 5)
                #expect(error.message.contains("/successful: expected boolean"))
            }
            #expect(try await strata.log.endOffsets(topic: "ledger").reduce(0, +) == 0)
            // The CLI says the same and exits 65.
            let cli = try await CLIRunner.run(["ingest", "ledger", file.path, "--database-url", strata.configuration.databaseURL!])
            #expect(cli.status == 65)
            #expect(cli.stderr.contains("\(file.path):5:"))
        }
    }
}
