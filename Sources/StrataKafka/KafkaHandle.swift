import CRdKafka
import CRdKafkaShims
import Foundation
import Logging
import StrataCore
import Synchronization

/// librdkafka properties (`bootstrap.servers`, `security.protocol`, `sasl.*`, `ssl.*`, ...), passed
/// through as they are.
public struct KafkaProperties: Sendable, Hashable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// `overrides` win.
    public func merging(_ overrides: [String: String]) -> KafkaProperties {
        KafkaProperties(values.merging(overrides) { _, new in new })
    }
}

/// Receives what librdkafka reports about one handle: delivery reports, log lines, asynchronous
/// errors. Its address is the handle's opaque.
final class HandleEvents: Sendable {
    let logger: Logger
    let name: String
    /// Per-message delivery waiters, by the tag given as the message opaque.
    let deliveries = Mutex<[UInt: DeliveryWaiter]>([:])
    /// The last asynchronous error (a broker down, all brokers down, a fatal error), for health.
    let lastError = Mutex<KafkaError?>(nil)
    /// Why the current transaction failed, as librdkafka logged it (facility TXNERR): produce calls
    /// made after that only say the state forbids producing.
    let transactionError = Mutex<String?>(nil)

    init(logger: Logger, name: String) {
        self.logger = logger
        self.name = name
    }

    func delivered(tag: UInt, partition: Int32, offset: Int64, err: Int32) {
        let waiter = deliveries.withLock { $0.removeValue(forKey: tag) }
        waiter?.report(tag: tag, partition: partition, offset: offset, err: err)
    }
}

@_cdecl("strata_kafka_delivery")
func strataKafkaDelivery(_ opaque: UnsafeMutableRawPointer?, _ msgOpaque: UnsafeMutableRawPointer?, _ partition: Int32, _ offset: Int64, _ err: Int32) {
    guard let opaque else { return }
    let events = Unmanaged<HandleEvents>.fromOpaque(opaque).takeUnretainedValue()
    events.delivered(tag: UInt(bitPattern: msgOpaque), partition: partition, offset: offset, err: err)
}

@_cdecl("strata_kafka_log")
func strataKafkaLog(_ opaque: UnsafeMutableRawPointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ text: UnsafePointer<CChar>?) {
    guard let opaque else { return }
    let events = Unmanaged<HandleEvents>.fromOpaque(opaque).takeUnretainedValue()
    let line = text.map { String(cString: $0) } ?? ""
    let fac = facility.map { String(cString: $0) } ?? ""
    // syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug.
    if fac == "TXNERR" { events.transactionError.withLock { $0 = line } }
    let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
    events.logger.log(level: swiftLevel, "librdkafka: \(line)", metadata: ["handle": "\(events.name)", "facility": "\(fac)"])
}

@_cdecl("strata_kafka_error")
func strataKafkaError(_ opaque: UnsafeMutableRawPointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?) {
    guard let opaque else { return }
    let events = Unmanaged<HandleEvents>.fromOpaque(opaque).takeUnretainedValue()
    let error = KafkaError(code: err, message: reason.map { String(cString: $0) }, context: events.name)
    events.lastError.withLock { $0 = error }
    events.logger.warning("Kafka client error", metadata: ["handle": "\(events.name)", "error": "\(error)"])
}

/// Collects the delivery reports of one batch of messages and resumes its waiter when all came in.
final class DeliveryWaiter: Sendable {
    struct Report: Sendable {
        var partition: Int32
        var offset: Int64
        var err: Int32
    }

    private struct State {
        var reports: [UInt: Report] = [:]
        var expected: Int
        var continuation: CheckedContinuation<[UInt: Report], Never>?
    }

    private let state: Mutex<State>

    init(expected: Int) { state = Mutex(State(expected: expected)) }

    func report(tag: UInt, partition: Int32, offset: Int64, err: Int32) {
        let done = state.withLock { s -> (CheckedContinuation<[UInt: Report], Never>, [UInt: Report])? in
            s.reports[tag] = Report(partition: partition, offset: offset, err: err)
            guard s.reports.count >= s.expected, let c = s.continuation else { return nil }
            s.continuation = nil
            return (c, s.reports)
        }
        if let (c, reports) = done { c.resume(returning: reports) }
    }

    /// Lowers the count after messages that were never enqueued.
    func expect(_ count: Int) {
        let done = state.withLock { s -> (CheckedContinuation<[UInt: Report], Never>, [UInt: Report])? in
            s.expected = count
            guard s.reports.count >= s.expected, let c = s.continuation else { return nil }
            s.continuation = nil
            return (c, s.reports)
        }
        if let (c, reports) = done { c.resume(returning: reports) }
    }

    /// Every report, once all have arrived (librdkafka reports every enqueued message exactly once,
    /// success or failure, by `message.timeout.ms` at the latest).
    func wait() async -> [UInt: Report] {
        await withCheckedContinuation { c in
            let ready = state.withLock { s -> [UInt: Report]? in
                if s.reports.count >= s.expected { return s.reports }
                s.continuation = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

/// One librdkafka client handle (`rd_kafka_t`): created from properties, polled by a thread of its own
/// that blocks in `rd_kafka_poll` (woken by events, never a sleep loop) so delivery reports and
/// errors are served as they happen, destroyed once.
final class KafkaHandle: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let rk: OpaquePointer
    let events: HandleEvents
    private let opaque: Unmanaged<HandleEvents>
    private let stopping = CancelFlag()
    private let closed = Atomic<Bool>(false)
    private var poller: Thread?
    private let pollerDone = DispatchSemaphore(value: 0)
    let name: String
    let kind: Kind

    init(_ kind: Kind, properties: KafkaProperties, name: String, logger: Logger, poll: Bool = true) throws {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(code: -195, message: "cannot allocate a configuration", context: name) }
        var errbuf = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.values.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errbuf, errbuf.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw StrataError(.invalidConfiguration, "Kafka property '\(key)': \(text)")
            }
        }
        let events = HandleEvents(logger: logger, name: name)
        let opaque = Unmanaged.passRetained(events)
        rd_kafka_conf_set_opaque(conf, opaque.toOpaque())
        strata_kafka_conf_set_log_and_error(conf)
        if kind == .producer { strata_kafka_conf_set_delivery(conf) }
        guard let rk = rd_kafka_new(kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf, &errbuf, errbuf.count) else {
            // rd_kafka_new frees the configuration only on success.
            rd_kafka_conf_destroy(conf)
            opaque.release()
            let text = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw StrataError(.invalidConfiguration, "cannot create the Kafka \(kind) '\(name)': \(text)")
        }
        self.rk = rk
        self.events = events
        self.opaque = opaque
        self.name = name
        self.kind = kind
        if poll {
            nonisolated(unsafe) let handle = rk
            let producer = kind == .producer
            let thread = Thread { [stopping, pollerDone] in
                if producer {
                    // Delivery reports and errors come as events on the main queue.
                    let queue = rd_kafka_queue_get_main(handle)
                    while !stopping.isSet { strata_kafka_serve_events(handle, queue, 1000) }
                    rd_kafka_queue_destroy(queue)
                } else {
                    while !stopping.isSet { rd_kafka_poll(handle, 1000) }
                }
                pollerDone.signal()
            }
            thread.name = "kafka-poll-\(name)"
            poller = thread
            thread.start()
        }
    }

    /// Stops the poller and destroys the handle (a producer's queued messages are purged: callers
    /// flush or commit first). Idempotent. Blocks (rd_kafka_destroy waits for librdkafka's threads):
    /// never call it on the cooperative pool; use `closeAsync` or `closeInBackground` there.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        teardown().run()
    }

    /// Closes on a Dispatch thread and waits for it.
    func closeAsync() async {
        _ = try? await blocking { self.close() }
    }

    /// Starts closing on a Dispatch thread and returns at once.
    func closeInBackground() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let teardown = teardown()
        DispatchQueue.global(qos: .utility).async { teardown.run() }
    }

    private func teardown() -> Teardown {
        Teardown(rk: rk, opaque: opaque, stopping: stopping, pollerDone: poller != nil ? pollerDone : nil, consumer: kind == .consumer)
    }

    /// What destroying the handle needs, without the handle (so a deinit can hand it to another thread).
    private struct Teardown: @unchecked Sendable {
        let rk: OpaquePointer
        let opaque: Unmanaged<HandleEvents>
        let stopping: CancelFlag
        let pollerDone: DispatchSemaphore?
        /// Readers join no group and commit nothing: destroying skips the consumer close, which
        /// waits, without a deadline, for a group coordinator that may be gone.
        let consumer: Bool

        func run() {
            stopping.set()
            if let pollerDone {
                rd_kafka_yield(rk)
                pollerDone.wait()
            }
            if consumer {
                rd_kafka_destroy_flags(rk, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
            } else {
                rd_kafka_destroy(rk)
            }
            opaque.release()
        }
    }

    // The last reference may go on the cooperative pool: destroy elsewhere.
    deinit { closeInBackground() }

    /// The topic's partition count from the cluster's metadata, nil when the topic does not exist.
    func partitionCount(topic: String, timeout: Duration) throws -> Int? {
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else { throw KafkaError(code: Int32(rd_kafka_last_error().rawValue), context: "topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var md: UnsafePointer<rd_kafka_metadata>?
        try KafkaError.check(rd_kafka_metadata(rk, 0, rkt, &md, timeout.milliseconds), "metadata of topic '\(topic)'")
        guard let md else { return nil }
        defer { rd_kafka_metadata_destroy(md) }
        guard md.pointee.topic_cnt >= 1, let t = md.pointee.topics else { return nil }
        let err = t[0].err
        if err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC { return nil }
        try KafkaError.check(err, "metadata of topic '\(topic)'")
        return Int(t[0].partition_cnt)
    }

    /// The partition's low and high watermarks, asked of its leader (the high one is the last stable
    /// offset for a `read_committed` consumer).
    func watermarks(topic: String, partition: Int, timeout: Duration) throws -> (low: Int64, high: Int64) {
        // A leader that moved (or a broker that dropped the connection) answers with a retriable
        // error; librdkafka refreshes the leader, so ask again until the deadline.
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(20)
        while true {
            var low: Int64 = -1
            var high: Int64 = -1
            let left = max(Duration.milliseconds(1), deadline - ContinuousClock.now)
            let err = rd_kafka_query_watermark_offsets(rk, topic, Int32(partition), &low, &high, left.milliseconds)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return (low, high) }
            let error = KafkaError(code: err.rawValue, context: "watermarks of \(topic)/\(partition)")
            guard Self.leaderMoved.contains(err.rawValue), ContinuousClock.now + pause < deadline else { throw error }
            Thread.sleep(forTimeInterval: Double(pause.milliseconds) / 1000)
            pause = min(pause * 2, .milliseconds(500))
        }
    }

    /// NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, _TRANSPORT.
    static let leaderMoved: Set<Int32> = [6, 5, 7, 19, -195]
}

extension Duration {
    /// Whole milliseconds, clamped to `Int32` (librdkafka's timeouts).
    var milliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        if ms.overflow { return seconds < 0 ? 0 : Int32.max }
        let total = ms.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if total.overflow { return Int32.max }
        return Int32(clamping: max(0, total.partialValue))
    }
}
