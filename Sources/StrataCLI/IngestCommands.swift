import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import StrataApp
import StrataCore
import StrataATProto
import StrataATProtoIndex
import StrataAtlas
import StrataLedger

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events from source files: Stellar ledger exports, SBOMs, grants, git history, registry data.",
        subcommands: [LedgerIngestCommand.self, XDRIngestCommand.self, DataLakeIngestCommand.self, SBOMIngestCommand.self, GrantsIngestCommand.self, GitIngestCommand.self, RegistryIngestCommand.self, CARIngestCommand.self])
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

struct XDRIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdr",
        abstract: "Ingest raw LedgerCloseMeta XDR files into the ledger_meta topic: one event per ledger.",
        discussion: """
            A file is base64 lines (one LedgerCloseMeta each), raw XDR (one LedgerCloseMeta or a LedgerCloseMetaBatch), \
            or a Galexie batch compressed with zstd (.xdr.zst, .xdr.zstd). Every file is decoded and checked whole first \
            (every union arm, length and padding, each header's hash); an error names the file, line or ledger, the XDR \
            type and the byte offset, and nothing is appended. The topic holds one gapless hash chain: ledgers above its \
            highest must continue it (the next sequence, the previous hash matching); ledgers already in it are duplicates.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "Files.") var paths: [String]

    func run() async throws {
        let paths = self.paths
        try await options.run { strata in
            var ledgers: [LedgerMetaLog.Ledger] = []
            for path in paths { ledgers += try LedgerMetaFiles.read(path) }
            let metaLog = LedgerMetaLog(log: strata.log, producer: strata.producer)
            let position = try await metaLog.position()
            let (top, appended) = try await metaLog.append(ledgers, after: position, network: nil, source: "ingest:xdr")
            FileHandle.standardError.write(Data("""
                read \(ledgers.count) ledgers from \(paths.count) files; appended \(appended) (\(ledgers.count - appended) already in the log); \
                highest ledger \(top.map { String($0.sequence) } ?? "-")\n
                """.utf8))
        }
    }
}

struct DataLakeIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datalake",
        abstract: "Read ledgers from a Galexie data lake (a directory or an HTTP(S) base URL) into the ledger_meta topic.",
        discussion: """
            Object names follow SEP-0054 from the root's .config.json (ledgersPerBatch, batchesPerPartition). The position \
            is the log's: the topic's highest ledger, so a restart continues after it and never skips or doubles a ledger. \
            A missing object (while a later one exists, or below --to), a corrupt object, or a ledger whose previous hash \
            is not the hash of the one before stops the source with an error naming the ledger. With --follow it keeps \
            polling for the next object until SIGTERM/SIGINT.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "The data lake's root: a directory, or an http(s):// base URL.") var location: String
    @Option(help: "First ledger (needed while the topic is empty).") var from: UInt32?
    @Option(help: "Last ledger (inclusive).") var to: UInt32?
    @Flag(help: "Keep polling for new objects after the last one.") var follow = false
    @Option(name: .customLong("poll-interval"), help: "Seconds between looks for the next object when following.") var pollInterval = 2.0
    @Option(name: .customLong("ledgers-per-file"), help: "For a data lake without .config.json: ledgers per object.") var ledgersPerFile: UInt32?
    @Option(name: .customLong("files-per-partition"), help: "For a data lake without .config.json: objects per partition folder.") var filesPerPartition: UInt32?
    @Option(name: .customLong("request-timeout"), help: "Seconds per HTTP request.") var requestTimeout = 60.0
    @Option(name: .customLong("ledgers-per-append"), help: "Ledgers per append transaction.") var ledgersPerAppend = 16

    func validate() throws {
        guard (ledgersPerFile == nil) == (filesPerPartition == nil) else {
            throw ValidationError("--ledgers-per-file and --files-per-partition go together")
        }
        guard pollInterval > 0, pollInterval <= 3600 else { throw ValidationError("--poll-interval must be between 0 and 3600 seconds") }
        guard requestTimeout > 0, requestTimeout <= 3600 else { throw ValidationError("--request-timeout must be between 0 and 3600 seconds") }
        guard (1...10_000).contains(ledgersPerAppend) else { throw ValidationError("--ledgers-per-append must be between 1 and 10000") }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
    }

    func run() async throws {
        let (location, from, to, follow, pollInterval, requestTimeout) = (self.location, self.from, self.to, self.follow, self.pollInterval, self.requestTimeout)
        let ledgersPerAppend = self.ledgersPerAppend
        let layout = try ledgersPerFile.map { try GalexieLayout(ledgersPerBatch: $0, batchesPerPartition: filesPerPartition ?? 1) }
        try await options.run { strata in
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let store = try dataLakeStore(location, client: client, timeout: .milliseconds(Int64(requestTimeout * 1000)), logger: strata.logger)
                var sourceOptions = DataLakeSource.Options(from: from, to: to, follow: follow)
                sourceOptions.pollInterval = .milliseconds(Int64(pollInterval * 1000))
                sourceOptions.ledgersPerAppend = ledgersPerAppend
                let source = DataLakeSource(store: store, layout: layout, options: sourceOptions,
                    ledgers: LedgerMetaLog(log: strata.log, producer: strata.producer), logger: strata.logger)
                if follow {
                    try await strata.runServices([source])
                } else {
                    let progress = try await source.ingest()
                    FileHandle.standardError.write(Data("""
                        read \(progress.objects) objects; appended \(progress.appended) ledgers (\(progress.duplicates) already in the log); \
                        highest ledger \(progress.highest.map(String.init) ?? "-")\n
                        """.utf8))
                }
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

/// A data lake's store: an http(s):// base URL, or a directory.
func dataLakeStore(_ location: String, client: HTTPClient, timeout: Duration = .seconds(60), logger: Logger) throws -> any LedgerObjectStore {
    if location.hasPrefix("http://") || location.hasPrefix("https://") {
        guard let url = URL(string: location) else { throw StrataError(.invalidConfiguration, "not a URL: \(location)") }
        return HTTPLedgerStore(base: url, client: client, timeout: timeout, logger: logger)
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw StrataError(.invalidConfiguration, "no such directory: \(location)")
    }
    return DirectoryLedgerStore(root: URL(fileURLWithPath: location))
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

struct CARIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "car",
        abstract: "Ingest ATProto repository exports (CAR files, as com.atproto.sync.getRepo returns them) into the atproto topic.",
        discussion: """
            Every file is read whole and verified first: each block's sha-256 against its CID, the MST walked and rebuilt to the \
            commit's data root, the commit's shape, every record's data model. One bad file appends nothing. Each record becomes \
            an atproto.record.put event, then the repository an atproto.repo.synced event (the index drops its records that \
            the export no longer holds). With --did-document the commit's signature is checked against its #atproto key.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "CAR files.") var paths: [String]
    @Option(help: "The host the exports came from (recorded with the events).") var host: String?
    @Option(name: .customLong("did-document"), help: "A DID document (JSON) whose #atproto key must have signed every commit.")
    var didDocument: String?
    @Flag(name: .customLong("allow-high-s"), help: "Accept high-S signatures (repositories signed before atproto required low-S).")
    var allowHighS = false
    @Option(help: "The repository (DID) every export must be.") var did: String?
    @Option(name: .customLong("collections"), help: "Comma-separated collection prefixes to keep (* for all; default: every record).")
    var collections: String?

    func validate() throws {
        if let did, !Syntax.isValidDID(did) { throw ValidationError("--did \(did) is not a DID") }
    }

    func run() async throws {
        let (paths, host, didDocumentPath, allowHighS) = (self.paths, self.host, self.didDocument, self.allowHighS)
        let (did, prefixes) = (self.did, collections.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } })
        try await options.run { strata in
            var ingest = RepositoryIngest.Options(host: host, allowHighS: allowHighS, did: did, collections: prefixes)
            if let didDocumentPath {
                guard let data = FileManager.default.contents(atPath: didDocumentPath) else {
                    throw StrataError(.invalidInput, "cannot read file", at: InputLocation(source: didDocumentPath))
                }
                do {
                    ingest.didDocument = try JSONParser.parse(Array(data))
                } catch {
                    throw StrataError(.invalidInput, "not JSON: \(error)", at: InputLocation(source: didDocumentPath))
                }
            }
            let drafts = try RepositoryIngest.drafts(paths: paths, options: ingest)
            try await appendReporting(drafts, strata, what: "repository events")
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
