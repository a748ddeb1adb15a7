import Foundation
import Hummingbird
import Logging
import PostgresNIO
import StrataAPI
import StrataCore
import StrataPostgres

/// `GET /v1/jobs`, `GET /v1/jobs/{name}/runs`, and (with the API token) `POST /v1/jobs/{name}/runs`
/// to ask for a run and `POST /v1/jobs/runs/{run_id}/cancel`. Run updates stream as SSE from
/// `GET /v1/topics/jobs/tail`.
public struct JobRoutes: APIRoutes {
    public init() {}

    public func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger
        @Sendable func one(_ query: PostgresQuery) async throws -> String? {
            do {
                return try await JSONPage.one(db, query, logger: logger)
            } catch where PostgresErrors.isMissingView(error) {
                throw APIError(.serviceUnavailable, "jobs_projection_missing", "the jobs projection has no view yet: run `strata work` (or serve) with the jobs topic")
            }
        }

        router.get("/v1/jobs") { _, _ -> Response in
            let json = try await one(JobQueries.list)
            return rawJSONResponse(json ?? #"{"jobs":[]}"#)
        }

        router.get("/v1/jobs/:name/runs") { request, context -> Response in
            let name = try context.parameters.require("name")
            let limit = try request.intQuery("limit", default: 50, range: 1...500)!
            guard let json = try await one(JobQueries.runs(name, limit: limit))
            else { throw APIError.notFound("no job '\(name)'") }
            return rawJSONResponse(json)
        }

        router.post("/v1/jobs/:name/runs") { request, context -> Response in
            try request.requireWriteToken(deps)
            let name = try context.parameters.require("name")
            guard try await one("SELECT job FROM jobs.declared WHERE job = \(name)") != nil else {
                throw APIError.notFound("no job '\(name)' is declared (a scheduler declares the jobs of its jobs file)")
            }
            let runID = JobEvents.manualRunID(job: name)
            _ = try await deps.append([JobEvents.requestedDraft(job: name, runID: runID, attempt: 1, reason: .manual, at: Date(),
                requestedBy: request.stringQuery("by") ?? "api")])
            return JSONResponse.make(["message": "requested", "run_id": .string(runID)], status: .accepted)
        }

        router.post("/v1/jobs/runs/:run/cancel") { request, context -> Response in
            try request.requireWriteToken(deps)
            let run = try context.parameters.require("run")
            guard let json = try await one("SELECT json_build_object('job', job, 'state', state)::text FROM jobs.runs WHERE run_id = \(run)"),
                let row = try? JSONParser.parse(Array(json.utf8)), let job = row["job"]?.stringValue
            else { throw APIError.notFound("no run '\(run)'") }
            guard row["state"]?.stringValue != "finished" else {
                throw APIError(.conflict, "already_finished", "run '\(run)' has already finished")
            }
            _ = try await deps.append([JobEvents.cancelDraft(job: job, runID: run, requestedBy: request.stringQuery("by") ?? "api", at: Date())])
            return JSONResponse.make(["message": "cancel requested", "run_id": .string(run)], status: .accepted)
        }
    }
}

/// The jobs projection's reads, as JSON text (the routes and `strata jobs` share them).
public enum JobQueries {
    public static let list: PostgresQuery = """
        SELECT json_build_object('jobs', coalesce(json_agg(j ORDER BY j.job), '[]'))::text FROM (
          SELECT d.job, d.schedule, d.action, d.timeout_seconds, d.retries, d.retry_backoff_seconds, d.concurrency, d.declared_at,
                 (SELECT count(*) FROM jobs.runs r WHERE r.job = d.job AND r.state = 'running') AS running,
                 (SELECT count(*) FROM jobs.runs r WHERE r.job = d.job AND r.state = 'queued') AS queued,
                 (SELECT max(finished_at) FROM jobs.runs r WHERE r.job = d.job AND r.conclusion = 'succeeded') AS last_success_at,
                 (SELECT row_to_json(l) FROM (SELECT run_id, reason, attempt, state, conclusion, requested_at, started_at, finished_at, error
                                                FROM jobs.runs r WHERE r.job = d.job ORDER BY requested_at DESC, run_id DESC LIMIT 1) l) AS last_run
            FROM jobs.declared d) j
        """

    /// `{job, runs: [...]}` newest first with their attempts, or no row when the job is unknown.
    public static func runs(_ name: String, limit: Int) -> PostgresQuery {
        """
        SELECT json_build_object('job', \(name), 'runs', coalesce((SELECT json_agg(r ORDER BY r.requested_at DESC, r.run_id DESC) FROM (
            SELECT run_id, reason, scheduled_for, requested_at, requested_by, attempt, state, conclusion, not_before, started_at, finished_at,
                   runner, exit_code, error, duration_ms, progress, progress_at, cancel_requested_at, cancel_requested_by,
                   (SELECT json_agg(a ORDER BY a.attempt) FROM (SELECT attempt, reason, requested_at, not_before, started_at, finished_at, runner,
                           conclusion, exit_code, error, duration_ms FROM jobs.attempts a WHERE a.run_id = runs.run_id) a) AS attempts
              FROM jobs.runs WHERE job = \(name) ORDER BY requested_at DESC, run_id DESC LIMIT \(limit)) r), '[]'))::text
         WHERE EXISTS (SELECT 1 FROM jobs.declared WHERE job = \(name)) OR EXISTS (SELECT 1 FROM jobs.runs WHERE job = \(name))
        """
    }
}
