import ArgumentParser
import Foundation
import StrataATProto
import PostgresNIO
import StrataApp
import StrataAtlas
import StrataBenchmarks
import StrataCore
import StrataKafka
import ServiceLifecycle
import StrataProjections

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Strata's benchmarks (results belong in docs/benchmarks.md).",
        subcommands: [LogBench.self, ProjectionBench.self, LedgerBench.self, AtlasBench.self, CrawlBench.self, LookupBench.self, XDRBench.self, CARBench.self, FirehoseBench.self, KafkaBench.self])

    struct LookupBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lookups",
            abstract: "Transaction-hash lookups at a fixed rate against a running `strata serve` (run it in another process).",
            discussion: """
                Takes the hashes to look up from the database the server reads (--database-url, e.g. the strata_bench \
                database `strata bench ledger` leaves behind), then drives GET /v1/transactions/{hash} at --rate.
                """)

        @OptionGroup var options: GlobalOptions
        @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
        @Option(help: "Requests per second.") var rate = 1000
        @Option(help: "Seconds of load.") var seconds = 30

        func run() async throws {
            let bench = LookupBenchmark(baseURL: url, rate: rate, seconds: seconds)
            try await options.run { strata in
                var hashes: [String] = []
                for try await h in try await strata.client.query(
                    "SELECT transaction_hash FROM ledger_index.transactions_by_hash ORDER BY md5(transaction_hash) LIMIT 20000", logger: strata.logger
                ).decode(String.self) { hashes.append(h) }
                guard !hashes.isEmpty else {
                    throw StrataError(.notFound, "no transactions in this database; run `strata bench ledger` (or ingest ledgers) first")
                }
                progress("\(hashes.count) hashes; \(bench.rate) requests/s for \(bench.seconds) s against \(bench.baseURL)")
                printLine(try await bench.run(hashes: hashes).markdown)
            }
        }
    }

    struct CrawlBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crawl",
            abstract: "The registry crawler on N crates served on loopback: requests/s beside async-http-client alone, time until the graph reflects it, recrawls.",
            discussion: "Serves the fake registry on --port inside this process; runs in a scratch database (strata_bench); build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Crates to crawl.") var packages = 10_000
        @Option(help: "Requests in flight (crawler and reference alike).") var concurrency = 32
        @Option(help: "Port for the in-process registry.") var port = 18282

        func run() async throws {
            let bench = CrawlBenchmark(packages: packages, concurrency: concurrency, port: port)
            try await withScratchDatabase(options) { strata in
                try await strata.registerProjections([AtlasProjection()])
                let report = try await bench.run(log: strata.postgresLog, producer: strata.producer, client: strata.client, logger: strata.logger)
                printLine(report.markdown)
            }
        }
    }

    struct AtlasBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "atlas",
            abstract: "Criticality on a 10,000-node / 100,000-edge graph: SBOM append to updated metrics visible through the API, vs full recomputation.",
            discussion: "Serves the API on --port inside this process and polls it over HTTP; runs in a scratch database (strata_bench); build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Repositories (each with an SBOM).") var repos = 2000
        @Option(help: "Packages.") var packages = 8000
        @Option(help: "SBOM updates to time.") var samples = 200
        @Option(help: "Port for the in-process API.") var port = 18181

        func run() async throws {
            let bench = AtlasBenchmark(repos: repos, packages: packages, samples: samples, apiBaseURL: "http://127.0.0.1:\(port)")
            let port = self.port
            try await withScratchDatabase(options) { strata in
                try await strata.registerProjections(ProjectionRegistry.all())
                var server = ServerSettings()
                server.port = port
                server.rateLimitPerMinute = 0
                let app = strata.makeApplication(server)
                let report = try await withThrowingTaskGroup(of: AtlasBenchmark.Report?.self) { group in
                    group.addTask {
                        try await app.run()
                        return nil
                    }
                    try await Task.sleep(for: .milliseconds(500))
                    let report = try await bench.run(log: strata.postgresLog, producer: strata.producer, client: strata.client, logger: strata.logger)
                    group.cancelAll()
                    return report
                }
                printLine(report.markdown)
            }
        }
    }

    struct LedgerBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ledger",
            abstract: "Ingest + project the mainnet ledger files repeatedly to a target operation count; ledgers/s and operations/s.",
            discussion: "Runs in a scratch database (strata_bench); build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Stellar export files (default: the 10-ledger set and the 406-ledger file under ../shared/data/stellar/etl).")
        var files: [String] = []
        @Option(help: "Operations to reach.") var operations = 1_000_000

        func run() async throws {
            let etl = "../shared/data/stellar/etl/"
            let paths = files.isEmpty
                ? ["10_ledgers.json", "10_ledgers_txs.json", "10_ledgers_ops.json", "10_ledgers_effects.json", "10_ledgers_trades.json",
                   "2024_ledgers.json"].map { etl + $0 }
                : files
            let bench = LedgerBenchmark(files: paths, targetOperations: operations)
            try await withScratchDatabase(options) { strata in
                let report = try await bench.run(log: strata.postgresLog, producer: strata.producer, client: strata.client, logger: strata.logger)
                printLine(report.markdown)
            }
        }
    }

    struct ProjectionBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "projection",
            abstract: "Replay throughput of the reference projection vs raw COPY of its view rows; live append-to-view latency.",
            discussion: "Runs in a scratch database (strata_bench) on the configured server; build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Events to replay.") var events = 1_000_000
        @Option(help: "Distinct keys.") var keys = 10_000
        @Option(name: .customLong("live-seconds"), help: "Seconds of live traffic at 1,000 events/s.") var liveSeconds = 15
        @Option(help: "Rounds of replay, live latency right after it, and the baseline COPYs; every round is printed.") var rounds = 3
        @Option(help: "Folder for each live run's per-event samples (live-N.tsv: sent, visible, acknowledged, partition).") var samples: String?

        func run() async throws {
            let bench = ProjectionBenchmark(events: events, keys: keys, liveSeconds: liveSeconds, rounds: rounds, samplesDirectory: samples)
            try await withScratchDatabase(options) { strata in
                let report = try await bench.run(log: strata.postgresLog, producer: strata.producer, client: strata.client, logger: strata.logger)
                printLine(report.markdown)
            }
        }
    }

    struct XDRBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xdr",
            abstract: "Decoding raw LedgerCloseMeta XDR: Strata's checked walk beside the Python stellar-sdk on the same bytes.",
            discussion: """
                Needs no database. For the reference: python3 -m venv .venv-bench && .venv-bench/bin/pip install stellar-sdk, \
                then --python .venv-bench/bin/python. Build with -c release.
                """)

        @Option(help: "Folder of LedgerCloseMeta fixtures (base64 lines, zstd batches).") var data = "Tests/Fixtures/shared-data/stellar/xdr"
        @OptionGroup var timing: RoundOptions
        @Option(help: "A Python interpreter with stellar-sdk installed.") var python: String?

        func run() async throws {
            let (data, seconds, rounds, python) = (self.data, timing.seconds, timing.rounds, self.python)
            try await reportingErrors {
                let bench = XDRBenchmark(ledgers: try XDRBenchmark.loadLedgers(from: data), seconds: seconds, rounds: rounds, python: python)
                printLine(try bench.run().markdown)
            }
        }
    }

    struct CARBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "car",
            abstract: "Reading an ATProto repository export (CAR): Strata beside the Python libipld package on the same bytes.",
            discussion: """
                Needs no database. Strata verifies every block against its CID, walks and checks the MST and decodes every \
                record; the reference hashes every block with hashlib and decodes the commit, nodes and records with libipld. \
                For the reference: python3 -m venv .venv-bench && .venv-bench/bin/pip install libipld, then --python \
                .venv-bench/bin/python. Build with -c release.
                """)

        @Option(help: "A CAR file, or a folder whose largest .car/.repo file is read.") var data = "Tests/Fixtures/shared-data/atproto/car"
        @OptionGroup var timing: RoundOptions
        @Option(help: "A Python interpreter with libipld installed.") var python: String?

        func run() async throws {
            let (data, seconds, rounds, python) = (self.data, timing.seconds, timing.rounds, self.python)
            try await reportingErrors {
                var isDirectory: ObjCBool = false
                let input: (name: String, bytes: [UInt8])
                if FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue {
                    input = try CARBenchmark.largestCAR(in: data)
                } else {
                    guard let contents = FileManager.default.contents(atPath: data) else { throw StrataError(.notFound, "cannot read \(data)") }
                    input = ((data as NSString).lastPathComponent, Array(contents))
                }
                let bench = CARBenchmark(car: input.bytes, name: input.name, seconds: seconds, rounds: rounds, python: python)
                printLine(try bench.run().markdown)
            }
        }
    }

    struct FirehoseBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "firehose",
            abstract: "The ATProto firehose subscriber from socket to view, beside a bare WebSocket client on the same frames.",
            discussion: "Serves the PDS and its PLC directory inside this process; runs in a scratch database (strata_bench); build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "#commit frames (one record created each).") var frames = 5000
        @Option(help: "Repositories they are spread over.") var repos = 50
        @Option(help: "A repository export whose records are used.") var car = "Tests/Fixtures/shared-data/atproto/car/fakermaker.repo.car"
        @Option(help: "Outbound stream subscribers at once (GET /subscribe from cursor 0).") var subscribers = 100

        func run() async throws {
            guard frames > 0, repos > 0, (1...1000).contains(subscribers) else { throw ValidationError("--frames and --repos must be positive, --subscribers 1-1000") }
            guard let data = FileManager.default.contents(atPath: car) else { throw ValidationError("cannot read \(car)") }
            let records = try RepositoryExport(car: Array(data), rebuild: false).records.map(\.value)
            let bench = FirehoseBenchmark(frames: frames, repos: repos, records: records, subscribers: subscribers)
            try await withScratchDatabase(options) { strata in
                printLine(try await bench.run(log: strata.log, producer: strata.producer, client: strata.client, logger: strata.logger).markdown)
            }
        }
    }

    struct KafkaBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kafka",
            abstract: "The Kafka log: batched append beside librdkafka's own producer; replay from Kafka beside replay from PostgreSQL.",
            discussion: """
                Starts librdkafka's 3-broker mock cluster in this process unless --bootstrap names a cluster (whose \
                topics demo and the reference topic must exist or be creatable). The mock keeps about 5 MiB per \
                partition: --events x --rounds must fit for the replay (the default does). Views go to two scratch \
                databases (strata_bench for the PostgreSQL log, strata_bench_kafka for the Kafka log); build with -c release.
                """)

        @OptionGroup var options: GlobalOptions
        @Option(help: "A Kafka cluster's bootstrap list (default: an in-process mock cluster of 3 brokers).") var bootstrap: String?
        @Option(help: "Events per round.") var events = 20_000
        @Option(name: .customLong("batch-size")) var batchSize = 1000
        @Option(help: "Rounds of appends (reference and log alternate).") var rounds = 3
        @Option(name: .customLong("replay-rounds"), help: "Replays from each log.") var replayRounds = 3

        func validate() throws {
            guard events > 0, batchSize > 0 else { throw ValidationError("--events and --batch-size must be positive") }
            guard (1...20).contains(rounds), (1...20).contains(replayRounds) else { throw ValidationError("--rounds and --replay-rounds must be 1 to 20") }
        }

        func run() async throws {
            let bench = KafkaBenchmark(events: events, batchSize: batchSize, rounds: rounds, replayRounds: replayRounds)
            let logger = try options.makeLogger()
            let configuration = try options.makeConfiguration()
            let topics = try configuration.loadTopology().sortedTopics
            guard let demo = topics.first(where: { $0.name == "demo" }) else {
                throw ValidationError("the topology has no topic 'demo' (the reference projection's)")
            }
            let referenceTopic = "strata_bench_reference"
            var mock: KafkaMockCluster?
            let bootstrap: String
            if let given = self.bootstrap {
                bootstrap = given
            } else {
                let cluster = try KafkaMockCluster(brokers: 3, logger: logger)
                try cluster.createTopics(topics)
                try cluster.createTopic(referenceTopic, partitions: demo.partitions)
                mock = cluster
                bootstrap = cluster.bootstrap
                progress("mock Kafka cluster (3 brokers, memory only): \(bootstrap)")
            }
            let usingMock = mock != nil
            let kafkaURL = "kafka://\(bootstrap)?transactional_id=strata-bench-\(UUID().uuidString.prefix(8))"
            try await withScratchDatabase(options) { postgres in
                try await withScratchDatabase(options, name: "strata_bench_kafka", log: kafkaURL) { strata in
                    guard let kafka = strata.kafkaLog else { throw StrataError(.invalidConfiguration, "the scratch context has no Kafka log") }
                    if !usingMock {
                        try await kafka.createTopics([TopicSpec(name: referenceTopic, partitions: demo.partitions)])
                    }
                    let reference = KafkaReferenceProducer(bootstrap: bootstrap, properties: kafka.settings.properties, logger: logger)
                    let report = try await bench.run(
                        kafka: kafka, kafkaClient: strata.client, producer: strata.producer, reference: reference, referenceTopic: referenceTopic,
                        postgres: postgres.postgresLog, postgresClient: postgres.client, logger: logger)
                    printLine(report.markdown)
                }
            }
            withExtendedLifetime(mock) {}
        }
    }

    struct LogBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log",
            abstract: "Batched append vs raw COPY of the same rows; single-event appends from concurrent producers.",
            discussion: "Runs in a scratch database (strata_bench) on the configured server; build with -c release.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Events for the batched runs.") var events = 200_000
        @Option(name: .customLong("batch-size")) var batchSize = 1000
        @Option(help: "Concurrent single-event producers.") var producers = 16
        @Option(name: .customLong("single-events"), help: "Total single-event appends per round.") var singleEvents = 20_000
        @Option(help: "Rounds of each measurement (COPY and append alternate); every round is printed.") var rounds = 3

        func run() async throws {
            let bench = LogBenchmark(events: events, batchSize: batchSize, producers: producers, singleEvents: singleEvents, rounds: max(1, rounds))
            try await withScratchDatabase(options) { strata in
                let report = try await bench.run(log: strata.postgresLog, producer: strata.producer, client: strata.client, logger: strata.logger)
                printLine(report.markdown)
            }
        }
    }
}

/// Runs `body` against a freshly created scratch database (`name`) on the configured server, so a
/// benchmark never touches real data; `log` overrides the configured log (a kafka:// URL).
/// Seconds per measurement and rounds, for the benches that alternate Strata and a reference.
struct RoundOptions: ParsableArguments {
    @Option(help: "Seconds per measurement.") var seconds = 5.0
    @Option(help: "Rounds, alternating Strata and the reference; every round is printed.") var rounds = 3

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be between 0 and 600") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be between 1 and 20") }
    }
}

func withScratchDatabase(
    _ options: GlobalOptions, name: String = "strata_bench", log: String? = nil, _ body: @Sendable (StrataContext) async throws -> Void
) async throws {
    var configuration = try options.makeConfiguration()
    let logger = try options.makeLogger()
    try await reportingErrors {
        var url = try DatabaseURLParts(try StrataContext.resolveDatabaseURL(configuration, logger: logger))
        var adminConfiguration = configuration.withDatabase(url.string)
        adminConfiguration.logURL = nil
        try await StrataContext.with(adminConfiguration, logger: logger) { admin in
            try await admin.client.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
            try await admin.client.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        url.database = name
        configuration.databaseURL = url.string
        if let log { configuration.logURL = log }
        progress("benchmark database: \(url.redacted)")
        try await StrataContext.with(configuration, logger: logger, body)
    }
}

/// Swaps the database name in a postgres:// URL.
struct DatabaseURLParts {
    var components: URLComponents
    init(_ text: String) throws {
        guard let c = URLComponents(string: text) else { throw StrataError(.invalidConfiguration, "bad database URL") }
        components = c
    }
    var database: String {
        get { String(components.path.dropFirst()) }
        set { components.path = "/" + newValue }
    }
    var string: String { components.string ?? "" }
    var redacted: String {
        var c = components
        if c.password != nil { c.password = "***" }
        return c.string ?? ""
    }
}

extension StrataConfiguration {
    func withDatabase(_ url: String) -> StrataConfiguration {
        var copy = self
        copy.databaseURL = url
        return copy
    }
}
