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

    /// One run of single-event appends from concurrent producers.
    public struct SingleRun: Sendable {
        public var eventsPerSecond: Double
        public var p50: Duration
        public var p99: Duration
        public var max: Duration
    }

    public struct Report: Sendable {
        /// Per round, COPY and append alternating.
        public var appendEventsPerSecond: [Double]
        public var copyEventsPerSecond: [Double]
        public var validatedAppendEventsPerSecond: [Double]
        public var single: [SingleRun]
        public var producers: Int

        public var ratios: [Double] { zip(appendEventsPerSecond, copyEventsPerSecond).map { $0 / $1 } }
        public var medianRatio: Double { median(appendEventsPerSecond) / median(copyEventsPerSecond) }

        public var markdown: String {
            let all = { (rates: [Double]) in rates.map(grouped).joined(separator: " / ") }
            let x = { (r: Double) in String(format: "%.2fx", r) }
            return """
                | measurement | result |
                |---|---|
                | batched append (prepared events), \(appendEventsPerSecond.count) rounds | \(all(appendEventsPerSecond)) events/s |
                | raw COPY of the same rows, \(copyEventsPerSecond.count) rounds (alternating with the appends) | \(all(copyEventsPerSecond)) events/s |
                | append / COPY per round | \(ratios.map(x).joined(separator: " / ")) (lowest \(x(ratios.min() ?? 0))) |
                | append / COPY, medians | **\(x(medianRatio))** |
                | batched append including parse + schema validation + partitioning, \(validatedAppendEventsPerSecond.count) rounds | \(all(validatedAppendEventsPerSecond)) events/s |
                \(single.enumerated().map { i, run in
                    "| single-event appends, \(producers) concurrent producers, run \(i + 1) | \(grouped(run.eventsPerSecond)) events/s, p50 \(ms(run.p50)), p99 \(ms(run.p99)), max \(ms(run.max)) |"
                }.joined(separator: "\n"))
                | single-event p99 over the \(single.count) runs (lowest – highest) | \(ms(single.map(\.p99).min() ?? .zero)) – **\(ms(single.map(\.p99).max() ?? .zero))** |
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
            progress("  COPY \(grouped(Double(events) / copyTimes.last!.seconds)) events/s, append \(grouped(Double(events) / appendTimes.last!.seconds)) events/s")
        }
        try await client.query("DROP TABLE public.bench_raw_events", logger: logger)

        // 3. The whole producer path: envelope parsing, schema validation, partitioning, append.
        var validated: [Double] = []
        for round in 0..<rounds {
            let lines = (0..<events).map { i -> [UInt8] in
                let d = makeDraft(i, run: "v\(round)")
                return JSONWriter.bytes(["key": .string(d.key), "type": .string(d.type), "id": .string(d.id!), "payload": d.payload])
            }
            progress("round \(round + 1)/\(rounds): validated append of \(events) JSON lines...")
            let started = clock.now
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
            validated.append(Double(events) / (clock.now - started).seconds)
        }

        // 4. Single-event appends from concurrent producers.
        var single: [SingleRun] = []
        let perProducer = singleEvents / producers
        for round in 0..<rounds {
            progress("round \(round + 1)/\(rounds): \(singleEvents) single-event appends from \(producers) producers...")
            let started = clock.now
            let latencies = try await withThrowingTaskGroup(of: LatencyRecorder.self) { group in
                for w in 0..<producers {
                    group.addTask {
                        var recorder = LatencyRecorder()
                        for i in 0..<perProducer {
                            let e = try producer.prepare(makeDraft(w * perProducer + i, run: "s\(round)"))
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
            let run = SingleRun(eventsPerSecond: Double(perProducer * producers) / (clock.now - started).seconds,
                p50: latencies.percentile(50), p99: latencies.percentile(99), max: latencies.percentile(100))
            single.append(run)
            progress("  \(grouped(run.eventsPerSecond)) events/s, p50 \(ms(run.p50)), p99 \(ms(run.p99)), max \(ms(run.max))")
        }

        return Report(
            appendEventsPerSecond: appendTimes.map { Double(events) / $0.seconds },
            copyEventsPerSecond: copyTimes.map { Double(events) / $0.seconds },
            validatedAppendEventsPerSecond: validated, single: single, producers: producers)
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
