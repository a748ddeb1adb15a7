import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import StrataCore
import StrataPostgres
import StrataProjections

extension StrataContext {
    /// Runs `services` beside the log's notification listener and the database probe until they
    /// finish or SIGINT/SIGTERM asks for a graceful shutdown. The first service to return ends the
    /// group.
    ///
    /// Shutdown is bounded whatever state the database is in: 4 s to finish the current batches and
    /// requests, then cancellation; and should anything still hold the process, the watchdog ends
    /// it (exit 70, with a message) 7 s after the signal. Only for a process's main job
    /// (`shutdownWatchdog`), since it exits the process.
    public func runServices(_ services: [any Service], shutdownWatchdog: Bool = true) async throws {
        var configurations: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: postgresLog, successTerminationBehavior: .ignore),
            .init(service: probe, successTerminationBehavior: .ignore),
        ]
        for s in services { configurations.append(.init(service: s, successTerminationBehavior: .gracefullyShutdownGroup)) }
        if shutdownWatchdog {
            // Last: services are told to shut down in reverse order, so it arms before any waits.
            configurations.append(.init(service: ShutdownWatchdog(limit: .seconds(7), logger: logger), successTerminationBehavior: .ignore))
        }
        var configuration = ServiceGroupConfiguration(services: configurations, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = .seconds(4)
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


/// Ends the process `limit` after a graceful shutdown began if it has not ended by then: every
/// wait has a deadline, but a library that ignores cancellation must not keep a stopped Strata
/// alive. Runs on a thread of its own, outside the cooperative pool that a stuck task may hold.
struct ShutdownWatchdog: Service {
    let limit: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        let logger = self.logger
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            logger.error("shutdown did not complete in time; exiting", metadata: ["limit_seconds": "\(seconds)"])
            exit(70)
        }
    }
}
