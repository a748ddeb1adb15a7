import ArgumentParser
import Foundation
import Logging
import StrataApp
import StrataCore

@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "An event-sourced stream processor: an append-only log, projections, and a read API.",
        discussion: """
            With no --database-url, Strata runs on an embedded PostgreSQL cluster that it creates and \
            starts under --data-dir (default ./.strata).
            """,
        subcommands: [
            Topics.self, Produce.self, Tail.self, Serve.self, Ingest.self, Work.self, Replay.self, Lag.self, Status.self, DeadLettersCommand.self,
            Jobs.self, Crawl.self, ATProtoCommand.self, Migrate.self, DB.self, Bench.self, Dev.self,
        ]
    )
}

/// Options every command that talks to the log shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "postgres://user:password@host:port/db (env STRATA_DATABASE_URL); default: the embedded cluster")
    var databaseURL: String?

    @Option(name: .customLong("data-dir"), help: "Folder of the embedded cluster (env STRATA_DATA_DIR; default ./.strata)")
    var dataDirectory: String?

    @Option(help: "Topology file (env STRATA_TOPOLOGY; default ./topology/topics.yaml)")
    var topology: String?

    @Option(help: "Schema folder (env STRATA_SCHEMAS; default ./schemas)")
    var schemas: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error")
    var logLevel: String = "warning"

    @Option(name: .customLong("log"), help: "The event log: postgres (default) or kafka://host:port[,host:port][?settings] (env STRATA_LOG; docs/kafka.md)")
    var logURL: String?

    func makeConfiguration() throws -> StrataConfiguration {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        return StrataConfiguration(
            databaseURL: databaseURL, dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) },
            topologyFile: topology.map { URL(fileURLWithPath: $0) }, schemaDirectory: schemas.map { URL(fileURLWithPath: $0) },
            logLevel: level, logURL: logURL, environment: ProcessInfo.processInfo.environment)
    }

    func makeLogger(_ label: String = "strata") throws -> Logger {
        let configuration = try makeConfiguration()
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = configuration.logLevel
        return logger
    }

    /// Runs `body` connected to Strata, turning Strata's errors into a message and an exit code.
    /// `writer` names a long-running writer role whose Kafka transactional id is stable per host.
    func run<T: Sendable>(writer: String? = nil, _ body: @Sendable (StrataContext) async throws -> T) async throws -> T {
        var configuration = try makeConfiguration()
        if let writer {
            let host = ProcessInfo.processInfo.hostName.isEmpty ? "localhost" : ProcessInfo.processInfo.hostName
            configuration.kafkaTransactionalID = "strata-\(host)-\(writer)"
        }
        let logger = try makeLogger()
        return try await reportingErrors {
            try await StrataContext.with(configuration, logger: logger, body)
        }
    }
}

/// Prints a StrataError as `error: <where>: <why>` and exits with a code that says what kind it was:
/// 65 bad input, 78 bad configuration, 69 database unavailable, 1 anything else.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StrataError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(exitCode(for: error))
    }
}

func exitCode(for error: StrataError) -> Int32 {
    switch error.code {
    case .malformedJSON, .invalidEnvelope, .schemaViolation, .unknownTopic, .unknownEventType, .payloadTooLarge, .invalidInput, .conflict:
        return 65
    case .invalidConfiguration, .invalidTopology, .invalidSchema:
        return 78
    case .backend, .embeddedDatabase, .upstream:
        return 69
    case .timeout:
        // EX_TEMPFAIL: try again later.
        return 75
    default:
        return 1
    }
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}
