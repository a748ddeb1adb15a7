import Foundation
import Hummingbird
import Prometheus
import StrataCore
import StrataPostgres
import StrataProjections

/// The runtime over HTTP: status, lag, dead letters (read-only; retrying needs the CLI, which runs
/// the projection code).
struct ProjectionRoutes: APIRoutes {
    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        router.get("/v1/projections") { _, _ -> Response in
            let statuses = try await ProjectionStatus.all(client: deps.client, log: deps.log, logger: deps.logger)
            return JSONResponse.make(["projections": .array(statuses.map(\.json))])
        }
        router.get("/v1/lag") { request, _ -> Response in
            let rows = try await LagMonitor(client: deps.client, log: deps.log, logger: deps.logger)
                .measure(projection: request.stringQuery("projection"))
            return JSONResponse.make(["partitions": .array(rows.map(\.json))])
        }
        router.get("/v1/dead-letters") { request, _ -> Response in
            let limit = try request.intQuery("limit", default: 100, range: 1...1000)!
            let filter = request.stringQuery("status") ?? DeadLetters.Status.parked.rawValue
            let status = DeadLetters.Status(rawValue: filter)
            guard status != nil || filter == "all" else {
                throw APIError.badRequest("status must be parked, applied, discarded or all")
            }
            let entries = try await DeadLetters(client: deps.client, log: deps.log, logger: deps.logger)
                .list(projection: request.stringQuery("projection"), status: status, limit: limit)
            return JSONResponse.make(["dead_letters": .array(entries.map(\.json))])
        }
    }
}

/// `/health` (each projection's lag, the database) and `/metrics` (Prometheus).
///
/// `/health` answers 503 `unavailable` at once while the database is down (known from the probe),
/// or when a status query misses its 5 s deadline;
/// 200 `degraded` when a projection is halted or has a stalled partition, or a source is down;
/// 200 `ok` otherwise.
struct HealthRoutes: APIRoutes {
    /// For the status queries of a live database (an outage is known from the probe at once), so
    /// generous enough for a busy one.
    static let deadline: Duration = .seconds(5)

    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        router.get("/health") { _, _ -> Response in
            if let probe = deps.probe, !probe.status.up {
                let status = probe.status
                return JSONResponse.make([
                    "status": "unavailable", "database": "down", "since": .string(RFC3339.format(status.since)),
                    "error": .string(status.error ?? "no answer"),
                ], status: .serviceUnavailable)
            }
            do {
                let statuses = try await withDeadline(Self.deadline, "reading projection status") {
                    try await ProjectionStatus.all(client: deps.client, log: deps.log, logger: deps.logger)
                }
                let degraded = statuses.filter { $0.state.isDegraded }
                let sources = deps.sources?.statuses ?? []
                let sourcesDown = sources.filter { !$0.up }
                let logProblems = deps.log.problems
                var body: [String: JSONValue] = [
                    "status": .string(degraded.isEmpty && sourcesDown.isEmpty && logProblems.isEmpty ? "ok" : "degraded"), "database": "ok",
                    "log": .object(["state": .string(logProblems.isEmpty ? "ok" : "degraded"), "problems": .array(logProblems.map {
                        ["problem": .string($0.kind), "detail": .string($0.detail), "since": .string(RFC3339.format($0.since))]
                    })]),
                    "projections": .array(statuses.map {
                        ["projection": .string($0.projection), "state": .string($0.state.rawValue), "lag_events": .int($0.lagEvents),
                         "lag_seconds": .double(($0.lagSeconds * 1000).rounded() / 1000), "dead_letters": .int($0.deadLetters),
                         "halted_partitions": .int($0.haltedPartitions), "stalled_partitions": .int($0.stalledPartitions)]
                    }),
                ]
                if !sources.isEmpty {
                    body["sources"] = .array(sources.map {
                        ["source": .string($0.name), "state": .string($0.up ? "up" : "down"), "detail": .string($0.detail),
                         "since": .string(RFC3339.format($0.since))]
                    })
                }
                if !degraded.isEmpty || !sourcesDown.isEmpty || !logProblems.isEmpty {
                    body["reasons"] = .array(degraded.map { s in
                        .string(s.state == .halted
                            ? "\(s.projection): \(s.haltedPartitions) partition(s) halted on a poison event (strata dead-letters list)"
                            : "\(s.projection): \(s.stalledPartitions) partition(s) with events waiting made no progress for \(Int(LagMonitor.stallAfter)) s")
                    } + sourcesDown.map { .string("source \($0.name) is down: \($0.detail)") }
                      + logProblems.map { .string("the log: \($0.detail)") })
                }
                return JSONResponse.make(.object(body))
            } catch {
                return JSONResponse.make(["status": "unavailable", "database": "down", "error": .string(PostgresErrors.message(error))],
                    status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, _ -> Response in
            guard let registry = deps.metrics else { throw APIError.notFound("metrics are not enabled in this process") }
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}
