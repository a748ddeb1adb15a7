import Foundation
import PostgresNIO
import StrataCore
import StrataStellarXDR
import StrataProjections

/// Contract invocations and their call graph, from the diagnostic `fn_call` / `fn_return` events:
/// a `fn_call` names the callee (topic 1) and the function (topic 2) and is emitted by the caller;
/// `fn_return` closes the innermost open call. The root is the first call of the transaction, so
/// the graph is the same on every replay (Obsrvr picked a root per run). Transactions without
/// diagnostic events get one root invocation from their `invoke_host_function` operation.
enum CallGraph {
    static func derive(_ ledger: LedgerEventView, into rows: inout InvocationRows) {
        var byTransaction: [String: [JSONValue]] = [:]
        var order: [String] = []
        for e in ledger.contractEvents {
            guard let hash = e["transaction_hash"]?.stringValue else { continue }
            if byTransaction[hash] == nil { order.append(hash) }
            byTransaction[hash, default: []].append(e)
        }
        var covered = Set<String>()
        for hash in order {
            let events = byTransaction[hash]!
            var stack: [Int] = []
            var invocations: [InvocationRows.Row] = []
            for e in events where e["type_string"]?.stringValue == "ContractEventTypeDiagnostic" {
                let topics = e["topics_decoded"]?.arrayValue ?? []
                switch topics.first?["symbol"]?.stringValue {
                case "fn_call":
                    let callee = topics.count > 1 ? contractID(topics[1]) : nil
                    let function = topics.count > 2 ? topics[2]["symbol"]?.stringValue : nil
                    let parent = stack.last
                    let caller = parent.map { invocations[$0].contractID ?? "" } ?? nil
                    invocations.append(InvocationRows.Row(
                        transactionHash: hash, index: invocations.count, ledgerSequence: e["ledger_sequence"]?.int64Value ?? ledger.sequence,
                        contractID: callee, function: function, parentIndex: parent, depth: stack.count, caller: caller,
                        returned: false, successful: e["in_successful_contract_call"]?.boolValue, source: "diagnostic_events"))
                    stack.append(invocations.count - 1)
                case "fn_return":
                    if let open = stack.popLast() { invocations[open].returned = true }
                default:
                    continue
                }
            }
            if !invocations.isEmpty {
                covered.insert(hash)
                rows.rows += invocations
            }
        }
        // No diagnostics: the invoked contract and function from the operation itself.
        let hashes = Dictionary(ledger.transactions.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for op in ledger.operations where op["type_string"]?.stringValue == "invoke_host_function" {
            guard let txID = op["transaction_id"]?.int64Value, let tx = hashes[txID], !covered.contains(tx.hash) else { continue }
            let details = op["details"]
            rows.rows.append(InvocationRows.Row(
                transactionHash: tx.hash, index: 0, ledgerSequence: tx.ledgerSequence, contractID: details?["contract_id"]?.stringValue,
                function: details?["function"]?.stringValue ?? details?["function_name"]?.stringValue, parentIndex: nil, depth: 0,
                caller: nil, returned: tx.successful, successful: tx.successful, source: "operation"))
        }
    }

    /// A callee given as `{"bytes": "<32-byte hex>"}` (a contract id) or `{"address": "C..."}`.
    static func contractID(_ value: JSONValue) -> String? {
        if let address = value["address"]?.stringValue { return address }
        guard let hex = value["bytes"]?.stringValue, hex.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let b = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(b)
            index = next
        }
        return StrKey.encode(.contract, bytes)
    }
}

/// Invocation rows written in one statement.
struct InvocationRows {
    struct Row {
        var transactionHash: String
        var index: Int
        var ledgerSequence: Int64
        var contractID: String?
        var function: String?
        var parentIndex: Int?
        var depth: Int
        var caller: String?
        var returned: Bool
        var successful: Bool?
        var source: String
    }
    var rows: [Row] = []

    func write(_ context: ProjectionContext) async throws {
        guard !rows.isEmpty else { return }
        // The last row for a key wins (a ledger seen again replaces its earlier rows).
        var latest: [String: Row] = [:]
        for r in rows { latest["\(r.transactionHash)/\(r.index)"] = r }
        let json = JSONValue.array(latest.keys.sorted().map { latest[$0]! }.map { r in
            var o: [String: JSONValue] = [
                "transaction_hash": .string(r.transactionHash), "invocation_index": .int(r.index), "ledger_sequence": .int(r.ledgerSequence),
                "depth": .int(r.depth), "returned": .bool(r.returned), "source": .string(r.source),
            ]
            if let v = r.contractID { o["contract_id"] = .string(v) }
            if let v = r.function { o["function"] = .string(v) }
            if let v = r.parentIndex { o["parent_index"] = .int(v) }
            if let v = r.caller { o["caller"] = .string(v) }
            if let v = r.successful { o["successful"] = .bool(v) }
            return .object(o)
        })
        let table = context.table("contract_invocations")
        try await context.query("""
            INSERT INTO \(unescaped: table)
            SELECT * FROM jsonb_populate_recordset(NULL::\(unescaped: table), \(JSONWriter.string(json))::jsonb)
            ON CONFLICT (transaction_hash, invocation_index) DO UPDATE
               SET contract_id = EXCLUDED.contract_id, function = EXCLUDED.function, parent_index = EXCLUDED.parent_index,
                   depth = EXCLUDED.depth, caller = EXCLUDED.caller, returned = EXCLUDED.returned, successful = EXCLUDED.successful,
                   source = EXCLUDED.source
            """)
    }
}
