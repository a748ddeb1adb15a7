import Foundation
import HTTPTypes
import PostgresNIO
import StrataApp
import StrataCore
import StrataLedger
import StrataProjections
import StrataStellarXDR
import StrataTestSupport
import Testing

/// Every ledger projection passes the batch-boundary harness on real mainnet data that arrives in
/// pieces, as `strata ingest ledger` of separate exports delivers it: headers and transactions
/// first, then operations, then effects and trades, then contract events.
@Suite struct LedgerDeterminismTests {
    static var etl: URL { TestEnvironment.sharedData.appendingPathComponent("stellar/etl") }

    static func parts() throws -> [[EventDraft]] {
        let schemas = try TestEnvironment.schemas()
        return try [
            ["10_ledgers.json", "10_ledgers_txs.json"], ["10_ledgers_ops.json"], ["10_ledgers_effects.json", "10_ledgers_trades.json"],
            ["contract_events_52271338-52271350.json"],
        ].map { files in try LedgerIngest(schemas: schemas).read(paths: files.map { etl.appendingPathComponent($0).path }).drafts }
            + [try rawLedgers()]
    }

    /// Raw ledgers for `ledger_meta`: the recorded ones renumbered into a chain.
    static func rawLedgers() throws -> [EventDraft] {
        let lake = try LakeFixture.make(first: 40_000_000, count: 12)
        defer { try? FileManager.default.removeItem(at: lake.root) }
        return try lake.ledgers.map { bytes in
            try LedgerMetaLog.draft(LedgerMetaLog.Ledger(summary: try LedgerCloseMetaSummary.decode(bytes), bytes: bytes[...], origin: "fixture"),
                network: nil, source: "test")
        }
    }

    @Test func ledgerProjectionsAreDeterministicAcrossBatchBoundaries() async throws {
        let outcome = try await DeterminismHarness.check(
            projections: [LedgerBronzeProjection(), LedgerSilverProjection(), LedgerIndexProjection()], parts: try Self.parts(), seeds: [7, 8],
            maxBatch: 4)
        #expect(outcome.tables.contains("ledger_silver.enriched_operations"))
        #expect(outcome.rows["ledger_silver.enriched_operations"] == 2085)
        // 11 exported ledgers and 12 raw ones.
        #expect(outcome.rows["ledger_bronze.ledgers"] == 23)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches)")
    }

    /// The case that broke: operations in a later batch than their ledger's header and transactions.
    @Test func operationsAfterTheirTransactionsAreEnriched() async throws {
        try await TestEnvironment.withStrata { strata in
            let parts = try Self.parts()
            for part in parts.prefix(2) {
                try await strata.producer.append(part)
                try await ProjectionHarness.runUntilCaughtUp(strata, [LedgerSilverProjection()])
            }
            let rows = try await strata.client.query("""
                SELECT count(*)::int, count(transaction_hash)::int, count(fee_charged)::int, count(protocol_version)::int
                  FROM ledger_silver.enriched_operations
                """).decode((Int, Int, Int, Int).self)
            for try await (total, hashes, fees, versions) in rows {
                #expect(total == 2085)
                #expect(hashes == total)
                #expect(fees == total)
                #expect(versions == total)
            }
        }
    }
}

/// Reviewer findings on the ledger domain, pinned.
@Suite struct LedgerIngestEdgeTests {
    /// A stellar-etl `export_assets` file beside the others is recognized and reported as skipped,
    /// not an error that aborts the whole ingest.
    @Test func anAssetsExportIsSkippedAndReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-assets-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: LedgerDeterminismTests.etl.appendingPathComponent("10_ledgers.json"), to: dir.appendingPathComponent("ledgers.json"))
        // The shape of stellar-etl's AssetOutput.
        let asset = #"{"asset_code":"USDC","asset_issuer":"GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN","asset_type":"credit_alphanum4","asset_id":-1,"id":-2,"closed_at":"2024-01-01T00:00:00Z","ledger_sequence":30822015}"#
        try (asset + "\n").write(to: dir.appendingPathComponent("assets.json"), atomically: true, encoding: .utf8)
        let result = try LedgerIngest(schemas: try TestEnvironment.schemas()).read(paths: [dir.path])
        #expect(result.summary.skipped["asset"] == 1)
        #expect(result.summary.ledgers >= 10)
        #expect(!result.drafts.isEmpty)
    }

    /// A ledger whose transactions are in the log but whose header is not: the API says that,
    /// rather than that the ledger is not in the log.
    @Test func aLedgerWithoutItsHeaderIsNamedAsSuch() async throws {
        try await APIHarness.withAPI { strata, client in
            let drafts = try LedgerIngest(schemas: strata.schemas).read(paths: [LedgerDeterminismTests.etl.appendingPathComponent("10_ledgers_txs.json").path]).drafts
            try await strata.producer.append(drafts)
            try await ProjectionHarness.runUntilCaughtUp(strata, [LedgerBronzeProjection()])
            let sequence = try #require(drafts.first?.key)
            let r = try await client.json("/v1/ledgers/\(sequence)")
            #expect(r.status == .notFound)
            #expect(r.json["error"] == "no_header")
            #expect(r.json["message"]?.stringValue?.contains("no header") == true)
            #expect(try await client.json("/v1/ledgers/999999999").json["error"] == "not_found")
        }
    }
}

/// The ledger projections built from a Kafka log (a 3-broker mock cluster) equal those built from
/// the PostgreSQL log on the same inputs, table by table.
@Suite struct LedgerOnKafkaTests {
    @Test func ledgerViewsFromKafkaEqualThoseFromPostgres() async throws {
        let projections: [any Projection] = [LedgerBronzeProjection(), LedgerSilverProjection(), LedgerIndexProjection()]
        let parts = try LedgerDeterminismTests.parts()
        var dumps: [LogBackend: [String: String]] = [:]
        for backend in LogBackend.allCases {
            dumps[backend] = try await backend.withStrata { strata in
                for part in parts { try await strata.producer.append(part) }
                try await ProjectionHarness.runUntilCaughtUp(strata, projections, timeout: .seconds(120))
                return try await DeterminismHarness.dumpAll(strata, projections)
            }
        }
        let pg = dumps[.postgres] ?? [:]
        let kafka = dumps[.kafka] ?? [:]
        #expect(pg["ledger_silver.enriched_operations"].map { $0.count > 1000 } == true)
        #expect(pg.keys.sorted() == kafka.keys.sorted())
        for table in pg.keys.sorted() { #expect(pg[table] == kafka[table], "\(table) differs") }
    }
}
