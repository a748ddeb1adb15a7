import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import StrataCore
import StrataPostgres
import StrataProjections

extension StrataContext {
    /// Runs `services` beside the log's notification listener until they finish or SIGINT/SIGTERM
    /// asks for a graceful shutdown. The first service to return ends the group.
    public func runServices(_ services: [any Service]) async throws {
        var configurations: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: postgresLog, successTerminationBehavior: .ignore)
        ]
        for s in services { configurations.append(.init(service: s, successTerminationBehavior: .gracefullyShutdownGroup)) }
        var configuration = ServiceGroupConfiguration(services: configurations, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: configuration).run()
    }
}

extension StrataContext {
    /// Creates every projection's first generation (and its reader views) if it has none, so the
    /// API can answer (with empty views) before any worker has run.
    public func registerProjections(_ projections: [any Projection]) async throws {
        let catalog = GenerationCatalog(client: client, log: log, logger: logger)
        for p in projections { try await catalog.register(p) }
    }
}

/// Keeps a closure running as a Service.
public struct ClosureService: Service {
    let body: @Sendable () async throws -> Void
    public init(_ body: @escaping @Sendable () async throws -> Void) { self.body = body }
    public func run() async throws { try await body() }
}
