import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StrataAPI
import StrataApp
import StrataCore
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The live tail (`GET /v1/topics/:topic/tail`, server-sent events) over a real socket: events
/// arrive as they are appended, in order per partition, and the SSE id resumes exactly after the
/// last event a client saw.
@Suite struct TailStreamTests {
    @Test func tailStreamsAndResumesFromItsCursor() async throws {
        try await TestEnvironment.withStrata { strata in
            let router = buildRouter(strata.apiDependencies(writeToken: APIHarness.token, metrics: false), routes: RouteRegistry.all())
            let app = Application(router: router, logger: strata.logger)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                try await strata.producer.append((0..<10).map { demoDraft(key: "k\($0 % 3)", amount: $0, id: "before-\($0)") })

                // From the start: the 10 events already there, then 5 appended while connected.
                let reader = SSEReader(port: port, path: "/v1/topics/demo/tail?from=start")
                let appender = Task {
                    try await Task.sleep(for: .milliseconds(300))
                    try await strata.producer.append((0..<5).map { demoDraft(key: "k\($0 % 3)", amount: 100 + $0, id: "live-\($0)") })
                }
                let first = try await reader.read(events: 15, timeout: .seconds(20))
                try await appender.value
                #expect(first.count == 15)
                #expect(Set(first.compactMap { $0.data["id"]?.stringValue }).count == 15)
                #expect(first.allSatisfy { $0.event == "demo.event" })
                // In offset order within each partition, no gaps.
                for (_, events) in Dictionary(grouping: first, by: { $0.data["partition"]?.intValue ?? -1 }) {
                    let offsets = events.compactMap { $0.data["offset"]?.intValue }
                    #expect(offsets == Array(0..<offsets.count))
                }

                // Resume with the last id seen: only what came after it.
                let cursor = try #require(first.last?.id)
                try await strata.producer.append((0..<4).map { demoDraft(key: "k\($0 % 3)", amount: 200 + $0, id: "after-\($0)") })
                let resumed = try await SSEReader(port: port, path: "/v1/topics/demo/tail", lastEventID: cursor).read(events: 4, timeout: .seconds(20))
                #expect(resumed.compactMap { $0.data["id"]?.stringValue }.sorted() == ["after-0", "after-1", "after-2", "after-3"])

                // A bad cursor is refused before the stream starts.
                let bad = try await client.json("/v1/topics/demo/tail?cursor=nonsense")
                #expect(bad.status == .badRequest)
            }
        }
    }
}

/// A minimal SSE client on a blocking socket (HTTP/1.0, so the body is not chunked): reads until
/// it has `events` events or the timeout passes, then closes the connection.
struct SSEReader: Sendable {
    struct Message: Sendable {
        var id: String?
        var event: String?
        var data: JSONValue
    }

    let port: Int
    let path: String
    var lastEventID: String?

    init(port: Int, path: String, lastEventID: String? = nil) {
        self.port = port
        self.path = path
        self.lastEventID = lastEventID
    }

    func read(events wanted: Int, timeout: Duration) async throws -> [Message] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try readBlocking(events: wanted, timeout: timeout) })
            }
        }
    }

    private func readBlocking(events wanted: Int, timeout: Duration) throws -> [Message] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StrataError(.backend, "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw StrataError(.backend, "connect to port \(port) failed") }
        var slice = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, socklen_t(MemoryLayout<timeval>.size))
        var request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        var messages: [Message] = []
        while messages.count < wanted, ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            if n > 0 { received += buffer[0..<n] }
            messages = Self.parse(received)
        }
        return messages
    }

    /// The events in an HTTP response whose body is an SSE stream.
    static func parse(_ bytes: [UInt8]) -> [Message] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else { return [] }
        var messages: [Message] = []
        for block in text[headerEnd.upperBound...].components(separatedBy: "\n\n") {
            var message = Message(data: .null)
            var hasData = false
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { message.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { message.event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: "), let value = try? JSONParser.parse(String(line.dropFirst(6))) {
                    message.data = value
                    hasData = true
                }
            }
            if hasData { messages.append(message) }
        }
        return messages
    }
}
