import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataLedger
import StrataPostgres
import StrataProjections

/// End-to-end ledger throughput: the 10-ledger mainnet set and the 406-ledger file, ingested
/// repeatedly (each round shifted to new ledger sequences, ids and hashes so every round is new
/// data) until the target number of operations, while the bronze, silver and index projections
/// run; timed until all three have caught up.
public struct LedgerBenchmark: Sendable {
    public var files: [String]
    public var targetOperations: Int
    public var batchLedgers: Int

    public init(files: [String], targetOperations: Int = 1_000_000, batchLedgers: Int = 50) {
        self.files = files
        self.targetOperations = targetOperations
        self.batchLedgers = batchLedgers
    }

    public struct Report: Sendable {
        public var rounds: Int
        public var ledgers: Int
        public var operations: Int
        public var transactions: Int
        public var parseLedgersPerSecond: Double
        public var seconds: Double
        public var appendSeconds: Double

        public var markdown: String {
            """
            | measurement | result |
            |---|---|
            | input | \(rounds) rounds of the 10-ledger set + 406-ledger file: \(grouped(Double(ledgers))) ledgers, \(grouped(Double(transactions))) transactions, \(grouped(Double(operations))) operations |
            | parse + validate the export files (one round) | \(grouped(parseLedgersPerSecond)) ledgers/s |
            | end to end: append + bronze + silver + index caught up | \(String(format: "%.1f", seconds)) s: **\(grouped(Double(ledgers) / seconds)) ledgers/s, \(grouped(Double(operations) / seconds)) operations/s** |
            | append alone (while projecting) | \(String(format: "%.1f", appendSeconds)) s: \(grouped(Double(ledgers) / appendSeconds)) ledgers/s |
            """
        }
    }

    public func run(log: PostgresEventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        let clock = ContinuousClock()
        var started = clock.now
        let base = try LedgerIngest(schemas: producer.schemas).read(paths: files)
        let parse = clock.now - started
        let opsPerRound = max(1, base.summary.operations)
        let rounds = (targetOperations + opsPerRound - 1) / opsPerRound
        let payloads = base.drafts.map(\.payload)
        progress("\(base.drafts.count) ledgers, \(opsPerRound) operations per round; \(rounds) rounds")

        let projections: [any Projection] = [LedgerBronzeProjection(), LedgerSilverProjection(), LedgerIndexProjection()]
        var settings = WorkerSettings(workerID: "bench-ledger")
        settings.heartbeat = .milliseconds(500)
        settings.idleWait = .milliseconds(500)
        let worker = ProjectionWorker(projections: projections, log: log, client: client, settings: settings, logger: logger)
        let monitor = LagMonitor(client: client, log: log, logger: logger)
        var appendTime = Duration.zero
        var transactions = 0
        started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await log.run() }
            group.addTask { try await worker.run() }
            let appendStart = clock.now
            var batch: [EventDraft] = []
            for round in 0..<rounds {
                for payload in payloads {
                    let shifted = Self.shift(payload, round: round)
                    transactions += shifted["transactions"]?.arrayValue?.count ?? 0
                    batch.append(EventDraft(topic: LedgerIngest.topic, key: String(shifted["sequence"]!.int64Value!), type: LedgerIngest.eventType,
                        source: "bench", payload: shifted))
                    if batch.count == batchLedgers {
                        try await producer.append(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if round % 20 == 0 { progress("  appended round \(round + 1)/\(rounds)") }
            }
            if !batch.isEmpty { try await producer.append(batch) }
            appendTime = clock.now - appendStart
            progress("appended; waiting for the projections to catch up...")
            while true {
                let rows = try await monitor.measure()
                let lag = rows.filter { projections.map(\.name).contains($0.projection) }.map(\.events).reduce(0, +)
                if lag == 0 && !rows.isEmpty { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            group.cancelAll()
        }
        let total = clock.now - started
        return Report(
            rounds: rounds, ledgers: rounds * payloads.count, operations: rounds * opsPerRound, transactions: transactions,
            parseLedgersPerSecond: Double(payloads.count) / parse.seconds, seconds: total.seconds, appendSeconds: appendTime.seconds)
    }

    /// The same ledger moved to `round * 1000` sequences later, with ids and hashes to match.
    static func shift(_ payload: JSONValue, round: Int) -> JSONValue {
        guard round > 0 else { return payload }
        let offset = Int64(round) * 1000
        let toid = offset << 32
        let prefix = String(format: "%08x", round)
        func hash(_ v: JSONValue?) -> JSONValue? {
            guard let s = v?.stringValue, s.count == 64 else { return v }
            return .string(prefix + s.dropFirst(8))
        }
        func add(_ v: JSONValue?, _ n: Int64) -> JSONValue? {
            guard let x = v?.int64Value else { return v }
            return .int(x + n)
        }
        func rows(_ field: String, _ transform: ([String: JSONValue]) -> [String: JSONValue]) -> JSONValue? {
            payload[field]?.arrayValue.map { .array($0.map { .object(transform($0.objectValue ?? [:])) }) }
        }
        var o = payload.objectValue ?? [:]
        o["sequence"] = add(o["sequence"], offset)
        if var l = o["ledger"]?.objectValue {
            l["sequence"] = add(l["sequence"], offset)
            l["id"] = add(l["id"], toid)
            l["ledger_hash"] = hash(l["ledger_hash"])
            l["previous_ledger_hash"] = hash(l["previous_ledger_hash"])
            o["ledger"] = .object(l)
        }
        o["transactions"] = rows("transactions") { t in
            var t = t
            t["ledger_sequence"] = add(t["ledger_sequence"], offset)
            t["id"] = add(t["id"], toid)
            t["transaction_hash"] = hash(t["transaction_hash"])
            return t
        }
        o["operations"] = rows("operations") { op in
            var op = op
            op["ledger_sequence"] = add(op["ledger_sequence"], offset)
            op["id"] = add(op["id"], toid)
            op["transaction_id"] = add(op["transaction_id"], toid)
            return op
        }
        o["effects"] = rows("effects") { e in
            var e = e
            e["ledger_sequence"] = add(e["ledger_sequence"], offset)
            e["operation_id"] = add(e["operation_id"], toid)
            if let id = e["id"]?.stringValue, let dash = id.firstIndex(of: "-"), let op = Int64(id[..<dash]) {
                e["id"] = .string("\(op + toid)\(id[dash...])")
            }
            return e
        }
        o["trades"] = rows("trades") { t in
            var t = t
            t["history_operation_id"] = add(t["history_operation_id"], toid)
            return t
        }
        o["contract_events"] = rows("contract_events") { c in
            var c = c
            c["ledger_sequence"] = add(c["ledger_sequence"], offset)
            c["transaction_hash"] = hash(c["transaction_hash"])
            c["transaction_id"] = add(c["transaction_id"], toid)
            return c
        }
        return .object(o.filter { !$0.value.isNull || $0.key == "ledger" })
    }
}
