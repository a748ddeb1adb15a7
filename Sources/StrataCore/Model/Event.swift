import Foundation

/// An event as a producer hands it in, before validation, partitioning and encoding.
public struct EventDraft: Sendable {
    public var topic: String
    /// Picks the partition: all events with the same key are ordered.
    public var key: String
    /// The event type, e.g. `sbom.submitted`; with `schemaVersion` it names the payload's schema.
    public var type: String
    public var schemaVersion: Int
    /// The idempotency id. When nil, one is derived from the content, so re-sending the same event is
    /// a no-op.
    public var id: String?
    /// Who produced it (`cli`, `http`, `ingest:ledger`, ...).
    public var source: String
    public var occurredAt: Date?
    /// Trace context and other string metadata.
    public var headers: [String: String]
    public var payload: JSONValue
    /// Where the draft was read from, for error messages.
    public var location: InputLocation?
    /// Whether `id` names what the event means rather than its exact content (an SBOM's
    /// dependency graph, whatever its timestamps): an event arriving later with this id and other
    /// content is then a duplicate by design. Otherwise an id already in the log with other
    /// content is refused as a conflict.
    public var semanticID = false

    public init(
        topic: String, key: String, type: String, schemaVersion: Int = 1, id: String? = nil, source: String = "api",
        occurredAt: Date? = nil, headers: [String: String] = [:], payload: JSONValue, location: InputLocation? = nil
    ) {
        self.topic = topic
        self.key = key
        self.type = type
        self.schemaVersion = schemaVersion
        self.id = id
        self.source = source
        self.occurredAt = occurredAt
        self.headers = headers
        self.payload = payload
        self.location = location
    }
}

/// How a payload is stored.
public enum PayloadCompression: Int16, Sendable, Codable {
    case none = 0
    case zstd = 1
}

/// A validated event with its partition chosen and payload encoded: what a backend appends.
public struct PreparedEvent: Sendable {
    public var topic: String
    public var partition: Int
    public var key: String
    public var type: String
    public var schemaVersion: Int
    public var id: String
    public var source: String
    public var occurredAt: Date?
    public var headers: [String: String]
    /// Canonical JSON, compressed when `compression` says so.
    public var storedPayload: [UInt8]
    public var compression: PayloadCompression
    /// See `EventDraft.semanticID`.
    public var semanticID = false

    public init(
        topic: String, partition: Int, key: String, type: String, schemaVersion: Int, id: String, source: String,
        occurredAt: Date?, headers: [String: String], storedPayload: [UInt8], compression: PayloadCompression
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.type = type
        self.schemaVersion = schemaVersion
        self.id = id
        self.source = source
        self.occurredAt = occurredAt
        self.headers = headers
        self.storedPayload = storedPayload
        self.compression = compression
    }
}

/// An event as the log returns it: the full envelope with the offset the log assigned.
public struct Event: Sendable, Equatable {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public var key: String
    public var type: String
    public var schemaVersion: Int
    public var id: String
    public var source: String
    public var occurredAt: Date?
    public var appendedAt: Date
    public var headers: [String: String]
    /// The payload's canonical JSON bytes (decompressed).
    public var payload: [UInt8]

    public init(
        topic: String, partition: Int, offset: Int64, key: String, type: String, schemaVersion: Int, id: String,
        source: String, occurredAt: Date?, appendedAt: Date, headers: [String: String], payload: [UInt8]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.type = type
        self.schemaVersion = schemaVersion
        self.id = id
        self.source = source
        self.occurredAt = occurredAt
        self.appendedAt = appendedAt
        self.headers = headers
        self.payload = payload
    }

    public var position: LogPosition { LogPosition(topic: topic, partition: partition, offset: offset) }

    /// The payload parsed as JSON.
    public func payloadJSON() throws -> JSONValue {
        do {
            return try JSONParser.parse(payload)
        } catch {
            throw StrataError(.malformedJSON, "payload of \(position): \(error)")
        }
    }

    /// The named top-level members of the payload, in the order asked (nil where absent), without
    /// parsing the rest of it: the cheap way for a projection to read a few fields of each event.
    public func payloadMembers(_ names: [String]) throws -> [JSONValue?] {
        do {
            return try JSONParser.members(names, of: payload)
        } catch {
            throw StrataError(.malformedJSON, "payload of \(position): \(error)")
        }
    }

    /// The envelope and payload as one JSON object, as `strata tail` prints it.
    public func envelopeJSON() -> JSONValue {
        var o: [String: JSONValue] = [
            "topic": .string(topic), "partition": .int(partition), "offset": .int(offset), "key": .string(key),
            "type": .string(type), "schema_version": .int(schemaVersion), "id": .string(id), "source": .string(source),
            "appended_at": .string(RFC3339.format(appendedAt)),
        ]
        if let occurredAt { o["occurred_at"] = .string(RFC3339.format(occurredAt)) }
        if !headers.isEmpty { o["headers"] = .object(headers.mapValues { .string($0) }) }
        o["payload"] = (try? payloadJSON()) ?? .string(String(decoding: payload, as: UTF8.self))
        return .object(o)
    }
}

/// What the log says about one appended event.
public struct AppendReceipt: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    /// True when the idempotency id was already in the log: nothing was added and `offset` is the
    /// original event's.
    public var duplicate: Bool

    public init(topic: String, partition: Int, offset: Int64, duplicate: Bool) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.duplicate = duplicate
    }
}

/// A place in the log.
public struct LogPosition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public var offset: Int64

    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public var description: String { "\(topic)/\(partition)@\(offset)" }
}
