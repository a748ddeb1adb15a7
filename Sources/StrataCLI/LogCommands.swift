import ArgumentParser
import Foundation
import StrataApp
import StrataCore
import StrataKafka

struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the topics with their partitions and end offsets.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        let asJSON = json
        try await options.run { strata in
            var rows: [JSONValue] = []
            if let kafka = strata.kafkaLog {
                // Kafka: offsets have holes (transaction markers), so no event count; low and high
                // watermarks per partition.
                var lines: [[String]] = [["TOPIC", "PARTITIONS", "LOW WATERMARKS", "HIGH WATERMARKS", "TYPES"]]
                for topic in try await strata.log.topics() {
                    let marks = try await kafka.watermarks(topic: topic.name)
                    rows.append(["topic": .string(topic.name), "partitions": .int(topic.partitions),
                        "start_offsets": .array(marks.map { .int($0.low) }), "end_offsets": .array(marks.map { .int($0.high) }),
                        "types": .array(topic.eventTypes.map { .string($0) })])
                    lines.append([topic.name, String(topic.partitions), marks.map { String($0.low) }.joined(separator: ","),
                        marks.map { String($0.high) }.joined(separator: ","), topic.eventTypes.joined(separator: ",")])
                }
                if asJSON { printLine(JSONWriter.string(.array(rows))) } else { printLine(TextTable.render(lines)) }
                return
            }
            var lines: [[String]] = [["TOPIC", "PARTITIONS", "EVENTS", "END OFFSETS", "TYPES"]]
            for topic in try await strata.log.topics() {
                let ends = try await strata.log.endOffsets(topic: topic.name)
                rows.append(["topic": .string(topic.name), "partitions": .int(topic.partitions),
                    "end_offsets": .array(ends.map { .int($0) }), "types": .array(topic.eventTypes.map { .string($0) })])
                lines.append([topic.name, String(topic.partitions), String(ends.reduce(0, +)),
                    ends.map(String.init).joined(separator: ","), topic.eventTypes.joined(separator: ",")])
            }
            if asJSON { printLine(JSONWriter.string(.array(rows))) } else { printLine(TextTable.render(lines)) }
        }
    }
}

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events (JSON Lines) to a topic.",
        discussion: """
            Each line is an envelope: {"key": ..., "type": ..., "schema_version": 1, "payload": {...}} with optional \
            id, source, occurred_at and headers. The whole input is validated before anything is appended: one \
            bad line appends nothing. Events without an id get one derived from their content, so producing the \
            same input twice adds nothing the second time.
            """)

    @OptionGroup var options: GlobalOptions
    @Argument(help: "The topic to append to.") var topic: String
    @Option(name: .shortAndLong, help: "Read from this file instead of standard input.") var file: String?
    @Option(name: .customLong("batch-size"), help: "Events per append transaction.") var batchSize: Int = 1000

    func run() async throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        let (source, bytes) = try readInput()
        let topic = self.topic
        let batchSize = self.batchSize
        try await options.run { strata in
            var prepared: [PreparedEvent] = []
            var lineNumber = 0
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
                if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                let location = InputLocation(source: source, line: lineNumber)
                let draft = try EnvelopeReader.draft(fromLine: Array(trimmed), topic: topic, defaultSource: "cli", location: location)
                prepared.append(try strata.producer.prepare(draft))
            }
            try await appendReporting(prepared, strata, what: "events to '\(topic)'", batchSize: batchSize)
        }
    }

    private func readInput() throws -> (String, [UInt8]) {
        if let file, file != "-" {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("error: cannot read \(file)\n".utf8))
                throw ExitCode(66)
            }
            return (file, Array(data))
        }
        return ("stdin", Array(FileHandle.standardInput.readDataToEndOfFile()))
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's events as JSON Lines, optionally following new ones.")

    @OptionGroup var options: GlobalOptions
    @Argument(help: "The topic to read.") var topic: String
    @Option(help: "Only this partition (default: all).") var partition: Int?
    @Option(help: "Start at this offset in each partition (negative: that many before the end).") var from: Int64 = 0
    @Flag(help: "Keep waiting for new events.") var follow = false
    @Option(help: "Stop after this many events.") var limit: Int?

    func run() async throws {
        let (topic, partition, from, follow, limit) = (self.topic, self.partition, self.from, self.follow, self.limit)
        try await options.run { strata in
            let spec = try await strata.log.topic(named: topic)
            let ends = try await strata.log.endOffsets(topic: topic)
            let partitions: [Int]
            if let partition {
                guard partition >= 0 && partition < spec.partitions else {
                    throw StrataError(.notFound, "topic '\(topic)' has partitions 0-\(spec.partitions - 1), not \(partition)")
                }
                partitions = [partition]
            } else {
                partitions = Array(0..<spec.partitions)
            }
            let printer = LinePrinter(limit: limit)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in partitions {
                    let start = from >= 0 ? from : max(0, ends[p] + from)
                    group.addTask {
                        if follow {
                            for try await batch in strata.log.tail(topic: topic, partition: p, from: start) {
                                if await !printer.print(batch) { return }
                            }
                        } else {
                            var next = start
                            while next < ends[p] {
                                let batch = try await strata.log.read(topic: topic, partition: p, from: next, limit: 1000)
                                guard let last = batch.last else { break }
                                if await !printer.print(batch.filter { $0.offset < ends[p] }) { return }
                                next = last.offset + 1
                            }
                        }
                    }
                }
                // With a limit, the first partition to reach it ends the others.
                for try await _ in group where await printer.done {
                    group.cancelAll()
                }
            }
        }
    }
}

/// Serializes output from concurrent partition readers and counts towards --limit.
actor LinePrinter {
    let limit: Int?
    private var printed = 0
    init(limit: Int?) { self.limit = limit }

    var done: Bool { limit.map { printed >= $0 } ?? false }

    /// Prints what fits under the limit; returns false once the limit is reached.
    func print(_ events: [Event]) -> Bool {
        var out = ""
        for e in events {
            if let limit, printed >= limit { break }
            out += JSONWriter.string(e.envelopeJSON()) + "\n"
            printed += 1
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        return !done
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations and declare the topology's topics.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await options.run { strata in
            printLine("migrated \(strata.databaseDescription); topics: \(strata.topology.sortedTopics.map(\.name).joined(separator: ", "))")
        }
    }
}
