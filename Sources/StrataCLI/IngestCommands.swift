import ArgumentParser
import Foundation
import StrataApp
import StrataCore
import StrataAtlas
import StrataLedger

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events from source files: Stellar ledger exports, SBOMs, grants, git history, registry data.",
        subcommands: [LedgerIngestCommand.self, SBOMIngestCommand.self, GrantsIngestCommand.self, GitIngestCommand.self, RegistryIngestCommand.self])
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
            let s = result.summary
            let rows = s.rows.keys.sorted().map { "\(s.rows[$0]!) \($0)" }.joined(separator: ", ")
            var line = "read \(s.files) files: \(rows.isEmpty ? "no rows" : rows)"
            if !s.skipped.isEmpty {
                line += "; skipped \(s.skipped.keys.sorted().map { "\(s.skipped[$0]!) \($0)" }.joined(separator: ", ")) (derived or raw XDR rows)"
            }
            FileHandle.standardError.write(Data("\(line)\n".utf8))
            try await appendReporting(result.drafts, strata, what: "ledger events", batchSize: batchSize)
        }
    }
}

/// Validates every draft first (one bad draft appends nothing), then appends in batches and
/// reports what was new.
func appendReporting(_ drafts: [EventDraft], _ strata: StrataContext, what: String, batchSize: Int = 500) async throws {
    try await appendReporting(drafts.map { try strata.producer.prepare($0) }, strata, what: what, batchSize: batchSize)
}

/// Appends validated events in batches (each batch one transaction) and reports what was new.
func appendReporting(_ events: [PreparedEvent], _ strata: StrataContext, what: String, batchSize: Int) async throws {
    var appended = 0
    var duplicates = 0
    let batchSize = max(1, batchSize)
    for start in stride(from: 0, to: events.count, by: batchSize) {
        let receipts = try await strata.log.append(Array(events[start..<min(start + batchSize, events.count)]))
        duplicates += receipts.filter(\.duplicate).count
        appended += receipts.count
    }
    FileHandle.standardError.write(Data("appended \(appended - duplicates) \(what) (\(duplicates) already in the log)\n".utf8))
}

struct SBOMIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sbom",
        abstract: "Ingest SBOMs: SPDX 2.3 (GitHub's dependency-graph export, wrapped or not) and CycloneDX 1.4-1.6 JSON.",
        discussion: """
            Every file is validated first (CycloneDX against its official schema); one invalid file appends nothing. \
            The repository comes from the document (GitHub's export names it com.github.OWNER/REPO) or --repository. \
            An SBOM that differs from one already submitted only in namespace, serial number or creation time is a no-op.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "SBOM files or directories of them.") var paths: [String]
    @Option(help: "OWNER/REPO the SBOMs belong to (when the documents do not say).") var repository: String?

    func run() async throws {
        let (paths, repository) = (self.paths, self.repository)
        try await options.run { strata in
            let drafts = try AtlasIngest(schemas: strata.schemas).sbomDrafts(paths: paths, repository: repository)
            try await appendReporting(drafts, strata, what: "SBOMs")
        }
    }
}

struct GrantsIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grants",
        abstract: "Ingest OpenGrants (DAOIP-5) API exports: projects, grant pools (rounds) and applications (.json or .json.gz).")

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Files or directories.") var paths: [String]

    func run() async throws {
        let paths = self.paths
        try await options.run { strata in
            let drafts = try AtlasIngest(schemas: strata.schemas).grantDrafts(paths: paths)
            try await appendReporting(drafts, strata, what: "grant records")
        }
    }
}

struct GitIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "git",
        abstract: "Ingest a local git repository's history (no network): commits and their authors (emails are hashed, never stored).")

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Path of a git repository.") var path: String
    @Option(help: "OWNER/REPO on GitHub (default: from the origin remote).") var repository: String?
    @Option(help: "Only commits of the last N months (0: all history).") var months = 24

    func run() async throws {
        let (path, repository, months) = (self.path, self.repository, self.months)
        try await options.run { strata in
            let history = try AtlasIngest.readGitHistory(path: path, months: months > 0 ? months : nil)
            guard let repo = repository ?? history.repository else {
                throw StrataError(.invalidInput, "cannot tell which GitHub repository this is (no github.com origin); pass --repository OWNER/REPO",
                    at: InputLocation(source: path))
            }
            let drafts = AtlasIngest.commitDrafts(history.commits, repository: repo, source: "git")
            FileHandle.standardError.write(Data("read \(history.commits.count) commits of \(repo)\n".utf8))
            try await appendReporting(drafts, strata, what: "commit batches")
        }
    }
}

struct RegistryIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Ingest package-registry API responses (crates.io, npm, PyPI, pub.dev, Packagist, deps.dev): inferred edges and adoption signals.",
        discussion: """
            Give one package's responses per invocation (its package document plus downloads, dependencies, dependents \
            or metrics responses). Responses that do not name their package are attached to the only package of their \
            registry in the input; when that is ambiguous the command says which file it cannot place.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Response files or directories.") var paths: [String]

    func run() async throws {
        let paths = self.paths
        try await options.run { strata in
            let drafts = try AtlasIngest(schemas: strata.schemas).registryDrafts(paths: paths)
            try await appendReporting(drafts, strata, what: "registry observations")
        }
    }
}
