import Foundation
import StrataCore
import StrataStellarXDR

/// Reads Hubble / stellar-etl JSON Lines exports and turns them into one `stellar.ledger.closed`
/// event per ledger (key: the ledger sequence).
///
/// Every file is read and every row validated before anything is produced: a truncated or
/// malformed line, or a row that does not match its schema, is an error naming the file and line,
/// and the ingest appends nothing. Event ids are derived from the content, so ingesting the same
/// files again adds nothing.
public struct LedgerIngest: Sendable {
    public static let topic = "ledger"
    public static let eventType = "stellar.ledger.closed"

    public let schemas: SchemaCatalog

    public init(schemas: SchemaCatalog) { self.schemas = schemas }

    /// What an ingest read.
    public struct Summary: Sendable, Equatable {
        public var files = 0
        public var rows: [String: Int] = [:]
        /// Rows recognized but not ingested (derived data or raw XDR), by kind.
        public var skipped: [String: Int] = [:]
        public var ledgers = 0
        public var operations = 0
    }

    public struct Result: Sendable {
        public var drafts: [EventDraft]
        public var summary: Summary
    }

    /// Reads `paths` (files, or directories searched for `*.json` / `*.jsonl`).
    public func read(paths: [String]) throws -> Result {
        var files: [URL] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw StrataError(.invalidInput, "no such file or directory", at: InputLocation(source: path))
            }
            if isDirectory.boolValue {
                let entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                files += entries.filter { $0.hasSuffix(".json") || $0.hasSuffix(".jsonl") }.map { URL(fileURLWithPath: path).appendingPathComponent($0) }
            } else {
                files.append(URL(fileURLWithPath: path))
            }
        }
        var builder = Builder()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw StrataError(.invalidInput, "cannot read file", at: InputLocation(source: file.path))
            }
            try read(bytes: Array(data), source: file.path, into: &builder)
            builder.summary.files += 1
        }
        var summary = builder.summary
        summary.ledgers = builder.ledgerCount
        return Result(drafts: try builder.drafts(), summary: summary)
    }

    /// Reads one file's bytes (JSON Lines).
    public func read(bytes: [UInt8], source: String, into builder: inout Builder) throws {
        var lineNumber = 0
        var start = 0
        var errors: [StrataError] = []
        let count = bytes.count
        while start < count {
            var end = start
            while end < count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            lineNumber += 1
            defer { start = end + 1 }
            var slice = bytes[start..<end]
            if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                try builder.add(line: Array(slice), location: InputLocation(source: source, line: lineNumber), schemas: schemas)
            } catch let error as StrataError {
                errors.append(error)
                if errors.count >= 20 { break }
            }
        }
        if let first = errors.first {
            let more = errors.count > 1 ? "\n" + errors.dropFirst().map { "  \($0)" }.joined(separator: "\n") : ""
            throw StrataError(first.code, first.message + (more.isEmpty ? "" : more), at: first.location)
        }
    }

    /// Accumulates rows per ledger.
    public struct Builder: Sendable {
        public var summary = Summary()
        var ledgers: [Int64: LedgerBundle] = [:]

        public init() {}

        struct LedgerBundle: Sendable {
            var header: JSONValue?
            var rows: [String: [JSONValue]] = [:]
            var firstLocation: InputLocation
        }

        mutating func add(line: [UInt8], location: InputLocation, schemas: SchemaCatalog) throws {
            let value: JSONValue
            do {
                value = try JSONParser.parse(line)
            } catch {
                throw StrataError(.malformedJSON, "\(error.reason) (column \(error.column)); is the line truncated?", at: location)
            }
            guard let row = value.objectValue else {
                throw StrataError(.invalidInput, "expected a JSON object per line, found \(value.typeName)", at: location)
            }
            guard let kind = HubbleRowKind.classify(row) else {
                throw StrataError(.invalidInput,
                    "unrecognized row: not a Hubble ledger, transaction, operation, effect, trade or contract event (fields: \(row.keys.sorted().prefix(8).joined(separator: ", ")))",
                    at: location)
            }
            guard let pointer = kind.schemaPointer else {
                summary.skipped[kind.rawValue, default: 0] += 1
                return
            }
            let field = kind.payloadField
            let violations = schemas.registry.validate(value, against: "strata:schemas/\(LedgerIngest.eventType).v1.json\(pointer)", limit: 3)
            if !violations.isEmpty {
                throw StrataError(.schemaViolation, "\(kind.rawValue) row: " + violations.map(\.description).joined(separator: "; "), at: location)
            }
            guard let sequence = HubbleRowKind.ledgerSequence(of: row, kind: kind), sequence > 0 else {
                throw StrataError(.invalidInput, "\(kind.rawValue) row has no ledger sequence", at: location)
            }
            var bundle = ledgers[sequence] ?? LedgerBundle(firstLocation: location)
            if let field {
                bundle.rows[field, default: []].append(value)
            } else {
                if let existing = bundle.header, existing != value {
                    throw StrataError(.invalidInput, "ledger \(sequence) appears twice with different contents (first at \(bundle.firstLocation))", at: location)
                }
                bundle.header = value
            }
            ledgers[sequence] = bundle
            summary.rows[kind.rawValue, default: 0] += 1
            if kind == .operation { summary.operations += 1 }
        }

        /// One event per ledger, in ledger order. Rows keep their input order within a ledger; exact
        /// duplicate rows (the same row in two files) are kept once.
        public func drafts() throws -> [EventDraft] {
            var drafts: [EventDraft] = []
            for sequence in ledgers.keys.sorted() {
                let bundle = ledgers[sequence]!
                var payload: [String: JSONValue] = ["sequence": .int(sequence), "ledger": bundle.header ?? .null]
                for (field, rows) in bundle.rows {
                    var seen = Set<JSONValue>()
                    payload[field] = .array(rows.filter { seen.insert($0).inserted })
                }
                drafts.append(EventDraft(
                    topic: LedgerIngest.topic, key: String(sequence), type: LedgerIngest.eventType, schemaVersion: 1,
                    source: "ingest:ledger", occurredAt: bundle.header?["closed_at"]?.stringValue.flatMap(RFC3339.parse),
                    payload: .object(payload), location: bundle.firstLocation))
            }
            return drafts
        }

        public var ledgerCount: Int { ledgers.count }
    }
}
