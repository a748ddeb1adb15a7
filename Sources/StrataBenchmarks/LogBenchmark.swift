import Foundation
import Logging
import NIOCore
import PostgresNIO
import StrataCore
import StrataPostgres

/// The spine's benchmarks: batched append throughput against raw `COPY` of the same rows into a
/// same-shaped table, in the same run; and single-event appends from concurrent producers.
public struct LogBenchmark: Sendable {
    public var events: Int
    public var batchSize: Int
    public var producers: Int
    public var singleEvents: Int
    public var payloadBytes: Int
    public var rounds: Int

    public init(events: Int = 200_000, batchSize: Int = 1000, producers: Int = 16, singleEvents: Int = 20_000, payloadBytes: Int = 200, rounds: Int = 3) {
        self.rounds = rounds
        self.events = events
        self.batchSize = batchSize
        self.producers = producers
        self.singleEvents = singleEvents
        self.payloadBytes = payloadBytes
    }

    public struct Report: Sendable {
        public var appendEventsPerSecond: Double
        public var copyEventsPerSecond: Double
        public var validatedAppendEventsPerSecond: Double
        public var singleEventsPerSecond: Double
        public var singleP50: Duration
        public var singleP99: Duration
        public var singleMax: Duration

        public var markdown: String {
            """
            | measurement | result |
            |---|---|
            | batched append (prepared events, \(grouped(appendEventsPerSecond)) events/s) vs raw COPY (\(grouped(copyEventsPerSecond)) events/s), medians of alternating rounds | **\(String(format: "%.2f", appendEventsPerSecond / copyEventsPerSecond))x** of raw COPY |
            | batched append including parse + schema validation + partitioning | \(grouped(validatedAppendEventsPerSecond)) events/s |
            | single-event appends, concurrent producers | \(grouped(singleEventsPerSecond)) events/s, p50 \(ms(singleP50)), p99 \(ms(singleP99)), max \(ms(singleMax)) |
            """
        }
    }

    public func run(log: PostgresEventLog, producer: EventProducer, client: PostgresClient, logger: Logger) async throws -> Report {
        let topic = "demo"
        let partitions = try await log.topic(named: topic).partitions

        // 1. Raw COPY of the same rows into a table shaped like strata.events (same keys and indexes).
        try await client.query("DROP TABLE IF EXISTS public.bench_raw_events", logger: logger)
        try await client.query("CREATE TABLE public.bench_raw_events (LIKE strata.events INCLUDING ALL)", logger: logger)
        // COPY and append alternate for `rounds` rounds (fresh ids and rows each round), so a
        // checkpoint or autovacuum pass hits both alike; the medians are reported.
        let clock = ContinuousClock()
        var copyTimes: [Duration] = []
        var appendTimes: [Duration] = []
        for round in 0..<rounds {
            let batchEvents = try (0..<events).map { i in try producer.prepare(makeDraft(i, run: "r\(round)")) }
            var next = [Int64](repeating: Int64(round * events), count: partitions)
            let rows: [[UInt8]] = batchEvents.map { e in
                let offset = next[e.partition]
                next[e.partition] += 1
                return copyRow(e, offset: offset)
            }
            progress("round \(round + 1)/\(rounds): raw COPY of \(events) rows in batches of \(batchSize)...")
            var started = clock.now
            for start in stride(from: 0, to: rows.count, by: batchSize) {
                let chunk = rows[start..<min(start + batchSize, rows.count)]
                try await client.withTransaction(logger: logger) { conn in
                    try await conn.copyFrom(
                        table: "bench_raw_events",
                        columns: ["topic", "partition", "log_offset", "event_id", "key", "type", "schema_version", "source", "compression", "payload"],
                        logger: logger
                    ) { writer in
                        var buffer = ByteBuffer()
                        for row in chunk { buffer.writeBytes(row) }
                        try await writer.write(buffer)
                    }
                }
            }
            copyTimes.append(clock.now - started)
            progress("round \(round + 1)/\(rounds): log append of \(events) events in batches of \(batchSize)...")
            started = clock.now
            for start in stride(from: 0, to: batchEvents.count, by: batchSize) {
                _ = try await log.append(Array(batchEvents[start..<min(start + batchSize, batchEvents.count)]))
            }
            appendTimes.append(clock.now - started)
        }
        let copyTime = copyTimes.sorted()[rounds / 2]
        let appendTime = appendTimes.sorted()[rounds / 2]

        // 3. The whole producer path: envelope parsing, schema validation, partitioning, append.
        let lines = (0..<events).map { i -> [UInt8] in
            let d = makeDraft(i, run: "v")
            return JSONWriter.bytes(["key": .string(d.key), "type": .string(d.type), "id": .string(d.id!), "payload": d.payload])
        }
        progress("validated append of \(events) JSON lines...")
        var started = clock.now
        for start in stride(from: 0, to: lines.count, by: batchSize) {
            var batch: [PreparedEvent] = []
            batch.reserveCapacity(batchSize)
            for (i, line) in lines[start..<min(start + batchSize, lines.count)].enumerated() {
                let draft = try EnvelopeReader.draft(fromLine: line, topic: topic, defaultSource: "bench",
                    location: InputLocation(source: "bench", line: start + i + 1))
                batch.append(try producer.prepare(draft))
            }
            _ = try await log.append(batch)
        }
        let validatedTime = clock.now - started

        // 4. Single-event appends from concurrent producers.
        progress("\(singleEvents) single-event appends from \(producers) producers...")
        let perProducer = singleEvents / producers
        started = clock.now
        let latencies = try await withThrowingTaskGroup(of: LatencyRecorder.self) { group in
            for w in 0..<producers {
                group.addTask {
                    var recorder = LatencyRecorder()
                    for i in 0..<perProducer {
                        let e = try producer.prepare(makeDraft(w * perProducer + i, run: "s"))
                        let t0 = clock.now
                        _ = try await log.append([e])
                        recorder.record(clock.now - t0)
                    }
                    return recorder
                }
            }
            var all = LatencyRecorder()
            for try await r in group { all.merge(r) }
            return all
        }
        let singleTime = clock.now - started
        try await client.query("DROP TABLE public.bench_raw_events", logger: logger)

        return Report(
            appendEventsPerSecond: Double(events) / appendTime.seconds,
            copyEventsPerSecond: Double(events) / copyTime.seconds,
            validatedAppendEventsPerSecond: Double(events) / validatedTime.seconds,
            singleEventsPerSecond: Double(perProducer * producers) / singleTime.seconds,
            singleP50: latencies.percentile(50), singleP99: latencies.percentile(99), singleMax: latencies.percentile(100))
    }

    func makeDraft(_ i: Int, run: String) -> EventDraft {
        let note = String(repeating: "x", count: max(0, payloadBytes - 40))
        return EventDraft(topic: "demo", key: "account-\(i % 10_000)", type: "demo.event", id: "\(run)-\(UUID().uuidString)-\(i)",
            source: "bench", payload: ["amount": .int(i), "note": .string(note)])
    }

    /// One row of COPY text format.
    func copyRow(_ e: PreparedEvent, offset: Int64) -> [UInt8] {
        var out: [UInt8] = []
        func text(_ s: String) {
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
                case 0x09: out += [0x5C, UInt8(ascii: "t")]
                case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                default: out.append(b)
                }
            }
        }
        for field in [e.topic, String(e.partition), String(offset), e.id, e.key, e.type, String(e.schemaVersion), e.source, String(e.compression.rawValue)] {
            text(field)
            out.append(0x09)
        }
        let hex = Array("0123456789abcdef".utf8)
        out += Array(#"\\x"#.utf8)
        for b in e.storedPayload {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        out.append(0x0A)
        return out
    }
}
