import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataAPI
import StrataApp
import StrataCore
import StrataLedger
import StrataTestSupport
import Testing

/// Every ledger route, including bad hashes, unknown accounts, bad cursors and limits.
@Suite(.serialized) struct LedgerAPITests {
    static let tx = "c248fdf6658ece8428055f2e796b19090743bf2d85719ff6ef6c495412b79faf"
    static let sorobanTx = "ea577c659d30f2f7bc274180739153241be71e1e77835936c079688d23c9af54"
    static let account = "GDIO6DX3BFWC5RZSGT76KYOBHLBYR5AVV5FB65V5Z7Q4SBO5KKOMJ62W"
    static let contract = "CB5OTV4GV24T5USEZHFVYGC3F4A4MPUQ3LN56E76UK2IT7MJ6QXW4TFS"
    static let unknownAccount = "GA3K2B4RB3O3H7LEE2NJ3IWPZ7JJNUFOZC2NSOCMOVIJSQSXBJAKHXSN"

    func withLedgerAPI(_ body: @Sendable (StrataContext, any TestClientProtocol) async throws -> Void) async throws {
        try await APIHarness.withAPI { strata, client in
            _ = try await LedgerPipelineTests.ingest(strata, LedgerPipelineTests.tenLedgerFiles)
            try await body(strata, client)
        }
    }

    /// The rows of one of stellar-etl's exports of the 10 ledgers.
    static func etlRows(_ name: String) throws -> [JSONValue] {
        try String(contentsOf: LedgerDeterminismTests.etl.appendingPathComponent(name), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map { try JSONParser.parse(String($0)) }
    }

    /// Whether each transaction of the 10 ledgers succeeded, by id.
    static func successfulTransactions() throws -> [Int64: Bool] {
        var successful: [Int64: Bool] = [:]
        for tx in try etlRows("10_ledgers_txs.json") {
            if let id = tx["id"]?.int64Value, let ok = tx["successful"]?.boolValue { successful[id] = ok }
        }
        return successful
    }

    /// Follows cursors to the end; returns every row.
    func all(_ client: any TestClientProtocol, _ uri: String, limit: Int) async throws -> [JSONValue] {
        var rows: [JSONValue] = []
        var cursor: String?
        repeat {
            let sep = uri.contains("?") ? "&" : "?"
            let page = try await client.json(uri + sep + "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == .ok, "\(uri): \(page.json)")
            rows += page.json["data"]?.arrayValue ?? []
            cursor = page.json["cursor"]?.stringValue
            #expect((page.json["has_more"] == .bool(true)) == (cursor != nil))
        } while cursor != nil
        return rows
    }

    /// Current trustlines from transaction meta, against stellar-etl's own rows: after the last
    /// successful allow_trust of each (trustor, asset), the trustline's AUTHORIZED flag is what that
    /// operation set; and the route pages through an account's trustlines.
    @Test func trustlinesFollowAllowTrust() async throws {
        try await withLedgerAPI { strata, client in
            let successful = try Self.successfulTransactions()
            var expected: [String: (id: Int64, authorized: Bool)] = [:]
            for op in try Self.etlRows("10_ledgers_ops.json") where op["type"]?.intValue == 7 {
                guard let tx = op["transaction_id"]?.int64Value, successful[tx] == true else { continue }
                let d = try #require(op["details"])
                let trustor = try #require(d["trustor"]?.stringValue)
                let code = try #require(d["asset_code"]?.stringValue)
                let issuer = try #require(d["asset_issuer"]?.stringValue)
                let id = try #require(op["id"]?.int64Value)
                let key = "\(trustor) \(code):\(issuer)"
                if expected[key].map({ $0.id < id }) ?? true { expected[key] = (id, d["authorize"]?.boolValue == true) }
            }
            #expect(expected.count >= 10)
            for (key, value) in expected {
                let parts = key.split(separator: " ").map(String.init)
                let trustlines = try await all(client, "/v1/accounts/\(parts[0])/trustlines", limit: 2)
                let row = trustlines.first { $0["asset"]?.stringValue == parts[1] }
                let flags = row?["flags"]?.intValue
                #expect(flags.map { $0 & 1 == 1 } == value.authorized, "\(key): \(String(describing: row))")
                #expect(row?["deleted"] == .bool(false))
            }
            #expect(try await client.json("/v1/accounts/not-an-account/trustlines").status == .badRequest)
            #expect(try await client.json("/v1/accounts/\(Self.unknownAccount)/trustlines").status == .badRequest, "a bad checksum")
        }
    }

    /// Current offers from transaction meta, against stellar-etl's operation rows: every offer a
    /// successful manage-offer operation cancelled (its id, amount 0) is deleted, and a seller's live
    /// offers page through the route.
    @Test func offersFollowTheirOperations() async throws {
        try await withLedgerAPI { strata, client in
            let successful = try Self.successfulTransactions()
            var cancelled: Set<Int64> = []
            for op in try Self.etlRows("10_ledgers_ops.json") where [3, 12].contains(op["type"]?.intValue ?? -1) {
                guard let tx = op["transaction_id"]?.int64Value, successful[tx] == true, let d = op["details"],
                    let id = d["offer_id"]?.int64Value, id != 0, d["amount"]?.doubleValue == 0
                else { continue }
                cancelled.insert(id)
            }
            #expect(cancelled.count > 100)
            var deleted: Set<Int64> = []
            var live: [(Int64, String)] = []
            for try await (id, seller, isDeleted) in try await strata.client.query(
                "SELECT offer_id, seller_id, deleted FROM ledger_silver.offers_current"
            ).decode((Int64, String, Bool).self) {
                if isDeleted { deleted.insert(id) } else { live.append((id, seller)) }
            }
            #expect(cancelled.isSubset(of: deleted), "\(cancelled.subtracting(deleted).count) cancelled offers not deleted")
            let (_, seller) = try #require(live.first)
            let offers = try await all(client, "/v1/accounts/\(seller)/offers", limit: 3)
            let expected = live.filter { $0.1 == seller }.map(\.0).sorted()
            #expect(offers.compactMap { $0["offer_id"]?.int64Value } == expected)
            #expect(offers.allSatisfy { ($0["amount"]?.int64Value ?? 0) > 0 && ($0["price_d"]?.intValue ?? 0) > 0 })
        }
    }

    @Test func ledgersAndTransactions() async throws {
        try await withLedgerAPI { strata, client in
            let ledger = try await client.json("/v1/ledgers/30822015")
            #expect(ledger.status == .ok)
            #expect(ledger.json["ledger_hash"] == "a6b49d468a1ed1a9e40aa9f66e512b188b14800a4f012f6223970c89f35244d1")
            #expect(try await client.json("/v1/ledgers/1").status == .notFound)
            #expect(try await client.json("/v1/ledgers/abc").json["error"] == "bad_request")
            #expect(try await client.json("/v1/ledgers/-5").status == .badRequest)

            let recent = try await client.json("/v1/ledgers?limit=3")
            #expect(recent.json["data"]?.arrayValue?.compactMap { $0["sequence"]?.int64Value } == [30822025, 30822024, 30822023])
            let paged = try await all(client, "/v1/ledgers", limit: 4)
            #expect(paged.compactMap { $0["sequence"]?.int64Value } == (30822015...30822025).reversed().map { Int64($0) })
            // Ranges: oldest first, bounds inclusive, paged; a bad bound is 400 naming it.
            let range = try await all(client, "/v1/ledgers?from=30822017&to=30822023", limit: 3)
            #expect(range.compactMap { $0["sequence"]?.int64Value } == (30822017...30822023).map { Int64($0) })
            let tail = try await client.json("/v1/ledgers?from=30822024")
            #expect(tail.json["data"]?.arrayValue?.compactMap { $0["sequence"]?.int64Value } == [30822024, 30822025])
            let head = try await client.json("/v1/ledgers?to=30822016")
            #expect(head.json["data"]?.arrayValue?.compactMap { $0["sequence"]?.int64Value } == [30822015, 30822016])
            let inverted = try await client.json("/v1/ledgers?from=30822020&to=30822019")
            #expect(inverted.status == .badRequest && inverted.json["error"] == "bad_range")
            let badFrom = try await client.json("/v1/ledgers?from=0")
            #expect(badFrom.status == .badRequest && (badFrom.json["message"]?.stringValue ?? "").contains("from"), "\(badFrom.json)")
            #expect(try await client.json("/v1/ledgers?to=x").status == .badRequest)
            // A cursor of the newest-first listing is not a range cursor.
            let newest = try #require(try await client.json("/v1/ledgers?limit=1").json["cursor"]?.stringValue)
            #expect(try await client.json("/v1/ledgers?from=1&cursor=\(newest)").json["error"] == "bad_cursor")
            #expect(try await client.json("/v1/ledgers?limit=0").status == .badRequest)
            #expect(try await client.json("/v1/ledgers?limit=1001").status == .badRequest)
            #expect(try await client.json("/v1/ledgers?limit=ten").status == .badRequest)
            let badCursor = try await client.json("/v1/ledgers?cursor=not-a-cursor")
            #expect(badCursor.status == .badRequest)
            #expect(badCursor.json["error"] == "bad_cursor")
            // A cursor from another listing is refused too.
            let other = try await client.json("/v1/accounts/\(Self.account)/operations?limit=1")
            let foreign = try #require(other.json["cursor"]?.stringValue)
            #expect(try await client.json("/v1/ledgers?cursor=\(foreign)").status == .badRequest)

            let tx = try await client.json("/v1/transactions/\(Self.tx)")
            #expect(tx.status == .ok)
            #expect(tx.json["ledger_sequence"] == .int(30822020))
            #expect(tx.json["operation_count"] == .int(3))
            #expect(tx.json["tx_meta"] == nil)
            #expect(try await client.json("/v1/transactions/\(Self.tx)?include=xdr").json["tx_meta"] != nil)
            #expect(try await client.json("/v1/transactions/\(Self.tx.uppercased())").status == .ok)
            let badHash = try await client.json("/v1/transactions/xyz")
            #expect(badHash.status == .badRequest)
            #expect(badHash.json["error"] == "bad_hash")
            #expect(try await client.json("/v1/transactions/\(String(repeating: "0", count: 64))").status == .notFound)

            let ops = try await all(client, "/v1/transactions/\(Self.tx)/operations", limit: 2)
            #expect(ops.count == 3)
            #expect(ops.allSatisfy { $0["transaction_hash"] == .string(Self.tx) })
            #expect(try await client.json("/v1/transactions/\(String(repeating: "a", count: 64))/operations").status == .notFound)
        }
    }

    @Test func accountsTransfersAndContracts() async throws {
        try await withLedgerAPI { strata, client in
            let state = try await client.json("/v1/accounts/\(Self.account)")
            #expect(state.status == .ok)
            #expect(state.json["balance"]?.int64Value != nil)
            #expect(state.json["deleted"] == .bool(false))
            let unknown = try await client.json("/v1/accounts/\(Self.unknownAccount)")
            #expect(unknown.status == .badRequest || unknown.status == .notFound)
            let badChecksum = try await client.json("/v1/accounts/GDIO6DX3BFWC5RZSGT76KYOBHLBYR5AVV5FB65V5Z7Q4SBO5KKOMJ62X")
            #expect(badChecksum.status == .badRequest)
            #expect(badChecksum.json["error"] == "bad_account")
            #expect(try await client.json("/v1/accounts/GA3K2B4RB3O3H7LEE2NJ3IWPZ7JJNUFOZC2NSOCMOVIJSQSXBJAKHXSM").status == .ok)
            #expect(try await client.json("/v1/accounts/nope/operations").status == .badRequest)

            let accountOps = try await all(client, "/v1/accounts/\(Self.account)/operations", limit: 1)
            #expect(!accountOps.isEmpty)
            let ids = accountOps.compactMap { $0["id"]?.int64Value }
            #expect(ids == ids.sorted(by: >))

            let transfers = try await all(client, "/v1/accounts/\(Self.account)/token-transfers", limit: 2)
            var expectedForAccount = 0
            for try await n in try await strata.client.query("""
                SELECT count(*)::int FROM ledger_silver.token_transfers WHERE "from" = \(Self.account) OR "to" = \(Self.account)
                """).decode(Int.self) { expectedForAccount = n }
            #expect(transfers.count == expectedForAccount)
            // Its path payment: 7 transfers (one from and to itself), plus a fee for each of its transactions.
            #expect(transfers.filter { $0["event_topic"] == "transfer" }.count == 7)
            let native = try await all(client, "/v1/assets/native/token-transfers", limit: 100)
            var expectedNative = 0
            for try await n in try await strata.client.query("SELECT count(*)::int FROM ledger_silver.token_transfers WHERE asset = 'native'").decode(Int.self) {
                expectedNative = n
            }
            #expect(native.count == expectedNative)
            let usd = try await client.json("/v1/assets/USD:GDUKMGUGDZQK6YHYA5Z6AY2G4XDSZPSZ3SW5UN3ARVMO6QSRDWP5YLEX/token-transfers")
            #expect(usd.json["data"]?.arrayValue?.count == 2)
            #expect(try await client.json("/v1/assets/USD:nope/token-transfers").json["error"] == "bad_asset")

            let events = try await all(client, "/v1/contracts/\(Self.contract)/events", limit: 5)
            #expect(!events.isEmpty)
            #expect(events.allSatisfy { $0["contract_id"] == .string(Self.contract) })
            let ledgers = try await client.json("/v1/contracts/\(Self.contract)/ledgers")
            let counts = ledgers.json["data"]?.arrayValue?.compactMap { $0["events"]?.intValue } ?? []
            #expect(counts.reduce(0, +) == events.count)
            #expect(try await client.json("/v1/contracts/GDIO6DX3BFWC5RZSGT76KYOBHLBYR5AVV5FB65V5Z7Q4SBO5KKOMJ62W/events").json["error"] == "bad_contract")

            let graph = try await client.json("/v1/transactions/\(Self.sorobanTx)/call-graph")
            #expect(graph.status == .ok)
            let invocations = try #require(graph.json["invocations"]?.arrayValue)
            #expect(invocations.first?["depth"] == .int(0))
            #expect(invocations.first?["parent_index"] == .null)
            #expect(invocations.first?["contract_id"] == .string(Self.contract))
            #expect(invocations.first?["function"] == "set_records")
            #expect(try await client.json("/v1/transactions/\(String(repeating: "b", count: 64))/call-graph").status == .notFound)
        }
    }
}
