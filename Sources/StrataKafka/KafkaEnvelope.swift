import CRdKafka
import Foundation
import StrataCore

/// How an event is laid out in a Kafka message: the key is the event's key, the value its stored
/// payload (canonical JSON, zstd-compressed above the producer's threshold, exactly as the
/// PostgreSQL backend stores it), the timestamp the append time, and the rest of the envelope in
/// headers. User headers (trace context, ...) keep their names behind an `h.` prefix so they cannot
/// collide with the envelope's.
enum KafkaEnvelope {
    static let id = "strata.id"
    static let type = "strata.type"
    static let version = "strata.version"
    static let source = "strata.source"
    static let occurredAt = "strata.occurred_at"
    static let compression = "strata.compression"
    static let userPrefix = "h."

    /// The headers of one event, in a stable order.
    static func headers(of event: PreparedEvent) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = [
            (id, Array(event.id.utf8)), (type, Array(event.type.utf8)), (version, Array(String(event.schemaVersion).utf8)),
            (source, Array(event.source.utf8)),
        ]
        if let occurred = event.occurredAt { out.append((occurredAt, Array(RFC3339.format(occurred).utf8))) }
        if event.compression == .zstd { out.append((compression, Array("zstd".utf8))) }
        for (name, value) in event.headers.sorted(by: { $0.key < $1.key }) { out.append((userPrefix + name, Array(value.utf8))) }
        return out
    }

    /// Decodes a consumed message (no error set) into an event; an envelope header that is missing
    /// or malformed is an error naming the message.
    static func decode(_ m: UnsafePointer<rd_kafka_message_t>, topic: String) throws -> (event: Event, storedBytes: Int) {
        let msg = m.pointee
        let position = "\(topic)/\(msg.partition)@\(msg.offset)"
        var fields: [String: String] = [:]
        var user: [String: String] = [:]
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            while true {
                var name: UnsafePointer<CChar>?
                var value: UnsafeRawPointer?
                var size = 0
                guard rd_kafka_header_get_all(hdrs, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name else { break }
                let key = String(cString: name)
                let text = value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? ""
                if key.hasPrefix(userPrefix) {
                    user[String(key.dropFirst(userPrefix.count))] = text
                } else {
                    fields[key] = text
                }
                index += 1
            }
        }
        guard let eventID = fields[id], let eventType = fields[type] else {
            throw StrataError(.backend, "the Kafka message at \(position) is not a Strata event (no \(id)/\(type) headers)")
        }
        guard let schemaVersion = fields[version].flatMap({ Int($0) }) else {
            throw StrataError(.backend, "the Kafka message at \(position) has no valid \(version) header")
        }
        let occurred: Date?
        if let text = fields[occurredAt] {
            guard let date = RFC3339.parse(text) else {
                throw StrataError(.backend, "the Kafka message at \(position) has an invalid \(occurredAt) header '\(text)'")
            }
            occurred = date
        } else {
            occurred = nil
        }
        let codec: PayloadCompression
        switch fields[compression] {
        case nil: codec = .none
        case "zstd": codec = .zstd
        case let other?: throw StrataError(.backend, "the Kafka message at \(position) has an unknown compression '\(other)'")
        }
        let key = msg.key.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: msg.key_len), as: UTF8.self) } ?? ""
        let stored = msg.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: msg.len)) } ?? []
        var tstype = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ms = rd_kafka_message_timestamp(m, &tstype)
        let appendedAt = Date(timeIntervalSince1970: Double(max(0, ms)) / 1000)
        let payload: [UInt8]
        do {
            payload = try PayloadCodec.decode(stored, codec)
        } catch {
            throw StrataError(.backend, "the Kafka message at \(position): \(error)")
        }
        let event = Event(
            topic: topic, partition: Int(msg.partition), offset: msg.offset, key: key, type: eventType, schemaVersion: schemaVersion,
            id: eventID, source: fields[source] ?? "", occurredAt: occurred, appendedAt: appendedAt, headers: user, payload: payload)
        return (event, stored.count)
    }
}
