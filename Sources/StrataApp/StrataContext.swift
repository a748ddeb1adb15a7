import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataKafka
import StrataPostgres
import StrataProjections

/// A connected Strata: the database client, the log, and the validating producer.
public struct StrataContext: Sendable {
    public let configuration: StrataConfiguration
    public let client: PostgresClient
    /// The log, through the backend-neutral contract.
    public let log: any EventLog
    /// The PostgreSQL backend (its notification listener is a Service); the log itself unless the
    /// configuration names a Kafka log.
    public let postgresLog: PostgresEventLog
    /// The Kafka backend, when the configuration names one (`log` is then this).
    public let kafkaLog: KafkaEventLog?
    public let producer: EventProducer
    /// Whether the database answers (run as a service by `runServices`).
    public let probe: DatabaseProbe
    public let topology: Topology
    public let schemas: SchemaCatalog
    public let logger: Logger
    /// Where the database is, without its password.
    public let databaseDescription: String

    /// Resolves the database (starting the embedded cluster when no URL is given), connects, applies
    /// migrations, declares the topology's topics, runs `body`, and disconnects.
    public static func with<T: Sendable>(
        _ configuration: StrataConfiguration, logger: Logger, topologyOverride: Topology? = nil,
        _ body: @Sendable (StrataContext) async throws -> T
    ) async throws -> T {
        let topology = try topologyOverride ?? configuration.loadTopology()
        let schemas = try configuration.loadSchemas()
        try StrataConfiguration.check(topology, against: schemas)
        let url = try DatabaseURL(try resolveDatabaseURL(configuration, logger: logger))
        let client = PostgresClient(configuration: try url.clientConfiguration(maximumConnections: configuration.maximumConnections), backgroundLogger: logger)
        return try await client.whileRunning { client in
            try await checkConnection(client, url: url, logger: logger)
            let pgLog = PostgresEventLog(client: client, logger: logger)
            try await pgLog.migrate()
            let kafka = try configuration.kafkaSettings().map { try KafkaEventLog(settings: $0, logger: logger) }
            let log: any EventLog = kafka ?? pgLog
            do {
                try await log.createTopics(topology.sortedTopics)
                try await MigrationRunner.migrate(component: ProjectionMigrations.component, ProjectionMigrations.all, client: client, logger: logger)
                let context = StrataContext(
                    configuration: configuration, client: client, log: log, postgresLog: pgLog, kafkaLog: kafka,
                    producer: EventProducer(log: log, topology: topology, schemas: schemas),
                    probe: DatabaseProbe(client: client, logger: logger), topology: topology, schemas: schemas,
                    logger: logger, databaseDescription: url.description)
                let result = try await body(context)
                await kafka?.close()
                return result
            } catch {
                await kafka?.close()
                throw error
            }
        }
    }

    /// Where the log is, as the user sees it.
    public var logDescription: String {
        kafkaLog.map { "kafka://\($0.settings.bootstrap)" } ?? "postgres (\(databaseDescription))"
    }

    /// The pool retries connecting forever; a first query with a deadline turns a wrong URL, a
    /// missing database or a server that is down into an error instead of a hang.
    public static func checkConnection(_ client: PostgresClient, url: DatabaseURL, logger: Logger, timeout: Duration = .seconds(15)) async throws {
        let outcome = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await client.query("SELECT 1", logger: logger)
                    return nil
                } catch {
                    return "\(String(reflecting: error))"
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return "no connection within \(timeout)"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let failure = outcome {
            throw StrataError(.backend, "cannot connect to \(url): \(failure)")
        }
    }

    /// The configured URL, or the embedded cluster's (created and started if needed).
    public static func resolveDatabaseURL(_ configuration: StrataConfiguration, logger: Logger) throws -> String {
        if let url = configuration.databaseURL { return url }
        let embedded = EmbeddedPostgres(directory: configuration.dataDirectory)
        let wasRunning: Bool
        if case .running = try embedded.status() { wasRunning = true } else { wasRunning = false }
        if !wasRunning {
            logger.info("starting embedded PostgreSQL", metadata: ["directory": "\(configuration.dataDirectory.path)"])
        }
        let settings = try embedded.start()
        return embedded.url(settings: settings)
    }
}
