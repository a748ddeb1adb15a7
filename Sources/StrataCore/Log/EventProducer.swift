import Crypto
import Foundation

/// The front door of the log: validates drafts against the topology and the schemas, picks
/// partitions, derives idempotency ids, encodes payloads, and appends a batch all or nothing.
///
/// Validation happens for the whole batch before anything is sent to the backend, so a bad event
/// anywhere in a batch appends nothing.
public struct EventProducer: Sendable {
    public let log: any EventLog
    public let topology: Topology
    public let schemas: SchemaCatalog

    public init(log: any EventLog, topology: Topology, schemas: SchemaCatalog) {
        self.log = log
        self.topology = topology
        self.schemas = schemas
    }

    /// Validates and appends; returns one receipt per draft, in order.
    @discardableResult
    public func append(_ drafts: [EventDraft]) async throws -> [AppendReceipt] {
        guard !drafts.isEmpty else { return [] }
        let prepared = try drafts.map { try prepare($0) }
        return try await log.append(prepared)
    }

    /// Validates one draft and turns it into what a backend appends.
    public func prepare(_ draft: EventDraft) throws -> PreparedEvent {
        let at = draft.location
        guard let topic = topology.topics[draft.topic] else {
            let known = topology.sortedTopics.map(\.name).joined(separator: ", ")
            throw StrataError(.unknownTopic, "unknown topic '\(draft.topic)' (known topics: \(known))", at: at)
        }
        guard !draft.key.isEmpty, draft.key.utf8.count <= 1024 else {
            throw StrataError(.invalidEnvelope, "event key must be 1 to 1024 bytes", at: at)
        }
        if !topic.eventTypes.isEmpty, !topic.eventTypes.contains(draft.type) {
            throw StrataError(.unknownEventType,
                "event type '\(draft.type)' is not allowed on topic '\(topic.name)' (allowed: \(topic.eventTypes.joined(separator: ", ")))", at: at)
        }
        guard schemas.hasSchema(type: draft.type, version: draft.schemaVersion) else {
            let known = schemas.versions[draft.type].map { "known versions: \($0.map(String.init).joined(separator: ", "))" } ?? "no schema for this type"
            throw StrataError(.unknownEventType, "no schema for event type '\(draft.type)' version \(draft.schemaVersion) (\(known))", at: at)
        }
        let json = JSONWriter.bytes(draft.payload)
        if json.count > topic.maxPayloadBytes {
            throw StrataError(.payloadTooLarge,
                "payload of \(json.count) bytes exceeds the \(topic.maxPayloadBytes)-byte limit of topic '\(topic.name)'", at: at)
        }
        try Self.checkPayloadText(draft, json: json, at: at)
        let violations = schemas.violations(of: draft.payload, type: draft.type, version: draft.schemaVersion)
        if !violations.isEmpty {
            let reasons = violations.map { "payload\($0.instancePath): \($0.message)" }.joined(separator: "; ")
            throw StrataError(.schemaViolation, "\(draft.type) v\(draft.schemaVersion): \(reasons)", at: at)
        }
        if let id = draft.id, id.isEmpty || id.utf8.count > 256 {
            throw StrataError(.invalidEnvelope, "event id must be 1 to 256 bytes", at: at)
        }
        try Self.checkText(draft, at: at)
        let id = draft.id ?? EventProducer.contentID(topic: topic.name, key: draft.key, type: draft.type, version: draft.schemaVersion, payload: json)
        let (stored, compression) = PayloadCodec.encode(json)
        var prepared = PreparedEvent(
            topic: topic.name, partition: Partitioner.partition(forKey: draft.key, partitions: topic.partitions),
            key: draft.key, type: draft.type, schemaVersion: draft.schemaVersion, id: id, source: draft.source,
            occurredAt: draft.occurredAt, headers: draft.headers, storedPayload: stored, compression: compression)
        prepared.semanticID = draft.semanticID
        return prepared
    }

    /// Headers (names and values, as stored) may take at most this many bytes in all.
    public static let maximumHeaderBytes = 16 << 10

    /// Text the log stores as PostgreSQL `text`/`jsonb` cannot hold U+0000, and headers are bounded:
    /// refused here as bad input naming the field, rather than failing in the database (which
    /// clients would take for an outage and retry).
    static func checkText(_ draft: EventDraft, at: InputLocation?) throws {
        func noNUL(_ text: String, _ field: String) throws {
            if text.utf8.contains(0) {
                throw StrataError(.invalidEnvelope, "\(field) contains a NUL character (U+0000), which the log cannot store", at: at)
            }
        }
        try noNUL(draft.key, "event key")
        try noNUL(draft.type, "event type")
        try noNUL(draft.source, "'source'")
        if let id = draft.id { try noNUL(id, "event id") }
        var headerBytes = 0
        for (name, value) in draft.headers {
            try noNUL(name, "header name")
            try noNUL(value, "header '\(name)'")
            headerBytes += name.utf8.count + value.utf8.count
        }
        if headerBytes > maximumHeaderBytes {
            throw StrataError(.invalidEnvelope, "headers take \(headerBytes) bytes; at most \(maximumHeaderBytes) are allowed", at: at)
        }
    }

    /// Payload strings cannot hold U+0000 either (views are PostgreSQL `jsonb`): the canonical JSON
    /// is searched for its escape, and only then the tree for the path to name.
    static func checkPayloadText(_ draft: EventDraft, json: [UInt8], at: InputLocation?) throws {
        let escape = Array("\\u0000".utf8)
        guard json.count >= escape.count else { return }
        var found = false
        var i = 0
        while i + escape.count <= json.count {
            if json[i] == escape[0] && json[i + 1] == escape[1] && Array(json[i..<(i + escape.count)]) == escape {
                found = true
                break
            }
            i += 1
        }
        if found, let path = nulPath(in: draft.payload, path: "payload") {
            throw StrataError(.invalidEnvelope, "\(path) contains a NUL character (U+0000), which PostgreSQL's JSON cannot store", at: at)
        }
    }

    /// The JSON path of the first string or member name holding U+0000, if any.
    static func nulPath(in value: JSONValue, path: String) -> String? {
        var stack: [(JSONValue, String)] = [(value, path)]
        while let (v, p) = stack.popLast() {
            switch v {
            case .string(let s): if s.utf8.contains(0) { return p }
            case .array(let items): for (i, item) in items.enumerated() { stack.append((item, "\(p)[\(i)]")) }
            case .object(let members):
                for (k, item) in members {
                    if k.utf8.contains(0) { return "\(p) (a member name)" }
                    stack.append((item, "\(p).\(k)"))
                }
            default: break
            }
        }
        return nil
    }

    /// An idempotency id derived from the content: the same event sent twice gets the same id.
    public static func contentID(topic: String, key: String, type: String, version: Int, payload: [UInt8]) -> String {
        var hasher = SHA256()
        for part in [topic, key, type, String(version)] {
            hasher.update(data: Array(part.utf8))
            hasher.update(data: [0])
        }
        hasher.update(data: payload)
        return "sha256:" + hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
