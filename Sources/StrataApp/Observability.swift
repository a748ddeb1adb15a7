import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataProjections
import Synchronization

/// Prometheus metrics for a `strata` process: swift-metrics is bootstrapped once with a Prometheus
/// registry, which `/metrics` renders.
public enum StrataMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The process's registry, bootstrapping swift-metrics with it on first use.
    public static func registry() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { bootstrapped in
            if let existing = bootstrapped { return existing }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            bootstrapped = registry
            return registry
        }
    }

    /// Counts applied events per projection (hooked into the worker's batch reports).
    @Sendable public static func recordBatch(_ report: ProjectionWorker.BatchReport) async {
        Counter(label: "strata_projection_events_applied_total", dimensions: [("projection", report.projection)])
            .increment(by: report.events)
        if report.parked > 0 {
            Counter(label: "strata_projection_events_parked_total", dimensions: [("projection", report.projection)])
                .increment(by: report.parked)
        }
    }
}

/// Publishes lag (events and seconds, per projection and partition), dead letters and end offsets
/// as gauges every few seconds.
public struct LagReporter: Service {
    let strata: StrataContext
    let interval: Duration

    public init(strata: StrataContext, interval: Duration = .seconds(5)) {
        self.strata = strata
        self.interval = interval
    }

    public func run() async throws {
        // Gauges recorded before swift-metrics is bootstrapped would go nowhere.
        _ = StrataMetrics.registry()
        let monitor = LagMonitor(client: strata.client, log: strata.log, logger: strata.logger)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let up = strata.probe.status.up
            recordLogProblems()
            do {
                // Bounded like every wait, and skipped while the database is known to be down, so a
                // hung database never freezes the metrics (lag keeps its last values meanwhile).
                if up { try await withDeadline(interval * 3, "measuring lag") { try await record(monitor) } }
            } catch {
                strata.logger.warning("could not measure lag", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// `strata_log_problem{problem}`: 1 while the log has that fault in this process.
    private func recordLogProblems() {
        let problems = Set(strata.log.problems.map(\.kind))
        for kind in LogProblem.kinds {
            Gauge(label: "strata_log_problem", dimensions: [("problem", kind)]).record(problems.contains(kind) ? 1 : 0)
        }
    }

    private func record(_ monitor: LagMonitor) async throws {
        let lag = try await monitor.measure()
        for row in lag {
            let dims = [("projection", row.projection), ("generation", row.state.rawValue), ("topic", row.topic), ("partition", String(row.partition))]
            Gauge(label: "strata_projection_lag_events", dimensions: dims).record(Double(row.events))
            Gauge(label: "strata_projection_lag_seconds", dimensions: dims).record(row.seconds)
            Gauge(label: "strata_projection_checkpoint", dimensions: dims).record(Double(row.checkpoint))
        }
        for status in try await ProjectionStatus.all(client: strata.client, log: strata.log, logger: strata.logger, lag: lag) {
            let dims = [("projection", status.projection)]
            Gauge(label: "strata_dead_letters_parked", dimensions: dims).record(Double(status.deadLetters))
            Gauge(label: "strata_projection_halted_partitions", dimensions: dims).record(Double(status.haltedPartitions))
            Gauge(label: "strata_projection_stalled_partitions", dimensions: dims).record(Double(status.stalledPartitions))
        }
        for topic in try await strata.log.topics() {
            for (p, end) in try await strata.log.endOffsets(topic: topic.name).enumerated() {
                Gauge(label: "strata_log_end_offset", dimensions: [("topic", topic.name), ("partition", String(p))]).record(Double(end))
            }
        }
    }
}
