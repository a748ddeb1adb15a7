import Foundation
import Logging
import PostgresNIO
import StrataApp
import StrataCore
@testable import StrataPostgres
import StrataTestSupport
import Testing

/// What is specific to the PostgreSQL backend: its notification listener, migrations and the
/// embedded cluster.
@Suite struct PostgresBackendTests {
    /// With the log running as a service, waiters are woken through the shared LISTEN connection.
    @Test func sharedListenerWakesWaiters() async throws {
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await strata.postgresLog.run() }
                // Let the listener connect.
                try await Task.sleep(for: .milliseconds(300))
                let p = Partitioner.partition(forKey: "h", partitions: 4)
                let clock = ContinuousClock()
                async let woke = strata.log.waitForEvents(topic: "demo", partition: p, beyond: 0, timeout: .seconds(60))
                try await Task.sleep(for: .milliseconds(200))
                try await strata.producer.append([demoDraft(key: "h")])
                // Timed from the append's return: the append itself took over 10 s once on a loaded 2-core machine.
                let appended = clock.now
                #expect(try await woke == true)
                // Woken, not timed out (60 s): half of it at most, even on a machine loaded by the rest of the suite.
                #expect(clock.now - appended < .seconds(30))
                // Already there: returns at once.
                #expect(try await strata.log.waitForEvents(topic: "demo", partition: p, beyond: 0, timeout: .seconds(20)) == true)
                // Nothing new: times out.
                #expect(try await strata.log.waitForEvents(topic: "demo", partition: p, beyond: 1, timeout: .milliseconds(200)) == false)
                group.cancelAll()
            }
        }
    }

    /// A topic whose payloads may be large reads few events to a row (PostgreSQL refuses values
    /// over 1 GB): here one, for 64 MiB payloads, and 3 MiB events with headers come back whole.
    @Test func largePayloadTopicsReadFewEventsPerRow() async throws {
        try await TestEnvironment.withStrata { strata in
            try await strata.log.createTopics([TopicSpec(name: "blobs", partitions: 1, maxPayloadBytes: 64 << 20)])
            let payloads = (0..<4).map { i in Array("\"\(String(repeating: Character(String(i)), count: 3 << 20))\"".utf8) }
            _ = try await strata.log.append(payloads.enumerated().map { i, bytes in
                PreparedEvent(topic: "blobs", partition: 0, key: "k", type: "blob", schemaVersion: 1, id: "blob-\(i)", source: "test",
                    occurredAt: nil, headers: ["n": "\(i)"], storedPayload: bytes, compression: .none)
            })
            let events = try await strata.log.read(topic: "blobs", partition: 0, from: 0, limit: 10)
            #expect(events.map(\.offset) == [0, 1, 2, 3])
            #expect(events.map(\.payload) == payloads)
            #expect(events.map { $0.headers["n"] } == ["0", "1", "2", "3"])
        }
    }

    /// Reads cover offset ranges in chunks (64 offsets for this 1 MiB-payload topic): across chunk boundaries every
    /// event comes back once and in order, and a range emptied behind the log's back (offsets are
    /// gapless, so only by hand) does not end the read there.
    @Test func readsAcrossChunksAndPastAGap() async throws {
        try await TestEnvironment.withStrata { strata in
            let p = Partitioner.partition(forKey: "g", partitions: 4)
            for start in stride(from: 0, to: 3000, by: 500) {
                try await strata.producer.append((start..<start + 500).map { demoDraft(key: "g", id: "gap-\($0)") })
            }
            let all = try await strata.log.read(topic: "demo", partition: p, from: 0, limit: 5000)
            #expect(all.map(\.offset) == Array(0..<3000))
            // Limits and offsets far past the end: ranges stop at the partition's end, sums saturate.
            #expect(try await strata.log.read(topic: "demo", partition: p, from: 0, limit: Int.max).count == 3000)
            #expect(try await strata.log.read(topic: "demo", partition: p, from: Int64.max - 5, limit: 1000).isEmpty)
            let middle = try await strata.log.read(topic: "demo", partition: p, from: 1000, limit: 1100)
            #expect(middle.map(\.offset) == Array(1000..<2100))
            // One event per row, the fallback for chunks too large for PostgreSQL, reads the same.
            let single = try await strata.postgresLog.readChunked(topic: "demo", partition: p, from: 1000, count: 1100, chunk: 1).events
            #expect(single == middle)
            #expect(try await strata.log.read(topic: "demo", partition: p, from: -5, limit: 3).map(\.offset) == [0, 1, 2])
            #expect(try await strata.log.read(topic: "demo", partition: Int(Int32.max) + 1, from: 0, limit: 3).isEmpty)

            try await strata.client.query(
                "DELETE FROM strata.events WHERE topic = 'demo' AND partition = \(p) AND log_offset >= 1000 AND log_offset < 2500")
            let afterGap = try await strata.log.read(topic: "demo", partition: p, from: 1000, limit: 1000)
            #expect(afterGap.map(\.offset) == Array(2500..<3000))
            let straddling = try await strata.log.read(topic: "demo", partition: p, from: 900, limit: 1000)
            #expect(straddling.map(\.offset) == Array(900..<1000))
            let budgeted = try await strata.log.read(topic: "demo", partition: p, from: 900, limit: 1000, maxBytes: 1 << 20)
            #expect(budgeted.map(\.offset) == Array(900..<1000) + Array(2500..<3000))
            #expect(try await strata.log.read(topic: "demo", partition: p, from: 3000, limit: 1000).isEmpty)
        }
    }

    @Test func migrationsAreAppliedOnceAndRecorded() async throws {
        try await TestEnvironment.withStrata { strata in
            // A second run applies nothing.
            let again = try await MigrationRunner.migrate(component: LogMigrations.component, LogMigrations.all, client: strata.client, logger: strata.logger)
            #expect(again.isEmpty)
            let rows = try await strata.client.query("SELECT component, version FROM strata.migrations ORDER BY component, version")
                .decode((String, Int).self).reduce(into: [String]()) { $0.append("\($1.0):\($1.1)") }
            #expect(rows.contains("log:1"))
        }
    }

    @Test func partitionCountIsFixedOnceATopicExists() async throws {
        try await TestEnvironment.withStrata { strata in
            do {
                try await strata.log.createTopics([TopicSpec(name: "demo", partitions: 8, eventTypes: ["demo.event"])])
                Issue.record("changed the partition count")
            } catch let error as StrataError {
                #expect(error.code == .invalidTopology)
                #expect(error.message.contains("has 4 partitions in the log but the topology declares 8"))
            }
        }
    }

    /// `strata db start|status|stop` on a fresh data directory: creates, reuses, stops.
    @Test func embeddedClusterLifecycle() async throws {
        let dir = URL(fileURLWithPath: "/tmp").appendingPathComponent("strata-embedded-\(UUID().uuidString.prefix(8))")
        do {
            try await Self.lifecycle(dir)
        } catch {
            _ = try? await CLIRunner.run(["db", "stop", "--data-dir", dir.path])
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        _ = try? await CLIRunner.run(["db", "stop", "--data-dir", dir.path])
        try? FileManager.default.removeItem(at: dir)
    }

    static func lifecycle(_ dir: URL) async throws {
        let before = try await CLIRunner.run(["db", "status", "--data-dir", dir.path])
        #expect(before.status == 3)
        #expect(before.stdout.contains("not initialized"))
        let started = try await CLIRunner.run(["db", "start", "--data-dir", dir.path])
        #expect(started.status == 0, "\(started.stderr)")
        let running = try await CLIRunner.run(["db", "status", "--data-dir", dir.path])
        #expect(running.status == 0)
        #expect(running.stdout.contains("running"))
        // A command without a URL uses (and would start) the embedded cluster.
        let topics = try await CLIRunner.run(["topics", "--json", "--data-dir", dir.path])
        #expect(topics.status == 0, "\(topics.stderr)")
        #expect(topics.stdout.contains(#""topic":"demo""#))
        let stopped = try await CLIRunner.run(["db", "stop", "--data-dir", dir.path])
        #expect(stopped.status == 0)
        #expect(try await CLIRunner.run(["db", "status", "--data-dir", dir.path]).stdout.contains("stopped"))
        // Reused on the next run: the topic is still there after a restart.
        let restarted = try await CLIRunner.run(["topics", "--json", "--data-dir", dir.path])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(restarted.stdout.contains(#""topic":"demo""#))
    }

    @Test func badDatabaseURLsAreClearErrors() async throws {
        let result = try await CLIRunner.run(["topics", "--database-url", "mysql://x@y/z"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("database URL must look like postgres://"))
    }
}

/// COPY text rows survive the trip into PostgreSQL byte for byte, whatever the field holds.
@Suite struct CopyTextRowsTests {
    @Test func fieldsRoundTripThroughCopy() async throws {
        try await TestEnvironment.withDatabase { database in try await database.withClient { client in
            let logger = Logger(label: "copy-test")
            try await client.query("CREATE TABLE copy_check (t text, i bigint, d timestamptz, b bytea, n text)", logger: logger)
            let texts = ["plain", "tab\there", "line\nbreak", "back\\slash", "cr\rlf", "\\N", "héllo ✓", ""]
            let dates = [Date(timeIntervalSince1970: 1_700_000_000.123456), Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -86_400.5)]
            var rows = CopyTextRows()
            for (i, text) in texts.enumerated() {
                rows.append(text)
                rows.append(Int64(i % 2 == 0 ? -1 : 1) * Int64(i) * 1_000_000_007)
                rows.append(dates[i % dates.count])
                rows.appendBytea([0, 9, 10, 92, 255, UInt8(i)])
                rows.appendNull()
                rows.endRow()
            }
            #expect(rows.rows == texts.count)
            try await client.withConnection { conn in
                try await conn.copyFrom(table: "copy_check", logger: logger) { try await $0.write(rows.buffer) }
            }
            var seen = 0
            for try await (t, i, d, b, n) in try await client.query("SELECT t, i, d, b, n FROM copy_check ORDER BY i", logger: logger)
                .decode((String, Int64, Date, ByteBuffer, String?).self)
            {
                let index = Int(i.magnitude / 1_000_000_007)
                #expect(t == texts[index])
                #expect(abs(d.timeIntervalSince(dates[index % dates.count])) < 0.000_001)
                #expect(Array(b.readableBytesView) == [0, 9, 10, 92, 255, UInt8(index)])
                #expect(n == nil)
                seen += 1
            }
            #expect(seen == texts.count)
        } }
    }
}
