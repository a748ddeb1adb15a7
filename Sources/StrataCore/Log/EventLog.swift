import Foundation

/// A topic as the log knows it.
public struct TopicSpec: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    /// Event types allowed on the topic; empty allows every type that has a schema.
    public var eventTypes: [String]
    /// Largest accepted payload (canonical JSON, before compression).
    public var maxPayloadBytes: Int
    public var description: String

    public static let defaultMaxPayloadBytes = 1 << 20

    public init(
        name: String, partitions: Int, eventTypes: [String] = [], maxPayloadBytes: Int = TopicSpec.defaultMaxPayloadBytes,
        description: String = ""
    ) {
        self.name = name
        self.partitions = partitions
        self.eventTypes = eventTypes
        self.maxPayloadBytes = maxPayloadBytes
        self.description = description
    }
}

/// What a backend guarantees beyond the contract every backend keeps.
public struct LogCapabilities: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Offsets are 0, 1, 2, ... with no holes: the end offset is the number of events (PostgreSQL).
    /// Without it (Kafka), transaction markers and skipped duplicates leave offsets that hold no
    /// event; offsets still only grow and never change meaning.
    public static let denseOffsets = LogCapabilities(rawValue: 1)
    /// A duplicate id is refused at append time with the original's receipt, whichever process
    /// appended the original (PostgreSQL's unique index). Without it, a duplicate racing in from
    /// another writer may be stored, and readers skip it (see `KafkaEventLog`).
    public static let exactDuplicateReceipts = LogCapabilities(rawValue: 2)
}

/// A read's events and where the next read continues.
public struct LogBatch: Sendable {
    public var events: [Event]
    /// Past the last event returned and past any offsets the read stepped over that hold no event,
    /// so a reader at the end of a partition with holes is at its end offset (caught up).
    public var next: Int64

    public init(events: [Event], next: Int64) {
        self.events = events
        self.next = next
    }
}

/// The append-only log: topics of partitions of strictly increasing offsets.
///
/// The contract maps one-to-one onto Kafka: a topic has a fixed number of partitions, ordering holds
/// only within a partition, an offset is assigned by the log, and a reader positions itself by
/// (topic, partition, offset). Every backend passes the same contract tests.
///
/// Invariants every backend keeps:
/// - offsets in a partition only grow, are permanent, and become visible in offset order: a reader
///   that has seen offset N never later finds an event with an offset below N. Whether they are
///   also dense (no holes) is a capability (`LogCapabilities.denseOffsets`); readers never assume
///   `last offset + 1` is the next event's offset, and a partition is caught up when the reader's
///   position (`LogBatch.next`) is at or past its end offset;
/// - `append` is all or nothing for the whole batch, across partitions;
/// - an event whose (topic, id) is already in the log does not reach readers twice: its receipt
///   carries the original offset and `duplicate == true` (exactly so with
///   `LogCapabilities.exactDuplicateReceipts`).
public protocol EventLog: Sendable {
    /// What this backend guarantees beyond the contract.
    var capabilities: LogCapabilities { get }

    /// What keeps this process's log from working now, for `/health` and `/metrics` (a Kafka
    /// writer fenced by a newer instance, ...); empty when nothing does.
    var problems: [LogProblem] { get }

    /// Reads like `read` and also says where the next read continues (past holes).
    func readBatch(topic: String, partition: Int, from offset: Int64, limit: Int, maxBytes: Int?) async throws -> LogBatch

    /// Declares topics. Existing topics with the same partition count are left alone; a different
    /// count is an `invalidTopology` error (partitions are fixed, as in Kafka without repartitioning).
    func createTopics(_ topics: [TopicSpec]) async throws

    /// The topics the log holds.
    func topics() async throws -> [TopicSpec]

    /// Appends a batch atomically and returns one receipt per event, in input order.
    func append(_ events: [PreparedEvent]) async throws -> [AppendReceipt]

    /// Reads up to `limit` events of one partition, starting at `offset`, in offset order. With
    /// `maxBytes`, stops once the stored payload bytes read reach it: the event that crosses the
    /// budget is the last one (a soft cap, as Kafka's `fetch.max.bytes`), so at least one event
    /// comes back when there is one.
    func read(topic: String, partition: Int, from offset: Int64, limit: Int, maxBytes: Int?) async throws -> [Event]

    /// The next offset to be assigned in each partition of the topic (Kafka's high watermark, or its
    /// last stable offset for committed reads); with dense offsets, the number of events the
    /// partition holds.
    func endOffsets(topic: String) async throws -> [Int64]

    /// When the event at `offset` was appended, without reading its payload (time lag).
    func appendedAt(topic: String, partition: Int, offset: Int64) async throws -> Date?

    /// Suspends until the partition's end offset exceeds `offset` (an event at `offset` exists) or the
    /// timeout passes; returns whether it does. Implementations must not busy-poll.
    func waitForEvents(topic: String, partition: Int, beyond offset: Int64, timeout: Duration) async throws -> Bool
}

extension EventLog {
    /// The spec of one topic, or an `unknownTopic` error.
    public func topic(named name: String) async throws -> TopicSpec {
        guard let spec = try await topics().first(where: { $0.name == name }) else {
            throw StrataError(.unknownTopic, "unknown topic '\(name)'")
        }
        return spec
    }

    /// Follows one partition from `offset`: yields batches as they are appended, until the task is
    /// cancelled. Pull-based, so a slow consumer applies backpressure; built on `read` and
    /// `waitForEvents`, so it works on every backend.
    /// `maxBytes` bounds each batch's stored payload bytes (the first event always comes).
    public func tail(topic: String, partition: Int, from offset: Int64, batchSize: Int = 500, maxBytes: Int? = nil) -> LogTail {
        LogTail(log: self, topic: topic, partition: partition, start: offset, batchSize: batchSize, maxBytes: maxBytes)
    }
}

/// The batches of one partition from an offset on, waiting for new ones at the end.
public struct LogTail: AsyncSequence, Sendable {
    public typealias Element = [Event]
    let log: any EventLog
    let topic: String
    let partition: Int
    let start: Int64
    let batchSize: Int
    let maxBytes: Int?

    public struct AsyncIterator: AsyncIteratorProtocol {
        let tail: LogTail
        var next: Int64

        public mutating func next() async throws -> [Event]? {
            while !Task.isCancelled {
                let batch = try await tail.log.readBatch(
                    topic: tail.topic, partition: tail.partition, from: next, limit: tail.batchSize, maxBytes: tail.maxBytes)
                next = Swift.max(next, batch.next)
                if !batch.events.isEmpty { return batch.events }
                _ = try await tail.log.waitForEvents(topic: tail.topic, partition: tail.partition, beyond: next, timeout: .seconds(30))
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(tail: self, next: start) }
}

extension EventLog {
    public var capabilities: LogCapabilities { [.denseOffsets, .exactDuplicateReceipts] }
    public var problems: [LogProblem] { [] }

    /// For dense backends: the offset after the last event read, or `offset` when none was.
    public func readBatch(topic: String, partition: Int, from offset: Int64, limit: Int, maxBytes: Int?) async throws -> LogBatch {
        let events = try await read(topic: topic, partition: partition, from: offset, limit: limit, maxBytes: maxBytes)
        return LogBatch(events: events, next: events.last.map { $0.offset + 1 } ?? max(0, offset))
    }

    /// Reads up to `limit` events of one partition, starting at `offset`, in offset order.
    public func read(topic: String, partition: Int, from offset: Int64, limit: Int) async throws -> [Event] {
        try await read(topic: topic, partition: partition, from: offset, limit: limit, maxBytes: nil)
    }
}

/// A standing fault of the log in this process.
public struct LogProblem: Sendable, Equatable {
    /// A short stable name (`writer_fenced`), the label of `strata_log_problem` in `/metrics`.
    public var kind: String
    /// What happened and what to do, for `/health`'s reasons.
    public var detail: String
    public var since: Date

    /// Every kind a backend reports (each is a `strata_log_problem` series, 0 or 1).
    public static let kinds = ["writer_fenced"]

    public init(kind: String, detail: String, since: Date) {
        self.kind = kind
        self.detail = detail
        self.since = since
    }
}
