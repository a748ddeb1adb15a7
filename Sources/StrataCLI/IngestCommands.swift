import ArgumentParser
import Foundation
import StrataApp
import StrataCore
import StrataLedger

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events from source files: Stellar ledger exports, SBOMs, grants, git history, registry data.",
        subcommands: [LedgerIngestCommand.self])
}

struct LedgerIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Ingest Hubble / stellar-etl JSON Lines exports (files or directories): one event per ledger.",
        discussion: """
            Rows are recognized by their fields (ledgers, transactions, operations, effects, trades, contract events), \
            grouped by ledger sequence, and appended as stellar.ledger.closed events keyed by the sequence. Every file is \
            validated first: a malformed or truncated line is an error naming the file and line, and nothing is appended. \
            Ingesting the same files again adds nothing. Token-transfer rows are skipped: Strata derives token transfers itself.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Files or directories.") var paths: [String]
    @Option(name: .customLong("batch-size"), help: "Ledgers per append transaction.") var batchSize = 50

    func run() async throws {
        let (paths, batchSize) = (self.paths, self.batchSize)
        try await options.run { strata in
            let result = try LedgerIngest(schemas: strata.schemas).read(paths: paths)
            var appended = 0
            var duplicates = 0
            for start in stride(from: 0, to: result.drafts.count, by: max(1, batchSize)) {
                let receipts = try await strata.producer.append(Array(result.drafts[start..<min(start + batchSize, result.drafts.count)]))
                appended += receipts.filter { !$0.duplicate }.count
                duplicates += receipts.filter(\.duplicate).count
            }
            let s = result.summary
            let rows = s.rows.keys.sorted().map { "\(s.rows[$0]!) \($0)" }.joined(separator: ", ")
            var line = "read \(s.files) files: \(rows.isEmpty ? "no rows" : rows)"
            if !s.skipped.isEmpty {
                line += "; skipped \(s.skipped.keys.sorted().map { "\(s.skipped[$0]!) \($0)" }.joined(separator: ", ")) (derived or raw XDR rows)"
            }
            FileHandle.standardError.write(Data("\(line)\nappended \(appended) ledger events (\(duplicates) already in the log)\n".utf8))
        }
    }
}
