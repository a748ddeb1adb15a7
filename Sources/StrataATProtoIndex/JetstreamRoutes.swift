import AsyncAlgorithms
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import HTTPTypes
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import StrataAPI
import StrataATProto
import StrataCore
import Synchronization

/// `GET /subscribe`: the atproto index's events as a Jetstream-style stream, over WebSocket (as
/// Jetstream serves it; text frames, or zstd-compressed binary frames with `compress=true`) or SSE
/// (a request without the WebSocket upgrade; each message's `id` resumes exactly).
public enum JetstreamRoutes {
    public struct Subscription: Sendable {
        public var filter: Jetstream.Filter
        /// Unix microseconds: replay from the first event appended at or after it.
        public var cursor: Int64?
        public var compress: Bool
    }

    /// Reads `wantedCollections`, `wantedDids` (each repeatable), `cursor` and `compress`; a bad one
    /// is a 400 naming it.
    public static func subscription(_ uri: URI) throws -> Subscription {
        let query = uri.queryParameters
        let filter: Jetstream.Filter
        do {
            filter = try Jetstream.Filter(collections: query.getAll("wantedCollections"), dids: query.getAll("wantedDids"))
        } catch {
            throw APIError(.badRequest, "InvalidRequest", error.message)
        }
        var cursor: Int64?
        if let text = query["cursor"] {
            guard let c = Int64(text), c >= 0 else { throw APIError(.badRequest, "InvalidRequest", "cursor must be unix microseconds, got '\(text.prefix(40))'") }
            cursor = c
        }
        let compress = query["compress"].map { $0 == "true" || $0 == "1" } ?? false
        return Subscription(filter: filter, cursor: cursor, compress: compress)
    }

    /// The WebSocket side, for the server's upgrade (`HTTPServerBuilder.http1WebSocketUpgrade`).
    public static func webSocketRouter(log: any EventLog, logger: Logger) -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/subscribe", shouldUpgrade: { request, _ in
            _ = try subscription(request.uri)
            return .upgrade([:])
        }) { inbound, outbound, context in
            let sub = try subscription(context.request.uri)
            let offsets = try await Jetstream.startOffsets(log: log, cursor: sub.cursor)
            Gauge(label: "strata_atproto_subscribers", dimensions: [("transport", "websocket")]).record(subscribers.add(1))
            defer { Gauge(label: "strata_atproto_subscribers", dimensions: [("transport", "websocket")]).record(subscribers.add(-1)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Jetstream clients may send options updates; they are read (and the stream ends when the client leaves).
                group.addTask { for try await _ in inbound {} }
                group.addTask {
                    try await cancelWhenGracefulShutdown {
                        try await Jetstream.stream(log: log, from: offsets, filter: sub.filter) { messages in
                            for m in messages {
                                if sub.compress {
                                    try await outbound.write(.binary(ByteBuffer(bytes: try Zstd.compress(Array(m.json.utf8)))))
                                } else {
                                    try await outbound.write(.text(m.json))
                                }
                            }
                            Counter(label: "strata_atproto_subscribe_messages_total", dimensions: [("transport", "websocket")]).increment(by: messages.count)
                        }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        }
        return router
    }

    static let subscribers = Counting()

    final class Counting: Sendable {
        private let value = Mutex(0)
        func add(_ n: Int) -> Int { value.withLock { $0 += n; return $0 } }
    }

    /// The SSE side, on the API's router.
    static func registerSSE(on router: Router<StrataRequestContext>, log: any EventLog) {
        router.get("/subscribe") { request, _ -> Response in
            let sub = try subscription(request.uri)
            var offsets: [Int64]
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!] {
                let spec = try await log.topic(named: ATProtoEvents.topic)
                offsets = try TailCursor.decode(last, partitions: spec.partitions)
            } else {
                offsets = try await Jetstream.startOffsets(log: log, cursor: sub.cursor)
            }
            let initial = offsets
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                // The stream ends when the server shuts down gracefully (it would hold the shutdown otherwise).
                let channel = AsyncThrowingChannel<[Jetstream.Message], any Error>()
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                try await Jetstream.stream(log: log, from: initial, filter: sub.filter) { await channel.send($0) }
                            } catch {
                                channel.fail(error)
                            }
                        }
                        var positions = initial
                        for try await messages in channel {
                            var text = messages.isEmpty ? ": keep-alive\n\n" : ""
                            for m in messages {
                                positions[m.partition] = m.offset + 1
                                text += "id: \(TailCursor.encode(positions))\ndata: \(m.json)\n\n"
                            }
                            try await writer.write(ByteBuffer(string: text))
                        }
                        group.cancelAll()
                    }
                } onGracefulShutdown: {
                    channel.finish()
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }
}
