import ArgumentParser
import Foundation
import StrataApp
import StrataCore
import StrataPostgres

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the embedded PostgreSQL cluster.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self])

    struct Options: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "Folder of the embedded cluster (env STRATA_DATA_DIR; default ./.strata)")
        var dataDirectory: String?

        var embedded: EmbeddedPostgres {
            EmbeddedPostgres(directory: dataDirectory.map { URL(fileURLWithPath: $0) } ?? EmbeddedPostgres.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the cluster if needed and start it.")
        @OptionGroup var options: Options
        func run() async throws {
            try await reportingErrors {
                let settings = try options.embedded.start()
                printLine("embedded PostgreSQL running on 127.0.0.1:\(settings.port) (data: \(options.embedded.directory.path))")
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the cluster cleanly.")
        @OptionGroup var options: Options
        func run() async throws {
            try await reportingErrors {
                try options.embedded.stop()
                printLine("embedded PostgreSQL stopped")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show whether the cluster exists and runs.")
        @OptionGroup var options: Options
        func run() async throws {
            try await reportingErrors {
                let status = try options.embedded.status()
                var line = "embedded PostgreSQL: \(status) (data: \(options.embedded.directory.path))"
                if let settings = try options.embedded.settings() { line += ", port \(settings.port)" }
                printLine(line)
                if case .running = status {} else { throw ExitCode(3) }
            }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "url", abstract: "Print the cluster's connection URL (for psql).")
        @OptionGroup var options: Options
        func run() async throws {
            try await reportingErrors {
                guard let settings = try options.embedded.settings() else {
                    throw StrataError(.embeddedDatabase, "the embedded cluster is not initialized; run 'strata db start'")
                }
                printLine(options.embedded.url(settings: settings))
            }
        }
    }
}
