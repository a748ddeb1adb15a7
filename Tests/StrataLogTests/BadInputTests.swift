import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// Bad input never reaches the log: each kind gets an error naming the input, the place and the
/// reason, and nothing of the batch is appended.
@Suite struct BadInputTests {
    func lines(_ l: [String]) -> [UInt8] { Array(l.joined(separator: "\n").utf8) }

    /// Reads every line and appends the batch the way `strata produce` does.
    func produce(_ producer: EventProducer, _ text: [String], topic: String = "demo") async throws {
        var prepared: [PreparedEvent] = []
        for (i, line) in text.enumerated() {
            let draft = try EnvelopeReader.draft(fromLine: Array(line.utf8), topic: topic, defaultSource: "test",
                location: InputLocation(source: "input.jsonl", line: i + 1))
            prepared.append(try producer.prepare(draft))
        }
        _ = try await producer.log.append(prepared)
    }

    static let good = #"{"key":"a","type":"demo.event","payload":{"amount":1}}"#

    @Test(arguments: [
        (#"{"key":"b","type":"demo.event","payload":{"amount":1}"#, StrataError.Code.malformedJSON, "unexpected end of input"),
        (#"{"key":"b","type":"demo.event","payload":{"amount":"ten"}}"#, .schemaViolation, "payload/amount: expected integer, found string"),
        (#"{"key":"b","type":"demo.event","payload":{"amount":1e20}}"#, .schemaViolation, "greater than the maximum"),
        (#"{"key":"b","type":"demo.nope","payload":{}}"#, .unknownEventType, "'demo.nope' is not allowed on topic 'demo'"),
        (#"{"key":"b","type":"demo.event","schema_version":9,"payload":{}}"#, .unknownEventType, "version 9"),
        (#"{"key":"b","type":"demo.event","payload":{},"colour":"red"}"#, .invalidEnvelope, "unknown envelope field 'colour'"),
        (#"{"type":"demo.event","payload":{}}"#, .invalidEnvelope, "missing string field 'key'"),
        (#"{"key":"b","type":"demo.event","occurred_at":"yesterday","payload":{}}"#, .invalidEnvelope, "occurred_at"),
        (#"[1,2]"#, .invalidEnvelope, "expected a JSON object"),
    ])
    func badLineAppendsNothing(line: String, code: StrataError.Code, reason: String) async throws {
        try await LogBackend.postgres.withLog { log, producer in
            do {
                try await produce(producer, [Self.good, Self.good.replacingOccurrences(of: "\"a\"", with: "\"c\""), line])
                Issue.record("accepted \(line)")
            } catch let error as StrataError {
                #expect(error.code == code, "\(error)")
                #expect(error.location == InputLocation(source: "input.jsonl", line: 3), "\(error)")
                #expect(error.message.contains(reason), "\(error)")
            }
            #expect(try await log.endOffsets(topic: "demo").reduce(0, +) == 0)
        }
    }

    @Test func unknownTopicAppendsNothing() async throws {
        try await LogBackend.postgres.withLog { log, producer in
            do {
                try await produce(producer, [Self.good], topic: "ledgr")
                Issue.record("accepted an unknown topic")
            } catch let error as StrataError {
                #expect(error.code == .unknownTopic)
                #expect(error.description == "input.jsonl:1: unknown topic 'ledgr' (known topics: \(producer.topology.sortedTopics.map(\.name).joined(separator: ", ")))")
            }
            #expect(try await log.endOffsets(topic: "demo").reduce(0, +) == 0)
        }
    }

    @Test func oversizePayloadAppendsNothing() async throws {
        try await LogBackend.postgres.withLog { log, producer in
            let limit = producer.topology.topics["demo"]!.maxPayloadBytes
            let huge = String(repeating: "x", count: limit)
            do {
                try await produce(producer, [Self.good, #"{"key":"b","type":"demo.event","payload":{"blob":"\#(huge)"}}"#])
                Issue.record("accepted an oversize payload")
            } catch let error as StrataError {
                #expect(error.code == .payloadTooLarge)
                #expect(error.location?.line == 2)
                #expect(error.message.contains("exceeds the \(limit)-byte limit of topic 'demo'"))
            }
            #expect(try await log.endOffsets(topic: "demo").reduce(0, +) == 0)
        }
    }

    /// The CLI end to end: a bad line names file and line, exits 65, and appends nothing; the good
    /// file appends; the same file again adds nothing.
    @Test func produceCommandReportsAndAppendsNothing() async throws {
        try await TestEnvironment.withDatabase { db in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let bad = dir.appendingPathComponent("bad.jsonl")
            try (Self.good + "\n\n" + #"{"key":"b","type":"demo.event","payload":{"amount":true}}"# + "\n").write(to: bad, atomically: true, encoding: .utf8)
            let failed = try await CLIRunner.run(["produce", "demo", "--file", bad.path, "--database-url", db.urlString])
            #expect(failed.status == 65)
            #expect(failed.stderr.contains("error: \(bad.path):3: demo.event v1: payload/amount: expected integer, found boolean"), "\(failed.stderr)")
            let empty = try await CLIRunner.run(["tail", "demo", "--database-url", db.urlString])
            #expect(empty.status == 0)
            #expect(empty.stdout.isEmpty)

            let good = dir.appendingPathComponent("good.jsonl")
            try (0..<10).map { #"{"key":"k\#($0)","type":"demo.event","payload":{"amount":\#($0)}}"# }.joined(separator: "\n")
                .write(to: good, atomically: true, encoding: .utf8)
            let ok = try await CLIRunner.run(["produce", "demo", "--file", good.path, "--database-url", db.urlString])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stderr.contains("appended 10 events to 'demo' (0 already in the log)"))
            let again = try await CLIRunner.run(["produce", "demo", "--file", good.path, "--database-url", db.urlString])
            #expect(again.stderr.contains("appended 0 events to 'demo' (10 already in the log)"))
            let tail = try await CLIRunner.run(["tail", "demo", "--database-url", db.urlString])
            let printed = try tail.stdout.split(separator: "\n").map { try JSONParser.parse(String($0)) }
            #expect(printed.count == 10)
            #expect(Set(printed.compactMap { $0["key"]?.stringValue }) == Set((0..<10).map { "k\($0)" }))
            let unknown = try await CLIRunner.run(["tail", "nope", "--database-url", db.urlString])
            #expect(unknown.status == 65)
            #expect(unknown.stderr.contains("unknown topic 'nope'"))

            // A NUL in a key is bad input (65, named), not "database unavailable" (69).
            let nul = dir.appendingPathComponent("nul.jsonl")
            try #"{"key":"a\u0000b","type":"demo.event","payload":{"amount":1}}"#.write(to: nul, atomically: true, encoding: .utf8)
            let refused = try await CLIRunner.run(["produce", "demo", "--file", nul.path, "--database-url", db.urlString])
            #expect(refused.status == 65, "\(refused.stderr)")
            #expect(refused.stderr.contains("event key contains a NUL character"), "\(refused.stderr)")
            // An id re-used with other content is refused (65), naming the id.
            let reused = dir.appendingPathComponent("reused.jsonl")
            try #"{"key":"k0","type":"demo.event","id":"fixed-1","payload":{"amount":1}}"#.write(to: reused, atomically: true, encoding: .utf8)
            #expect(try await CLIRunner.run(["produce", "demo", "--file", reused.path, "--database-url", db.urlString]).status == 0)
            try #"{"key":"k0","type":"demo.event","id":"fixed-1","payload":{"amount":2}}"#.write(to: reused, atomically: true, encoding: .utf8)
            let conflict = try await CLIRunner.run(["produce", "demo", "--file", reused.path, "--database-url", db.urlString])
            #expect(conflict.status == 65, "\(conflict.stderr)")
            #expect(conflict.stderr.contains("fixed-1"), "\(conflict.stderr)")
        }
    }
}
