import Foundation
import Hummingbird
import Prometheus
import StrataCore
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
            let status = request.stringQuery("status") ?? "parked"
            guard ["parked", "applied", "discarded", "all"].contains(status) else {
                throw APIError.badRequest("status must be parked, applied, discarded or all")
            }
            let entries = try await DeadLetters(client: deps.client, log: deps.log, logger: deps.logger)
                .list(projection: request.stringQuery("projection"), status: status == "all" ? nil : status, limit: limit)
            return JSONResponse.make(["dead_letters": .array(entries.map(\.json))])
        }
    }
}

/// `/health` (each projection's lag, the database) and `/metrics` (Prometheus).
struct HealthRoutes: APIRoutes {
    func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        router.get("/health") { _, _ -> Response in
            do {
                let statuses = try await ProjectionStatus.all(client: deps.client, log: deps.log, logger: deps.logger)
                let degraded = statuses.contains { $0.state == "halted" }
                return JSONResponse.make([
                    "status": .string(degraded ? "degraded" : "ok"), "database": "ok",
                    "projections": .array(statuses.map {
                        ["projection": .string($0.projection), "state": .string($0.state), "lag_events": .int($0.lagEvents),
                         "lag_seconds": .double(($0.lagSeconds * 1000).rounded() / 1000), "dead_letters": .int($0.deadLetters)]
                    }),
                ])
            } catch {
                return JSONResponse.make(["status": "unavailable", "database": .string("\(error)")], status: .serviceUnavailable)
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
