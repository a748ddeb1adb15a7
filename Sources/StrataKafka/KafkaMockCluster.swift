import Dispatch
import CRdKafka
import CRdKafkaShims
import Logging
import StrataCore

/// librdkafka's in-process mock cluster: real Kafka protocol over TCP on 127.0.0.1, so any client
/// (this process's or another's) connects with `bootstrap`. Memory only, and capped by librdkafka
/// (about 5 MiB or 100k batches per partition; older data is dropped): for tests and for trying
/// the Kafka mode on one machine (`strata dev kafka`), never for data that matters.
public final class KafkaMockCluster: @unchecked Sendable {
    /// Kafka protocol request keys, for fault injection.
    public enum API: Int16, Sendable {
        case produce = 0, fetch = 1, listOffsets = 2, metadata = 3, findCoordinator = 10, initProducerID = 22,
            addPartitionsToTxn = 24, endTxn = 26
    }

    private let owner: KafkaHandle
    private let cluster: OpaquePointer
    public let bootstrap: String
    public let brokers: Int

    public init(brokers: Int = 3, logger: Logger) throws {
        owner = try KafkaHandle(.producer, properties: KafkaProperties(["log_level": "3"]), name: "mock-cluster", logger: logger, poll: false)
        guard let cluster = rd_kafka_mock_cluster_new(owner.rk, Int32(brokers)) else {
            throw StrataError(.backend, "librdkafka could not create a mock cluster of \(brokers) brokers")
        }
        self.cluster = cluster
        self.brokers = brokers
        bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        // Destroying waits for the brokers' threads: not on the cooperative pool.
        let parts = UncheckedBox((cluster, owner))
        DispatchQueue.global(qos: .utility).async {
            rd_kafka_mock_cluster_destroy(parts.value.0)
            parts.value.1.close()
        }
    }

    /// Creates a topic (the mock does not implement the CreateTopics request) with its partitions'
    /// leaders spread over the brokers in turn, as a real cluster spreads them. The mock picks
    /// leaders at random otherwise, and when every partition a producer writes leads on one
    /// broker its transactions take about 40 ms longer each (several produce responses in flight on
    /// one connection): a benchmark's two topics must have the same layout to be compared.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int? = nil) throws {
        try KafkaError.check(
            rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor ?? min(3, brokers))),
            "creating mock topic '\(name)'")
        for p in 0..<partitions {
            try setLeader(topic: name, partition: p, broker: Int32(p % max(1, brokers) + 1))
        }
    }

    public func createTopics(_ specs: [TopicSpec]) throws {
        for spec in specs { try createTopic(spec.name, partitions: spec.partitions) }
    }

    /// Kafka protocol error codes to inject (librdkafka's `rd_kafka_resp_err_t` values).
    public struct Code: RawRepresentable, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let none = Code(rawValue: 0)
        /// Retriable: the client refreshes metadata, retries.
        public static let notLeaderForPartition = Code(rawValue: 6)
        public static let requestTimedOut = Code(rawValue: 7)
        public static let notEnoughReplicas = Code(rawValue: 19)
        public static let leaderNotAvailable = Code(rawValue: 5)
        /// The broker drops the connection (librdkafka's local `_TRANSPORT`).
        public static let transport = Code(rawValue: -195)
        /// Permanent for the messages of the request.
        public static let messageTooLarge = Code(rawValue: 10)
        public static let topicAuthorizationFailed = Code(rawValue: 29)
        public static let invalidRecord = Code(rawValue: 87)
        /// A newer producer with the same transactional id took over.
        public static let producerFenced = Code(rawValue: 90)
    }

    /// The next `errors.count` requests of `api` fail with these codes, in order.
    public func pushErrors(_ api: API, _ errors: [Code]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, codes.count, $0.baseAddress) }
    }

    /// The broker's next request of `api` fails with `error` (or succeeds, with `.none`) after `rtt`.
    public func pushBrokerError(broker: Int32, _ api: API, _ error: Code, rtt: Duration = .zero) throws {
        try KafkaError.check(
            strata_kafka_mock_push_error_rtt(cluster, broker, api.rawValue, rd_kafka_resp_err_t(rawValue: error.rawValue), rtt.milliseconds),
            "pushing a mock error")
    }

    public func clearErrors(_ api: API) { rd_kafka_mock_clear_request_errors(cluster, api.rawValue) }

    public func setLeader(topic: String, partition: Int, broker: Int32) throws {
        try KafkaError.check(rd_kafka_mock_partition_set_leader(cluster, topic, Int32(partition), broker), "moving \(topic)/\(partition)'s leader")
    }

    public func brokerDown(_ broker: Int32) throws {
        try KafkaError.check(rd_kafka_mock_broker_set_down(cluster, broker), "taking broker \(broker) down")
    }

    public func brokerUp(_ broker: Int32) throws {
        try KafkaError.check(rd_kafka_mock_broker_set_up(cluster, broker), "bringing broker \(broker) up")
    }

    public func setRTT(broker: Int32, _ rtt: Duration) throws {
        try KafkaError.check(rd_kafka_mock_broker_set_rtt(cluster, broker, Int32(rtt.milliseconds)), "delaying broker \(broker)")
    }
}
