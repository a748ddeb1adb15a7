import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StrataAPI
import StrataApp
import StrataCore
import StrataTestSupport
import Testing

@Suite struct LogAPITests {
    let auth: HTTPFields = [.authorization: "Bearer \(APIHarness.token)"]

    @Test func appendReadAndErrors() async throws {
        try await APIHarness.withAPI { strata, client in
            let lines = (0..<3).map { #"{"key":"k","type":"demo.event","payload":{"amount":\#($0)}}"# }.joined(separator: "\n")
            // No token: 401, nothing appended.
            let denied = try await client.json("/v1/topics/demo/events", method: .post, body: lines)
            #expect(denied.status == .unauthorized)
            #expect(denied.json["error"] == "unauthorized")
            let wrong = try await client.json("/v1/topics/demo/events", method: .post, headers: [.authorization: "Bearer nope"], body: lines)
            #expect(wrong.status == .unauthorized)
            // With the token: 201 and receipts.
            let created = try await client.json("/v1/topics/demo/events", method: .post, headers: auth, body: lines)
            #expect(created.status == .created)
            let receipts = try #require(created.json["receipts"]?.arrayValue)
            #expect(receipts.compactMap { $0["offset"]?.intValue } == [0, 1, 2])
            // The same again: 200, all duplicates.
            let again = try await client.json("/v1/topics/demo/events", method: .post, headers: auth, body: lines)
            #expect(again.status == .ok)
            #expect(again.json["receipts"]?.arrayValue?.allSatisfy { $0["duplicate"] == .bool(true) } == true)
            // A JSON array works too; a bad element rejects the whole request with its index.
            let array = #"[{"key":"a","type":"demo.event","payload":{}},{"key":"b","type":"demo.event","payload":{"amount":"x"}}]"#
            let bad = try await client.json("/v1/topics/demo/events", method: .post, headers: auth, body: array)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.json["error"] == "schema_violation")
            #expect(bad.json["location"]?["source"] == "request body[1]")
            let malformed = try await client.json("/v1/topics/demo/events", method: .post, headers: auth, body: "{\"key\":")
            #expect(malformed.status == .unprocessableContent)
            #expect(malformed.json["error"] == "malformed_json")
            let unknown = try await client.json("/v1/topics/nope/events", method: .post, headers: auth, body: lines)
            #expect(unknown.status == .notFound)
            #expect(unknown.json["error"] == "unknown_topic")
            #expect(try await strata.log.endOffsets(topic: "demo").reduce(0, +) == 3)

            // Reads, with paging.
            let p = Partitioner.partition(forKey: "k", partitions: 4)
            let page = try await client.json("/v1/topics/demo/partitions/\(p)/events?limit=2")
            #expect(page.status == .ok)
            #expect(page.json["events"]?.arrayValue?.count == 2)
            #expect(page.json["has_more"] == .bool(true))
            #expect(page.json["next_from"] == .int(2))
            let rest = try await client.json("/v1/topics/demo/partitions/\(p)/events?from=2&limit=2")
            #expect(rest.json["has_more"] == .bool(false))
            #expect(try await client.json("/v1/topics/demo/partitions/9/events").status == .notFound)
            #expect(try await client.json("/v1/topics/demo/partitions/0/events?limit=5000").status == .badRequest)
            #expect(try await client.json("/v1/topics/demo/partitions/0/events?from=abc").status == .badRequest)
            let topics = try await client.json("/v1/topics")
            #expect(topics.json["topics"]?.arrayValue?.contains { $0["topic"] == "demo" } == true)
        }
    }

    @Test func tailCursorsRoundTripAndRejectGarbage() throws {
        let cursor = TailCursor.encode([3, 0, 17, 2])
        #expect(try TailCursor.decode(cursor, partitions: 4) == [3, 0, 17, 2])
        #expect(throws: APIError.self) { try TailCursor.decode(cursor, partitions: 8) }
        #expect(throws: APIError.self) { try TailCursor.decode("!!!", partitions: 4) }
    }

    @Test func projectionStatusLagAndHealth() async throws {
        try await APIHarness.withAPI { strata, client in
            try await strata.producer.append((0..<10).map { demoDraft(key: "k\($0)") })
            try await ProjectionHarness.runUntilCaughtUp(strata, [DemoCountsProjectionFixture.make()])
            let health = try await client.json("/health")
            #expect(health.status == .ok)
            #expect(health.json["status"] == "ok")
            #expect(health.json["projections"]?.arrayValue?.first?["lag_events"] == .int(0))
            let lag = try await client.json("/v1/lag?projection=demo_counts")
            #expect(lag.json["partitions"]?.arrayValue?.count == 4)
            let status = try await client.json("/v1/projections")
            #expect(status.json["projections"]?.arrayValue?.first?["live_generation"] == .int(1))
            let dl = try await client.json("/v1/dead-letters")
            #expect(dl.json["dead_letters"] == .array([]))
            #expect(try await client.json("/v1/dead-letters?status=weird").status == .badRequest)
        }
    }
}
