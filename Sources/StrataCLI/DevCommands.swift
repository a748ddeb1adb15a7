import ArgumentParser
import Dispatch
import Foundation
import Logging
import StrataApp
import StrataCore
import StrataKafka

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tools for trying Strata on one machine.", subcommands: [DevKafka.self])
}

struct DevKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Run librdkafka's mock Kafka cluster (memory only, capped) to try the Kafka log on one machine.",
        discussion: """
            Starts an in-process mock cluster that speaks the Kafka protocol on 127.0.0.1, creates the topology's \
            topics on it (the mock has no CreateTopics), prints its bootstrap list, and runs until interrupted. \
            Point other strata commands at it with --log kafka://BOOTSTRAP. It keeps everything in memory, at \
            most about 5 MiB or 100,000 batches per partition (older data is dropped silently), and forgets \
            everything when it stops: for trying things out, never for data that matters (docs/kafka.md).
            """)

    @Option(help: "Number of brokers.") var brokers: Int = 3
    @Option(help: "Topology file (env STRATA_TOPOLOGY; default ./topology/topics.yaml)") var topology: String?

    func run() async throws {
        guard (1...9).contains(brokers) else { throw ValidationError("--brokers must be 1 to 9") }
        var logger = Logger(label: "strata") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        try await reportingErrors {
            let configuration = StrataConfiguration(
                topologyFile: topology.map { URL(fileURLWithPath: $0) }, environment: ProcessInfo.processInfo.environment)
            let topics = try configuration.loadTopology().sortedTopics
            let cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
            try cluster.createTopics(topics)
            FileHandle.standardError.write(Data("""
                mock Kafka cluster: \(cluster.bootstrap) (\(brokers) brokers; topics: \(topics.map { "\($0.name)/\($0.partitions)" }.joined(separator: ", ")))
                  MEMORY ONLY, capped at about 5 MiB or 100k batches per partition (older data silently dropped), gone on exit.
                  try:  strata serve --demo --log kafka://\(cluster.bootstrap)
                  stop: Ctrl-C

                """.utf8))
            FileHandle.standardOutput.write(Data((cluster.bootstrap + "\n").utf8))
            await waitForSignal()
            withExtendedLifetime(cluster) {}
        }
    }

    /// Returns on SIGINT or SIGTERM.
    private func waitForSignal() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = SignalOnce(continuation)
            for sig in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
                source.setEventHandler { once.fire() }
                source.resume()
                once.keep(source)
            }
        }
    }
}

/// Resumes a continuation on the first signal, keeping the signal sources alive until then.
private final class SignalOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?
    private var sources: [any DispatchSourceSignal] = []

    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }

    func keep(_ source: any DispatchSourceSignal) {
        lock.lock()
        sources.append(source)
        lock.unlock()
    }

    func fire() {
        lock.lock()
        let c = continuation
        continuation = nil
        lock.unlock()
        c?.resume()
    }
}
