import Foundation
import PostgresNIO
import StrataCore
import StrataProjections

/// Job declarations, runs and attempts, from the `jobs` topic. Each event is applied in log order
/// (a job's events share a partition), every column from the event itself, so a replay gives the
/// same tables.
public struct JobsProjection: Projection {
    public let name = "jobs"
    public let topics = [JobEvents.topic]
    public let version = 1

    public init() {}

    public func createTables(_ context: ProjectionContext) async throws {
        try await context.execute("""
            CREATE TABLE \(context.table("declared")) (
                job text PRIMARY KEY, schedule text, action jsonb NOT NULL, timeout_seconds bigint NOT NULL, retries int NOT NULL,
                retry_backoff_seconds bigint NOT NULL, concurrency int NOT NULL, declared_at timestamptz NOT NULL
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("runs")) (
                run_id text PRIMARY KEY, job text NOT NULL, reason text NOT NULL, scheduled_for timestamptz, requested_at timestamptz NOT NULL,
                requested_by text, attempt int NOT NULL, state text NOT NULL, conclusion text, not_before timestamptz,
                started_at timestamptz, finished_at timestamptz, runner text, exit_code int, error text, duration_ms bigint,
                progress text, progress_at timestamptz, cancel_requested_at timestamptz, cancel_requested_by text,
                log_partition int NOT NULL, log_offset bigint NOT NULL
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("runs")) (job, requested_at DESC, run_id)")
        try await context.execute("""
            CREATE TABLE \(context.table("attempts")) (
                run_id text NOT NULL, attempt int NOT NULL, requested_at timestamptz NOT NULL, reason text NOT NULL, not_before timestamptz,
                started_at timestamptz, finished_at timestamptz, runner text, conclusion text, exit_code int, error text, duration_ms bigint,
                PRIMARY KEY (run_id, attempt)
            )
            """)
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        let runs = context.table("runs")
        let attempts = context.table("attempts")
        for event in events {
            let p = try JSONParser.parse(event.payload)
            guard let job = p["job"]?.stringValue else { throw ProjectionError("event \(event.position) has no 'job'") }
            let at = p["at"]?.stringValue.flatMap(RFC3339.parse) ?? event.appendedAt
            if event.type == JobEvents.declared {
                try await context.query("""
                    INSERT INTO \(unescaped: context.table("declared")) AS d
                        (job, schedule, action, timeout_seconds, retries, retry_backoff_seconds, concurrency, declared_at)
                    VALUES (\(job), \(p["schedule"]?.stringValue), \(JSONWriter.string(p["action"] ?? .null))::jsonb,
                            \(Int64(p["timeout_seconds"]?.intValue ?? 0)), \(p["retries"]?.intValue ?? 0),
                            \(Int64(p["retry_backoff_seconds"]?.intValue ?? 0)), \(p["concurrency"]?.intValue ?? 1), \(at))
                    ON CONFLICT (job) DO UPDATE SET schedule = EXCLUDED.schedule, action = EXCLUDED.action,
                        timeout_seconds = EXCLUDED.timeout_seconds, retries = EXCLUDED.retries,
                        retry_backoff_seconds = EXCLUDED.retry_backoff_seconds, concurrency = EXCLUDED.concurrency, declared_at = EXCLUDED.declared_at
                    """)
                continue
            }
            guard let runID = p["run_id"]?.stringValue else { throw ProjectionError("event \(event.position) has no 'run_id'") }
            let attempt = p["attempt"]?.intValue ?? 1
            switch event.type {
            case JobEvents.requested:
                let reason = p["reason"]?.stringValue ?? "manual"
                let scheduledFor = p["scheduled_for"]?.stringValue.flatMap(RFC3339.parse)
                let notBefore = p["not_before"]?.stringValue.flatMap(RFC3339.parse)
                // A retry keeps the run's first request (time, reason) and moves it to the next attempt.
                try await context.query("""
                    INSERT INTO \(unescaped: runs) AS r (run_id, job, reason, scheduled_for, requested_at, requested_by, attempt, state, not_before,
                                                          log_partition, log_offset)
                    VALUES (\(runID), \(job), \(reason), \(scheduledFor), \(at), \(p["requested_by"]?.stringValue), \(attempt), 'queued', \(notBefore),
                            \(event.partition), \(event.offset))
                    ON CONFLICT (run_id) DO UPDATE SET attempt = EXCLUDED.attempt, state = 'queued', not_before = EXCLUDED.not_before,
                        conclusion = NULL, finished_at = NULL, started_at = NULL, runner = NULL, exit_code = NULL, error = NULL, duration_ms = NULL
                     WHERE r.attempt < EXCLUDED.attempt
                    """)
                try await context.query("""
                    INSERT INTO \(unescaped: attempts) (run_id, attempt, requested_at, reason, not_before)
                    VALUES (\(runID), \(attempt), \(at), \(reason), \(notBefore)) ON CONFLICT DO NOTHING
                    """)
            case JobEvents.started:
                let runner = p["runner"]?.stringValue
                try await context.query("""
                    UPDATE \(unescaped: runs) SET state = 'running', started_at = \(at), runner = \(runner)
                     WHERE run_id = \(runID) AND attempt = \(attempt) AND state = 'queued'
                    """)
                try await context.query("UPDATE \(unescaped: attempts) SET started_at = \(at), runner = \(runner) WHERE run_id = \(runID) AND attempt = \(attempt)")
            case JobEvents.progress:
                try await context.query("""
                    UPDATE \(unescaped: runs) SET progress = \(p["message"]?.stringValue), progress_at = \(at)
                     WHERE run_id = \(runID) AND attempt = \(attempt)
                    """)
            case JobEvents.cancelRequested:
                try await context.query("""
                    UPDATE \(unescaped: runs) SET cancel_requested_at = \(at), cancel_requested_by = \(p["requested_by"]?.stringValue)
                     WHERE run_id = \(runID) AND cancel_requested_at IS NULL
                    """)
            case JobEvents.finished:
                let conclusion = p["conclusion"]?.stringValue ?? "failed"
                let error = p["error"]?.stringValue
                let exitCode = p["exit_code"]?.intValue
                let duration = p["duration_ms"]?.intValue.map(Int64.init)
                let runner = p["runner"]?.stringValue
                try await context.query("""
                    UPDATE \(unescaped: runs) SET state = 'finished', conclusion = \(conclusion), finished_at = \(at), error = \(error),
                           exit_code = \(exitCode), duration_ms = \(duration), runner = coalesce(runner, \(runner))
                     WHERE run_id = \(runID) AND attempt = \(attempt) AND state <> 'finished'
                    """)
                try await context.query("""
                    UPDATE \(unescaped: attempts) SET finished_at = \(at), conclusion = \(conclusion), error = \(error), exit_code = \(exitCode),
                           duration_ms = \(duration), runner = coalesce(runner, \(runner))
                     WHERE run_id = \(runID) AND attempt = \(attempt) AND finished_at IS NULL
                    """)
            default:
                throw ProjectionError("event \(event.position): unknown job event type '\(event.type)'")
            }
        }
    }
}
