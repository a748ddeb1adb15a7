import AsyncAlgorithms
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import StrataCore

/// The log over HTTP: topics, reads, authenticated appends, and a live tail (Server-Sent Events).
struct LogRoutes: APIRoutes {
    static let maximumBodyBytes = 64 << 20
    /// Stored payload bytes per page of a read, and per batch of a tail.
    static let pageBytes = 8 << 20

    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        router.get("/v1/topics") { _, _ -> Response in
            var rows: [JSONValue] = []
            for topic in try await deps.log.topics() {
                let ends = try await deps.log.endOffsets(topic: topic.name)
                rows.append(["topic": .string(topic.name), "partitions": .int(topic.partitions),
                    "end_offsets": .array(ends.map { .int($0) }), "types": .array(topic.eventTypes.map { .string($0) })])
            }
            return JSONResponse.make(["topics": .array(rows)])
        }

        // Read one partition from an offset.
        router.get("/v1/topics/:topic/partitions/:partition/events") { request, context -> Response in
            let topic = try context.parameters.require("topic")
            let partition = try context.parameters.require("partition", as: Int.self)
            let spec = try await deps.log.topic(named: topic)
            guard (0..<spec.partitions).contains(partition) else {
                throw APIError.notFound("topic '\(topic)' has partitions 0-\(spec.partitions - 1), not \(partition)")
            }
            let from = Int64(try request.intQuery("from", default: 0, range: 0...Int.max)!)
            let limit = try request.intQuery("limit", default: 100, range: 1...1000)!
            // A page holds at most `pageBytes` of stored payloads (at least one event), so a page of
            // a large-event topic cannot take the server's memory.
            let events = try await deps.log.read(topic: topic, partition: partition, from: from, limit: limit + 1, maxBytes: Self.pageBytes)
            let page = events.prefix(limit)
            var hasMore = events.count > limit
            if !hasMore, let last = page.last {
                // Cut short by the byte budget, or at the end: the end offset tells.
                let ends = try await deps.log.endOffsets(topic: topic)
                hasMore = partition < ends.count && last.offset + 1 < ends[partition]
            }
            var body: [String: JSONValue] = ["events": .array(page.map { $0.envelopeJSON() }), "has_more": .bool(hasMore)]
            if let last = page.last { body["next_from"] = .int(last.offset + 1) }
            return JSONResponse.make(.object(body))
        }

        // Append events: a JSON array of envelopes, or JSON Lines. All or nothing.
        router.post("/v1/topics/:topic/events") { request, context -> Response in
            try request.requireWriteToken(deps)
            let topic = try context.parameters.require("topic")
            var request = request
            let bytes = try await request.jsonBody(limit: Self.maximumBodyBytes)
            let drafts = try Self.drafts(from: bytes, topic: topic)
            guard !drafts.isEmpty else { throw APIError(.unprocessableContent, "invalid_input", "the request has no events") }
            let receipts = try await deps.append(drafts)
            return JSONResponse.make(["receipts": .array(receipts.map {
                ["topic": .string($0.topic), "partition": .int($0.partition), "offset": .int($0.offset), "duplicate": .bool($0.duplicate)]
            })], status: receipts.allSatisfy(\.duplicate) ? .ok : .created)
        }

        // Live tail across partitions. The cursor (SSE id) resumes exactly where a client stopped.
        router.get("/v1/topics/:topic/tail") { request, context -> Response in
            let topic = try context.parameters.require("topic")
            let spec = try await deps.log.topic(named: topic)
            let ends = try await deps.log.endOffsets(topic: topic)
            var start: [Int64]
            if let cursor = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.stringQuery("cursor") {
                start = try TailCursor.decode(cursor, partitions: spec.partitions)
            } else if request.stringQuery("from") == "start" {
                start = Array(repeating: 0, count: spec.partitions)
            } else {
                start = ends
            }
            let log = deps.log
            let initial = start
            let body = ResponseBody { writer in
                // The stream ends when the server shuts down gracefully (it would otherwise hold
                // the shutdown until the client leaves).
                let channel = AsyncThrowingChannel<[Event], any Error>()
                try await withGracefulShutdownHandler {
                    try await Self.stream(log: log, topic: topic, spec: spec, from: initial, through: channel, to: &writer)
                } onGracefulShutdown: {
                    channel.finish()
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }

    /// Writes the SSE stream of every partition of `topic` from `initial` until `channel` is finished.
    static func stream(
        log: any EventLog, topic: String, spec: TopicSpec, from initial: [Int64], through channel: AsyncThrowingChannel<[Event], any Error>,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in 0..<spec.partitions {
                group.addTask {
                    for try await batch in log.tail(topic: topic, partition: p, from: initial[p], batchSize: 200, maxBytes: Self.pageBytes) {
                        await channel.send(batch)
                    }
                }
            }
            group.addTask {
                // A comment line every 15 s keeps proxies from closing an idle stream.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(15))
                    await channel.send([])
                }
            }
            var positions = initial
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            for try await batch in channel {
                var text = ""
                if batch.isEmpty { text = ": keep-alive\n\n" }
                for event in batch {
                    positions[event.partition] = event.offset + 1
                    text += "id: \(TailCursor.encode(positions))\nevent: \(event.type)\ndata: \(JSONWriter.string(event.envelopeJSON()))\n\n"
                }
                try await writer.write(ByteBuffer(string: text))
            }
            group.cancelAll()
        }
    }

    static func drafts(from bytes: [UInt8], topic: String) throws -> [EventDraft] {
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if first == UInt8(ascii: "[") {
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes)
            } catch {
                throw StrataError(.malformedJSON, error.reason, at: InputLocation(source: "request body", line: error.line, column: error.column))
            }
            return try (value.arrayValue ?? []).enumerated().map { i, item in
                try EnvelopeReader.draft(from: item, topic: topic, defaultSource: "http", location: InputLocation(source: "request body[\(i)]"))
            }
        }
        var drafts: [EventDraft] = []
        for (i, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            drafts.append(try EnvelopeReader.draft(fromLine: Array(trimmed), topic: topic, defaultSource: "http",
                location: InputLocation(source: "request body", line: i + 1)))
        }
        return drafts
    }
}

/// The tail's resume position: the next offset per partition, as an opaque string.
public enum TailCursor {
    public static func encode(_ offsets: [Int64]) -> String {
        Data(offsets.map(String.init).joined(separator: ",").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ cursor: String, partitions: Int) throws -> [Int64] {
        var b64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else {
            throw APIError(.badRequest, "bad_cursor", "the cursor is not one this server issued")
        }
        let offsets = text.split(separator: ",").compactMap { Int64($0) }
        guard offsets.count == partitions, offsets.allSatisfy({ $0 >= 0 }) else {
            throw APIError(.badRequest, "bad_cursor", "the cursor does not match this topic's \(partitions) partitions")
        }
        return offsets
    }
}
