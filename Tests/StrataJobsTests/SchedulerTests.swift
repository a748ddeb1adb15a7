import Foundation
import PostgresNIO
import Prometheus
import StrataApp
import StrataCore
import StrataJobs
import StrataProjections
import StrataTestSupport
import Synchronization
import Testing

/// A clock the test moves.
final class TestClock: Sendable {
    let now: Mutex<Date>
    init(_ start: Date) { now = Mutex(start) }
    func set(_ date: Date) { now.withLock { $0 = date } }
    var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
}

/// The scheduler against a real PostgreSQL, with an injected clock for schedules.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SchedulerTests {
    static func utc(_ text: String) -> Date { RFC3339.parse(text)! }

    /// The jobs topic's events, decoded.
    static func events(_ strata: StrataContext) async throws -> [(type: String, payload: JSONValue)] {
        var all: [(Int64, String, JSONValue)] = []
        for (partition, end) in try await strata.log.endOffsets(topic: JobEvents.topic).enumerated() where end > 0 {
            for e in try await strata.log.read(topic: JobEvents.topic, partition: partition, from: 0, limit: Int(end)) {
                all.append((e.appendedAt.timeIntervalSince1970 == 0 ? 0 : Int64(e.appendedAt.timeIntervalSince1970 * 1e6), e.type, try JSONParser.parse(e.payload)))
            }
        }
        return all.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
    }

    static func waitFor(_ what: String, timeout: Duration = .seconds(30), _ strata: StrataContext,
        _ condition: ([(type: String, payload: JSONValue)]) -> Bool) async throws
    {
        let deadline = ContinuousClock.now + timeout
        var last: [(type: String, payload: JSONValue)] = []
        while ContinuousClock.now < deadline {
            last = try await events(strata)
            if condition(last) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \(what); jobs events: \(last.map { "\($0.type) \(JSONWriter.string($0.payload))" }.joined(separator: "\n"))")
        throw CancellationError()
    }

    static func scheduler(_ strata: StrataContext, _ specs: [JobSpec], id: String, clock: TestClock, health: SourceHealth? = nil) -> JobScheduler {
        var settings = JobSchedulerSettings(workerID: id)
        settings.health = health
        settings.leaseTTL = .seconds(10)
        settings.tick = .milliseconds(100)
        settings.killGrace = .seconds(1)
        settings.progressInterval = .milliseconds(300)
        settings.now = clock.read
        return JobScheduler(specs: specs, log: strata.log, producer: strata.producer, client: strata.client, settings: settings, logger: TestEnvironment.logger)
    }

    /// Runs `schedulers` while `body` runs, then stops them.
    static func running(_ schedulers: [JobScheduler], _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in schedulers { group.addTask { try await s.run() } }
            do { try await body() } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    static func finished(_ events: [(type: String, payload: JSONValue)], run: String) -> [JSONValue] {
        events.filter { $0.type == JobEvents.finished && $0.payload["run_id"]?.stringValue == run }.map(\.payload)
    }

    /// Three schedulers, one job every minute: each minute's run is requested, started and finished
    /// exactly once, by one runner; nothing runs at start-up for a job never run before; after all
    /// schedulers were down across five due times, the job runs once (`missed`), for the latest.
    /// The history is the same after a replay of the jobs projection.
    @Test func schedulesFireOnceAcrossThreeSchedulersAndMissedRunsRunOnce() async throws {
        try await TestEnvironment.withStrata { strata in
            let clock = TestClock(Self.utc("2026-12-03T12:00:30Z"))
            let spec = JobSpec(name: "minutely", schedule: .every(seconds: 60), action: .command(["true"]))
            let three = (1...3).map { Self.scheduler(strata, [spec], id: "scheduler-\($0)", clock: clock) }
            try await Self.running(three) {
                try await Self.waitFor("the declaration", strata) { $0.contains { $0.type == JobEvents.declared } }
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await Self.events(strata).filter { $0.type == JobEvents.requested }.isEmpty, "ran at start-up")
                for minute in ["12:01", "12:02", "12:03"] {
                    clock.set(Self.utc("2026-12-03T\(minute):00.200Z"))
                    let run = JobEvents.scheduledRunID(job: "minutely", slot: Self.utc("2026-12-03T\(minute):00Z"))
                    try await Self.waitFor("run \(run)", strata) { !Self.finished($0, run: run).isEmpty }
                    clock.set(Self.utc("2026-12-03T\(minute):40Z"))
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            var events = try await Self.events(strata)
            let requested = events.filter { $0.type == JobEvents.requested }
            #expect(requested.compactMap { $0.payload["scheduled_for"]?.stringValue }.map { RFC3339.parse($0)! }
                == ["12:01", "12:02", "12:03"].map { Self.utc("2026-12-03T\($0):00Z") })
            #expect(requested.allSatisfy { $0.payload["reason"] == "schedule" })
            let started = events.filter { $0.type == JobEvents.started }
            #expect(started.count == 3)
            #expect(Set(started.compactMap { $0.payload["runner"]?.stringValue }).count == 1, "one runner: \(started.map(\.payload))")
            #expect(events.filter { $0.type == JobEvents.finished }.allSatisfy { $0.payload["conclusion"] == "succeeded" })

            // Everything down from 12:03:40 to 12:09:30: one run, for 12:09, marked missed.
            clock.set(Self.utc("2026-12-03T12:09:30Z"))
            try await Self.running([Self.scheduler(strata, [spec], id: "scheduler-4", clock: clock)]) {
                let run = JobEvents.scheduledRunID(job: "minutely", slot: Self.utc("2026-12-03T12:09:00Z"))
                try await Self.waitFor("the missed run", strata) { !Self.finished($0, run: run).isEmpty }
                try await Task.sleep(for: .milliseconds(500))
            }
            events = try await Self.events(strata)
            let after = events.filter { $0.type == JobEvents.requested }.dropFirst(3)
            #expect(after.count == 1)
            #expect(after.first?.payload["reason"] == "missed")
            #expect(after.first?.payload["scheduled_for"] == .string(RFC3339.format(Self.utc("2026-12-03T12:09:00Z"))))

            // The projection's history, and the same after a replay.
            try await ProjectionHarness.runUntilCaughtUp(strata, [JobsProjection()], timeout: .seconds(300))
            let history = try await DeterminismHarness.dumpAll(strata, [JobsProjection()])
            let runs = try JSONParser.parse(Array((history["jobs.runs"] ?? "[]").utf8)).arrayValue ?? []
            #expect(runs.count == 4)
            #expect(runs.allSatisfy { $0["state"] == "finished" && $0["conclusion"] == "succeeded" })
            _ = try await GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger).startReplay(JobsProjection())
            try await ProjectionHarness.runUntilCaughtUp(strata, [JobsProjection()], timeout: .seconds(300))
            #expect(try await DeterminismHarness.dumpAll(strata, [JobsProjection()]) == history)
        }
    }

    /// A run over its timeout is cancelled; a failed attempt is retried after its backoff and the
    /// retry succeeds; a cancel request stops a running run; a scheduled run due while the job is
    /// at its concurrency is skipped.
    @Test func timeoutsRetriesCancelsAndSkips() async throws {
        let metrics = StrataMetrics.registry()
        try await TestEnvironment.withStrata { strata in
            let clock = TestClock(Self.utc("2026-12-03T12:00:30Z"))
            let marker = FileManager.default.temporaryDirectory.appendingPathComponent("strata-flaky-\(UUID().uuidString.prefix(6))")
            defer { try? FileManager.default.removeItem(at: marker) }
            var slow = JobSpec(name: "slow", schedule: nil, action: .command(["sleep", "30"]))
            slow.timeoutSeconds = 1
            var flaky = JobSpec(name: "flaky", schedule: nil, action: .command(["sh", "-c", "echo trying; test -e \(marker.path) || { touch \(marker.path); echo broke >&2; exit 3; }"]))
            flaky.retries = 2
            flaky.retryBackoffSeconds = 0
            let long = JobSpec(name: "long", schedule: .every(seconds: 60), action: .command(["sh", "-c", "echo step 1; sleep 30"]))
            let scheduler = Self.scheduler(strata, [slow, flaky, long], id: "runner", clock: clock)
            try await Self.running([scheduler]) {
                try await Self.waitFor("declarations", strata) { $0.filter { $0.type == JobEvents.declared }.count == 3 }
                let now = clock.read()
                _ = try await strata.producer.append([
                    JobEvents.requestedDraft(job: "slow", runID: "slow@t", attempt: 1, reason: .manual, at: now, requestedBy: "test"),
                    JobEvents.requestedDraft(job: "flaky", runID: "flaky@t", attempt: 1, reason: .manual, at: now, requestedBy: "test"),
                ])
                try await Self.waitFor("the timeout", strata) { !Self.finished($0, run: "slow@t").isEmpty }
                try await Self.waitFor("the retry", strata) { Self.finished($0, run: "flaky@t").count == 2 }
                // The schedule starts `long` at 12:01; at 12:02 it is still going: skipped.
                clock.set(Self.utc("2026-12-03T12:01:00.100Z"))
                let first = JobEvents.scheduledRunID(job: "long", slot: Self.utc("2026-12-03T12:01:00Z"))
                try await Self.waitFor("long to start", strata) { $0.contains { $0.type == JobEvents.started && $0.payload["run_id"]?.stringValue == first } }
                try await Self.waitFor("its progress", strata) { $0.contains { $0.type == JobEvents.progress && $0.payload["message"] == "step 1" } }
                clock.set(Self.utc("2026-12-03T12:02:00.100Z"))
                let second = JobEvents.scheduledRunID(job: "long", slot: Self.utc("2026-12-03T12:02:00Z"))
                try await Self.waitFor("the skip", strata) { !Self.finished($0, run: second).isEmpty }
                _ = try await strata.producer.append([JobEvents.cancelDraft(job: "long", runID: first, requestedBy: "test", at: clock.read())])
                try await Self.waitFor("the cancel", strata) { !Self.finished($0, run: first).isEmpty }
            }
            let events = try await Self.events(strata)
            let timedOut = try #require(Self.finished(events, run: "slow@t").first)
            #expect(timedOut["conclusion"] == "cancelled")
            #expect(timedOut["error"] == "timed out after 1s")
            let flakyRuns = Self.finished(events, run: "flaky@t")
            #expect(flakyRuns.map { $0["conclusion"]?.stringValue } == ["failed", "succeeded"])
            #expect(flakyRuns.first?["exit_code"] == 3)
            #expect(flakyRuns.first?["error"]?.stringValue?.contains("broke") == true, "\(flakyRuns)")
            #expect(events.filter { $0.type == JobEvents.requested && $0.payload["run_id"] == "flaky@t" }.map { $0.payload["reason"]?.stringValue }
                == ["manual", "retry"])
            let skipped = Self.finished(events, run: JobEvents.scheduledRunID(job: "long", slot: Self.utc("2026-12-03T12:02:00Z")))
            #expect(skipped.first?["conclusion"] == "skipped")
            let cancelled = Self.finished(events, run: JobEvents.scheduledRunID(job: "long", slot: Self.utc("2026-12-03T12:01:00Z")))
            #expect(cancelled.first?["conclusion"] == "cancelled")
            #expect(cancelled.first?["error"] == "cancelled on request")

            // The runs are in Prometheus's exposition (what `/metrics` serves in the scheduling process).
            var buffer: [UInt8] = []
            metrics.emit(into: &buffer)
            let exposition = String(decoding: buffer, as: UTF8.self)
            for series in [#"strata_job_runs_total{job="flaky",conclusion="succeeded"} 1"#, #"strata_job_runs_total{job="slow",conclusion="cancelled"} 1"#,
                           #"strata_job_failures_total{job="flaky"} 1"#, #"strata_job_last_duration_seconds{job="flaky"}"#,
                           #"strata_job_last_success_timestamp_seconds{job="flaky"}"#] {
                #expect(exposition.contains(series), "\(series) missing from:\n\(exposition.split(separator: "\n").filter { $0.contains("strata_job") }.joined(separator: "\n"))")
            }
            try await ProjectionHarness.runUntilCaughtUp(strata, [JobsProjection()], timeout: .seconds(300))
            let rows = try await strata.client.query("SELECT run_id, attempt, state, conclusion, progress FROM jobs.runs ORDER BY run_id")
                .decode((String, Int, String, String?, String?).self)
            var byRun: [String: (Int, String, String?, String?)] = [:]
            for try await (run, attempt, state, conclusion, progress) in rows { byRun[run] = (attempt, state, conclusion, progress) }
            #expect(byRun["flaky@t"]?.0 == 2 && byRun["flaky@t"]?.2 == "succeeded")
            #expect(byRun["slow@t"]?.2 == "cancelled")
            #expect(byRun[JobEvents.scheduledRunID(job: "long", slot: Self.utc("2026-12-03T12:01:00Z"))]?.3 == "step 1")
        }
    }

    /// A scheduler that cannot tick (its lease table gone) is down in /health's sources with the
    /// error, and up again once it can.
    @Test func aSchedulerThatCannotTickIsDownInHealth() async throws {
        try await TestEnvironment.withStrata { strata in
            let health = SourceHealth()
            let spec = JobSpec(name: "hourly", schedule: .every(seconds: 3600), action: .command(["true"]))
            let scheduler = Self.scheduler(strata, [spec], id: "healthy", clock: TestClock(Self.utc("2026-12-03T12:00:30Z")), health: health)
            @Sendable func jobs() -> SourceHealth.Status? { health.statuses.first { $0.name == "jobs" } }
            @Sendable func until(_ up: Bool) async throws {
                let deadline = ContinuousClock.now + .seconds(60)
                while jobs()?.up != up {
                    guard ContinuousClock.now < deadline else { Issue.record("jobs never \(up ? "up" : "down"): \(String(describing: jobs()))"); return }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await Self.running([scheduler]) {
                try await until(true)
                #expect(jobs()?.detail.contains("healthy") == true)
                try await strata.client.query("ALTER TABLE strata.job_leases RENAME TO job_leases_away", logger: TestEnvironment.logger)
                try await until(false)
                #expect(jobs()?.detail.contains("job_leases") == true, "\(String(describing: jobs()))")
                try await strata.client.query("ALTER TABLE strata.job_leases_away RENAME TO job_leases", logger: TestEnvironment.logger)
                try await until(true)
            }
        }
    }
}
