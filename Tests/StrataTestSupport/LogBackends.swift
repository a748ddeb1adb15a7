import Foundation
import StrataApp
import StrataCore
import StrataKafka

/// The log backends the contract tests run against. Each test is written once, against
/// `EventLog` and `EventProducer`, and runs once per backend.
public enum LogBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case postgres
    /// A 3-broker librdkafka mock cluster made for the test; views and checkpoints in PostgreSQL.
    case kafka

    public var description: String { rawValue }

    /// A fresh, empty log with the repository's topology (or `topology`) declared.
    public func withLog<T: Sendable>(
        topology: Topology? = nil, _ body: @Sendable (any EventLog, EventProducer) async throws -> T
    ) async throws -> T {
        try await withStrata(topology: topology) { strata in try await body(strata.log, strata.producer) }
    }

    /// A connected Strata whose log is this backend (fresh and empty).
    public func withStrata<T: Sendable>(
        topology: Topology? = nil, _ body: @Sendable (StrataContext) async throws -> T
    ) async throws -> T {
        switch self {
        case .postgres:
            return try await TestEnvironment.withStrata(topology: topology, body)
        case .kafka:
            return try await KafkaTestCluster.with(topology: topology) { cluster in
                try await TestEnvironment.withStrata(topology: topology, logURL: cluster.logURL(), body)
            }
        }
    }
}

/// A mock Kafka cluster for one test, its topics created from the topology (the mock does not
/// implement CreateTopics).
public struct KafkaTestCluster: Sendable {
    public let mock: KafkaMockCluster

    public static func with<T: Sendable>(
        brokers: Int = 3, topology: Topology? = nil, _ body: @Sendable (KafkaTestCluster) async throws -> T
    ) async throws -> T {
        let mock = try KafkaMockCluster(brokers: brokers, logger: TestEnvironment.logger)
        try mock.createTopics((topology ?? TestEnvironment.topology()).sortedTopics)
        let cluster = KafkaTestCluster(mock: mock)
        defer { withExtendedLifetime(mock) {} }
        return try await body(cluster)
    }

    /// The log URL for one writer (a transactional id of its own unless `writer` is given).
    public func logURL(writer: String? = nil) -> String {
        "kafka://\(mock.bootstrap)?transactional_id=\(writer ?? "test-" + UUID().uuidString)"
    }
}

/// A demo event for tests.
public func demoDraft(key: String, amount: Int = 1, note: String? = nil, id: String? = nil, topic: String = "demo") -> EventDraft {
    var payload: [String: JSONValue] = ["amount": .int(amount)]
    if let note { payload["note"] = .string(note) }
    return EventDraft(topic: topic, key: key, type: "demo.event", id: id, source: "test", payload: .object(payload))
}

/// Every event of a partition, read to its end through `readBatch` (offsets may have holes).
public func readAll(_ log: any EventLog, topic: String, partition: Int, from offset: Int64 = 0) async throws -> [Event] {
    var out: [Event] = []
    var next = offset
    let end = try await log.endOffsets(topic: topic)[partition]
    while next < end {
        let batch = try await log.readBatch(topic: topic, partition: partition, from: next, limit: 1000, maxBytes: nil)
        out += batch.events
        guard batch.next > next else { break }
        next = batch.next
    }
    return out
}
