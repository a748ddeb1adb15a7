import Foundation

/// Reads event drafts from JSON Lines, as `strata produce` and `POST /events` accept them:
///
/// ```json
/// {"key": "acct-1", "type": "demo.counted", "schema_version": 1, "payload": {"n": 1}}
/// ```
///
/// `key`, `type` and `payload` are required; `schema_version` defaults to 1; `id`, `source`,
/// `occurred_at` (RFC 3339) and `headers` (an object of strings) are optional; `topic` is optional
/// and, when given, must match the topic being produced to. Any other field is an error, so a typo
/// never silently drops data.
public enum EnvelopeReader {
    static let fields: Set<String> = ["topic", "key", "type", "schema_version", "id", "source", "occurred_at", "headers", "payload"]

    /// Parses one line. `location` names the input and line for errors.
    public static func draft(fromLine line: [UInt8], topic: String, defaultSource: String, location: InputLocation) throws -> EventDraft {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw StrataError(.malformedJSON, "\(error.reason) (column \(error.column))", at: location)
        }
        return try draft(from: value, topic: topic, defaultSource: defaultSource, location: location)
    }

    public static func draft(from value: JSONValue, topic: String, defaultSource: String, location: InputLocation) throws -> EventDraft {
        func fail(_ message: String) -> StrataError { StrataError(.invalidEnvelope, message, at: location) }
        guard let o = value.objectValue else { throw fail("expected a JSON object, found \(value.typeName)") }
        if let unknown = o.keys.sorted().first(where: { !fields.contains($0) }) {
            throw fail("unknown envelope field '\(unknown)' (expected: \(fields.sorted().joined(separator: ", ")))")
        }
        if let t = o["topic"] {
            guard t.stringValue == topic else { throw fail("event names topic \(t), but is being produced to '\(topic)'") }
        }
        guard let key = o["key"]?.stringValue else { throw fail("missing string field 'key'") }
        guard let type = o["type"]?.stringValue, !type.isEmpty else { throw fail("missing string field 'type'") }
        var version = 1
        if let v = o["schema_version"] {
            guard let n = v.intValue, n > 0 else { throw fail("'schema_version' must be a positive integer") }
            version = n
        }
        var id: String?
        if let v = o["id"] {
            guard let s = v.stringValue else { throw fail("'id' must be a string") }
            id = s
        }
        var source = defaultSource
        if let v = o["source"] {
            guard let s = v.stringValue, !s.isEmpty else { throw fail("'source' must be a non-empty string") }
            source = s
        }
        var occurredAt: Date?
        if let v = o["occurred_at"] {
            guard let s = v.stringValue, let d = RFC3339.parse(s) else {
                throw fail("'occurred_at' must be an RFC 3339 timestamp like 2026-01-02T03:04:05Z")
            }
            occurredAt = d
        }
        var headers: [String: String] = [:]
        if let v = o["headers"] {
            guard let h = v.objectValue else { throw fail("'headers' must be an object of strings") }
            for (k, hv) in h {
                guard let s = hv.stringValue else { throw fail("header '\(k)' must be a string") }
                headers[k] = s
            }
        }
        guard let payload = o["payload"] else { throw fail("missing field 'payload'") }
        return EventDraft(topic: topic, key: key, type: type, schemaVersion: version, id: id, source: source,
            occurredAt: occurredAt, headers: headers, payload: payload, location: location)
    }
}
