import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataKafka

/// Everything a `strata` process needs to know, from flags and environment.
public struct StrataConfiguration: Sendable {
    /// A `postgres://` URL; nil runs on the embedded cluster under `dataDirectory`.
    public var databaseURL: String?
    /// Where the embedded cluster lives (`STRATA_DATA_DIR`, default `./.strata`).
    public var dataDirectory: URL
    /// The topology file (`STRATA_TOPOLOGY`, default `./topology/topics.yaml`).
    public var topologyFile: URL
    /// The payload schemas (`STRATA_SCHEMAS`, default `./schemas`).
    public var schemaDirectory: URL
    public var maximumConnections: Int
    public var logLevel: Logger.Level
    /// Where the event log is (`--log`, `STRATA_LOG`): nil or `postgres` for the database above,
    /// `kafka://host:port,...[?settings]` for Kafka (views and checkpoints stay in PostgreSQL).
    public var logURL: String?
    /// The Kafka producer's `transactional.id` when the log URL names none: stable per writer role
    /// (`strata serve` uses one per host), so a restarted writer fences its predecessor.
    public var kafkaTransactionalID: String?

    /// Explicit values win over `environment` (the CLI passes the process's, read once there;
    /// library callers pass none unless they mean to).
    public init(
        databaseURL: String? = nil, dataDirectory: URL? = nil, topologyFile: URL? = nil, schemaDirectory: URL? = nil,
        maximumConnections: Int = 40, logLevel: Logger.Level = .info, logURL: String? = nil, environment env: [String: String] = [:]
    ) {
        self.logURL = logURL ?? env["STRATA_LOG"].flatMap { $0.isEmpty ? nil : $0 }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        self.databaseURL = databaseURL ?? env["STRATA_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        self.dataDirectory = dataDirectory ?? EmbeddedPostgres.defaultDirectory(environment: env)
        self.topologyFile = topologyFile ?? env["STRATA_TOPOLOGY"].map { URL(fileURLWithPath: $0) }
            ?? cwd.appendingPathComponent("topology/topics.yaml")
        self.schemaDirectory = schemaDirectory ?? env["STRATA_SCHEMAS"].map { URL(fileURLWithPath: $0) }
            ?? cwd.appendingPathComponent("schemas")
        self.maximumConnections = maximumConnections
        self.logLevel = logLevel
    }

    public func loadTopology() throws -> Topology {
        guard FileManager.default.fileExists(atPath: topologyFile.path) else {
            throw StrataError(.invalidConfiguration,
                "topology file \(topologyFile.path) not found; run from the Strata folder or set STRATA_TOPOLOGY / --topology")
        }
        return try Topology.load(from: topologyFile)
    }

    public func loadSchemas() throws -> SchemaCatalog {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: schemaDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StrataError(.invalidConfiguration,
                "schema folder \(schemaDirectory.path) not found; run from the Strata folder or set STRATA_SCHEMAS / --schemas")
        }
        return try SchemaCatalog.load(from: schemaDirectory)
    }

    /// Every topic's event types must have a schema, so a typo in the topology is caught at start.
    public static func check(_ topology: Topology, against schemas: SchemaCatalog) throws {
        for topic in topology.sortedTopics {
            for type in topic.eventTypes where schemas.versions[type] == nil {
                throw StrataError(.invalidTopology, "topic '\(topic.name)' allows event type '\(type)', which has no schema in schemas/")
            }
        }
    }

    /// The Kafka log's settings, nil when the log is PostgreSQL.
    public func kafkaSettings() throws -> KafkaLogSettings? {
        guard let url = logURL, url != "postgres", url != "postgresql" else { return nil }
        guard url.hasPrefix("kafka://") else {
            throw StrataError(.invalidConfiguration, "unknown log '\(url)': use postgres or kafka://host:port[,host:port]")
        }
        let host = ProcessInfo.processInfo.hostName.isEmpty ? "localhost" : ProcessInfo.processInfo.hostName
        let fallback = kafkaTransactionalID ?? "strata-\(host)-\(ProcessInfo.processInfo.processIdentifier)"
        return try KafkaLogSettings.parse(url, defaultTransactionalID: fallback)
    }
}
