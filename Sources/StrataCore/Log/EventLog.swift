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

/// The append-only log: topics of partitions of gapless offsets.
///
/// The contract maps one-to-one onto Kafka: a topic has a fixed number of partitions, ordering holds
/// only within a partition, an offset is assigned by the log, and a reader positions itself by
/// (topic, partition, offset). Every backend passes the same contract tests.
///
/// Invariants every backend keeps:
/// - offsets in a partition are 0, 1, 2, ... with no gaps, and become visible in offset order: a
///   reader that has seen offset N never later finds an event with an offset below N;
/// - `append` is all or nothing for the whole batch, across partitions;
/// - an event whose (topic, id) is already in the log is not added again; its receipt carries the
///   original offset and `duplicate == true`.
public protocol EventLog: Sendable {
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

    /// The next offset to be assigned in each partition of the topic (Kafka's high watermark): the
    /// number of events the partition holds.
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
                let batch = try await tail.log.read(
                    topic: tail.topic, partition: tail.partition, from: next, limit: tail.batchSize, maxBytes: tail.maxBytes)
                if let last = batch.last {
                    next = last.offset + 1
                    return batch
                }
                _ = try await tail.log.waitForEvents(topic: tail.topic, partition: tail.partition, beyond: next, timeout: .seconds(30))
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(tail: self, next: start) }
}

extension EventLog {
    /// Reads up to `limit` events of one partition, starting at `offset`, in offset order.
    public func read(topic: String, partition: Int, from offset: Int64, limit: Int) async throws -> [Event] {
        try await read(topic: topic, partition: partition, from: offset, limit: limit, maxBytes: nil)
    }
}
