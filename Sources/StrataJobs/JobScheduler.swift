import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import Synchronization

/// How the scheduler runs.
public struct JobSchedulerSettings: Sendable {
    /// This process's identity in `strata.job_leases` and in `job.run.started`.
    public var workerID: String
    /// A runner that stops renewing its leases for this long loses its jobs to another process.
    public var leaseTTL: Duration = .seconds(10)
    /// How often leases are renewed and the log looked at.
    public var tick: Duration = .seconds(1)
    /// A scheduled time found this much later than it was due counts as `missed` (downtime).
    public var missedAfter: Duration = .seconds(60)
    /// After SIGTERM at a timeout or cancel, how long a run has before SIGKILL.
    public var killGrace: Duration = .seconds(5)
    /// A running job's latest output line is recorded as progress at most this often.
    public var progressInterval: Duration = .seconds(10)
    /// The `strata` binary `strata:` jobs run (default: this process's own executable).
    public var strataExecutable: URL?
    /// Added to the environment of every run (the database, topology and log this process uses).
    public var environment: [String: String] = [:]
    public var workingDirectory: URL?
    /// The scheduler's clock (tests inject one): schedules, `at` fields and backoff use it; leases
    /// and timeouts use real time.
    public var now: @Sendable () -> Date = { Date() }
    /// Where the scheduler reports itself for `/health` (as source `jobs`): down while its ticks
    /// fail (the database does not answer, the log cannot be read), with the error.
    public var health: SourceHealth?

    public init(workerID: String) {
        self.workerID = workerID
    }
}

/// Runs the declared jobs: exactly one process runs each job at a time (a lease per job in
/// `strata.job_leases`), requests runs when their schedule comes (once for the latest missed time
/// after downtime, never once per missed time), runs them as child processes with a timeout,
/// retries failures with backoff, honours cancel requests, and records every step on the `jobs`
/// topic. A run whose runner vanished (its lease expired while the run was `running`) is ended
/// `failed` by the next runner and retried if retries are left.
public final class JobScheduler: Service, Sendable {
    let specs: [JobSpec]
    let log: any EventLog
    let producer: EventProducer
    let client: PostgresClient
    let settings: JobSchedulerSettings
    let logger: Logger
    let active = Mutex<[String: ActiveRun]>([:])

    struct ActiveRun: Sendable {
        var job: String
        var attempt: Int
        var cancel: String?
        var done = false
    }

    public init(specs: [JobSpec], log: any EventLog, producer: EventProducer, client: PostgresClient, settings: JobSchedulerSettings, logger: Logger) {
        self.specs = specs
        self.log = log
        self.producer = producer
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        logger.info("job scheduler started", metadata: ["worker": "\(settings.workerID)", "jobs": "\(specs.map(\.name))"])
        var state = LoopState()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    try await tick(&state) { job, runID, attempt in
                        group.addTask { await self.execute(job, runID: runID, attempt: attempt) }
                    }
                    settings.health?.report("jobs", up: true, detail: "scheduling \(specs.count) job(s) as \(settings.workerID)")
                } catch is CancellationError {
                    break
                } catch {
                    Counter(label: "strata_job_scheduler_errors_total", dimensions: [("worker", settings.workerID)]).increment()
                    logger.warning("job scheduler tick failed", metadata: ["error": "\(PostgresErrors.message(error))"])
                    settings.health?.report("jobs", up: false, detail: "the scheduler cannot tick: \(PostgresErrors.message(error))")
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.settings.tick) }
            }
            // Stopping: runs still going are cancelled (and recorded so, while the database answers).
            active.withLock { runs in
                for key in runs.keys where !runs[key]!.done { runs[key]!.cancel = "the scheduler stopped (\(settings.workerID) shutting down)" }
            }
        }
        // Leases go back at once (even when cancelled rather than shut down), so another process
        // takes the jobs over without waiting out the TTL.
        let (db, me, log) = (self.client, settings.workerID, self.logger)
        await Task {
            try? await withDeadline(.seconds(5), "releasing job leases") {
                try await db.query("UPDATE strata.job_leases SET owner = NULL, expires_at = NULL WHERE owner = \(me)", logger: log)
            }
        }.value
        logger.info("job scheduler stopped", metadata: ["worker": "\(settings.workerID)"])
    }

    struct LoopState {
        var fold = JobFold()
        var offsets: [Int64] = []
        /// The latest slot this scheduler requested, before the log shows it.
        var anchors: [String: Date] = [:]
    }

    /// One heartbeat: leases, the log, then each held job's decisions.
    func tick(_ state: inout LoopState, start: (JobSpec, String, Int) -> Void) async throws {
        let held = try await renewLeases()
        try await catchUp(&state)
        let now = settings.now()
        for spec in specs where held.contains(spec.name) {
            let digest = JobEvents.hash(spec.json)
            if state.fold.declared[spec.name] != digest {
                try await append([JobEvents.declaredDraft(spec, previous: state.fold.declared[spec.name], at: now)])
                try await catchUp(&state)
            }
            // Runs left `running` by a runner that is gone (this process holds the lease now).
            let mine = active.withLock { $0 }
            for run in state.fold.runs.values where run.job == spec.name && run.state == .running && mine[run.runID] == nil {
                logger.warning("job run lost its runner", metadata: ["run": "\(run.runID)", "runner": "\(run.runner ?? "?")"])
                var drafts = [JobEvents.finishedDraft(job: spec.name, runID: run.runID, attempt: run.attempt, conclusion: .failed, at: now,
                    error: "runner \(run.runner ?? "?") was lost during the run (its lease expired)")]
                if let retry = retryDraft(spec, run.runID, failedAttempt: run.attempt, at: now) { drafts.append(retry) }
                try await append(drafts)
                Counter(label: "strata_job_failures_total", dimensions: [("job", spec.name)]).increment()
            }
            if let schedule = spec.schedule {
                // From the last requested time, or for a job never run, from its first declaration.
                let since = [state.fold.lastSlot[spec.name], state.anchors[spec.name]].compactMap { $0 }.max()
                    ?? state.fold.firstDeclared[spec.name] ?? now
                if let due = schedule.latest(atOrBefore: now, after: since) {
                    // Missed: earlier due times passed unrequested (everything was down), or this one is long overdue.
                    let skippedSome = schedule.next(after: since).map { $0 < due } ?? false
                    let late = now.timeIntervalSince(due) > Double(settings.missedAfter.components.seconds)
                    let reason: JobEvents.Reason = skippedSome || late ? .missed : .schedule
                    try await append([JobEvents.requestedDraft(job: spec.name, runID: JobEvents.scheduledRunID(job: spec.name, slot: due),
                        attempt: 1, reason: reason, at: now, scheduledFor: due)])
                    state.anchors[spec.name] = due
                }
            }
        }
        try await catchUp(&state)
        // Finished runs leave the active set once the log shows them finished.
        active.withLock { runs in
            for (id, run) in runs where run.done && state.fold.runs[id].map({ $0.attempt != run.attempt || $0.state != .running }) ?? true {
                runs[id] = nil
            }
        }
        for spec in specs where held.contains(spec.name) {
            let queued = state.fold.runs.values.filter { $0.job == spec.name && $0.state == .queued }.sorted { $0.order < $1.order }
            for run in queued {
                if run.cancelRequested {
                    try await append([JobEvents.finishedDraft(job: spec.name, runID: run.runID, attempt: run.attempt, conclusion: .cancelled,
                        at: now, error: "cancelled before it started")])
                    continue
                }
                if let notBefore = run.notBefore, notBefore > now { continue }
                let running = active.withLock { $0.values.filter { $0.job == spec.name && !$0.done }.count }
                if running >= spec.concurrency {
                    if run.reason == .schedule || run.reason == .missed {
                        try await append([JobEvents.finishedDraft(job: spec.name, runID: run.runID, attempt: run.attempt, conclusion: .skipped,
                            at: now, error: "\(running) run(s) of this job still going (concurrency \(spec.concurrency))")])
                    }
                    continue
                }
                active.withLock { $0[run.runID] = ActiveRun(job: spec.name, attempt: run.attempt) }
                do {
                    try await append([JobEvents.startedDraft(job: spec.name, runID: run.runID, attempt: run.attempt, runner: settings.workerID, at: now)])
                } catch {
                    active.withLock { $0[run.runID] = nil }
                    throw error
                }
                start(spec, run.runID, run.attempt)
            }
            // Cancel requests for runs this process is running.
            for run in state.fold.runs.values where run.job == spec.name && run.state == .running && run.cancelRequested {
                active.withLock { runs in
                    if runs[run.runID]?.cancel == nil { runs[run.runID]?.cancel = "cancelled on request" }
                }
            }
        }
        Gauge(label: "strata_job_scheduler_held_jobs", dimensions: [("worker", settings.workerID)]).record(held.count)
        for (job, at) in state.fold.lastSuccess {
            Gauge(label: "strata_job_last_success_timestamp_seconds", dimensions: [("job", job)]).record(at.timeIntervalSince1970)
        }
    }

    func retryDraft(_ spec: JobSpec, _ runID: String, failedAttempt: Int, at now: Date) -> EventDraft? {
        guard failedAttempt <= spec.retries else { return nil }
        let backoff = Double(spec.retryBackoffSeconds) * pow(2, Double(min(failedAttempt - 1, 20)))
        return JobEvents.requestedDraft(job: spec.name, runID: runID, attempt: failedAttempt + 1, reason: .retry, at: now,
            notBefore: now.addingTimeInterval(min(backoff, 86400)))
    }

    func append(_ drafts: [EventDraft]) async throws {
        let producer = self.producer
        _ = try await withDeadline(.seconds(15), "appending \(drafts.count) job events") { try await producer.append(drafts) }
    }

    /// Takes or renews the lease of every declared job that is free, expired, or already ours.
    func renewLeases() async throws -> Set<String> {
        let names = specs.map(\.name)
        let ttl = Double(settings.leaseTTL.components.seconds) + Double(settings.leaseTTL.components.attoseconds) / 1e18
        let (client, me, logger) = (self.client, settings.workerID, self.logger)
        return try await withDeadline(settings.leaseTTL, "renewing job leases") {
            var result: Set<String> = []
            for try await job in try await client.query("""
                INSERT INTO strata.job_leases AS l (job, owner, expires_at, acquired_at)
                SELECT j, \(me), now() + make_interval(secs => \(ttl)), now() FROM unnest(\(names)::text[]) AS j
                ON CONFLICT (job) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
                    acquired_at = CASE WHEN l.owner = EXCLUDED.owner THEN l.acquired_at ELSE now() END
                 WHERE l.owner = EXCLUDED.owner OR l.owner IS NULL OR l.expires_at < now()
                RETURNING l.job
                """, logger: logger).decode(String.self)
            {
                result.insert(job)
            }
            return result
        }
    }

    func catchUp(_ state: inout LoopState) async throws {
        let log = self.log
        let ends = try await withDeadline(.seconds(15), "reading the jobs topic's end offsets") { try await log.endOffsets(topic: JobEvents.topic) }
        if state.offsets.count != ends.count { state.offsets = Array(repeating: 0, count: ends.count) }
        for partition in ends.indices {
            while state.offsets[partition] < ends[partition] {
                let from = state.offsets[partition]
                let batch = try await withDeadline(.seconds(15), "reading the jobs topic") {
                    try await log.readBatch(topic: JobEvents.topic, partition: partition, from: from, limit: 1000, maxBytes: 8 << 20)
                }
                if batch.events.isEmpty && batch.next <= state.offsets[partition] { break }
                for event in batch.events { state.fold.apply(event) }
                state.offsets[partition] = batch.next
            }
        }
    }

    // MARK: Running

    /// Runs one attempt to its end and records how it ended.
    func execute(_ spec: JobSpec, runID: String, attempt: Int) async {
        let began = ContinuousClock.now
        let outcome = await runProcess(spec, runID: runID, attempt: attempt)
        let elapsed = ContinuousClock.now - began
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        let now = settings.now()
        var drafts = [JobEvents.finishedDraft(job: spec.name, runID: runID, attempt: attempt, conclusion: outcome.conclusion, at: now,
            error: outcome.error, exitCode: outcome.exitCode, durationMilliseconds: milliseconds, runner: settings.workerID)]
        if outcome.conclusion == .failed {
            Counter(label: "strata_job_failures_total", dimensions: [("job", spec.name)]).increment()
            if let retry = retryDraft(spec, runID, failedAttempt: attempt, at: now) { drafts.append(retry) }
        }
        Gauge(label: "strata_job_last_duration_seconds", dimensions: [("job", spec.name)]).record(Double(milliseconds) / 1000)
        Counter(label: "strata_job_runs_total", dimensions: [("job", spec.name), ("conclusion", outcome.conclusion.rawValue)]).increment()
        // The outcome must reach the log: retried until it does (or the process stops).
        var delay = Duration.milliseconds(200)
        while true {
            do {
                try await append(drafts)
                break
            } catch let error as StrataError where error.code == .conflict {
                // Another runner already ended this attempt (it took the lease while this one was cut
                // off from the database and recorded the attempt as lost): its record stands.
                logger.warning("a job run's end was already recorded by another runner", metadata: ["run": "\(runID)", "error": "\(error)"])
                break
            } catch {
                logger.warning("could not record a job run's end; retrying", metadata: ["run": "\(runID)", "error": "\(PostgresErrors.message(error))"])
                if Task.isCancelled { break }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        logger.info("job run finished", metadata: ["run": "\(runID)", "attempt": "\(attempt)", "conclusion": "\(outcome.conclusion.rawValue)",
            "error": "\(outcome.error ?? "")"])
        active.withLock { $0[runID]?.done = true }
    }

    struct Outcome {
        var conclusion: JobEvents.Conclusion
        var error: String?
        var exitCode: Int32?
    }

    func runProcess(_ spec: JobSpec, runID: String, attempt: Int) async -> Outcome {
        let executable: String
        let arguments: [String]
        let searchPath: Bool
        switch spec.action {
        case .strata(let args):
            executable = settings.strataExecutable?.path ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            arguments = args
            searchPath = false
        case .command(let argv):
            executable = argv[0]
            arguments = Array(argv.dropFirst())
            searchPath = !argv[0].contains("/")
        }
        var environment = ProcessInfo.processInfo.environment.merging(settings.environment) { _, new in new }
        environment["STRATA_JOB"] = spec.name
        environment["STRATA_JOB_RUN"] = runID
        environment["STRATA_JOB_ATTEMPT"] = String(attempt)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("strata-job-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: output) }
        // Its own process group (a timeout or cancel reaches whatever it started, a shell's children
        // too), stdin from /dev/null, stdout and stderr to a file, no other descriptor of this process.
        let child: SpawnedProcess
        do {
            child = try SpawnedProcess.spawn(executable, arguments, searchPath: searchPath, environment: environment,
                directory: settings.workingDirectory?.path, stdout: output.path, processGroup: true)
        } catch {
            return Outcome(conclusion: .failed, error: "\(error)")
        }
        let timeout = Duration.seconds(spec.timeoutSeconds)
        let started = ContinuousClock.now
        var lastProgress = started
        var progressSequence = 0
        var lastLine = ""
        var stopReason: String?
        var terminatedAt: ContinuousClock.Instant?
        var status: SpawnedProcess.Status?
        while true {
            status = child.poll()
            if status != nil { break }
            try? await Task.sleep(for: .milliseconds(100))
            let now = ContinuousClock.now
            if stopReason == nil {
                if let cancel = active.withLock({ $0[runID]?.cancel }) {
                    stopReason = cancel
                } else if Task.isCancelled {
                    stopReason = "the scheduler stopped"
                } else if now - started >= timeout {
                    stopReason = "timed out after \(JobDurations.format(seconds: spec.timeoutSeconds))"
                }
                if stopReason != nil {
                    child.signal(SIGTERM)
                    terminatedAt = now
                }
            } else if let t = terminatedAt, now - t >= settings.killGrace {
                child.signal(SIGKILL)
                terminatedAt = now
            }
            if now - lastProgress >= settings.progressInterval {
                lastProgress = now
                let line = Self.tail(output, lines: 1)
                if !line.isEmpty && line != lastLine {
                    lastLine = line
                    progressSequence += 1
                    try? await append([JobEvents.progressDraft(job: spec.name, runID: runID, attempt: attempt, message: line,
                        sequence: progressSequence, at: settings.now())])
                }
            }
        }
        // Whatever the run left behind in its process group goes with it.
        child.signal(SIGKILL)
        let tail = Self.tail(output, lines: 20)
        let detail = tail.isEmpty ? "" : ": \(tail)"
        if let stopReason { return Outcome(conclusion: .cancelled, error: stopReason, exitCode: status?.exitCode) }
        switch status {
        case .exited(0): return Outcome(conclusion: .succeeded, exitCode: 0)
        case .exited(let code): return Outcome(conclusion: .failed, error: "exit status \(code)\(detail)", exitCode: code)
        case .signaled(let signal): return Outcome(conclusion: .failed, error: "killed by signal \(signal)\(detail)")
        case nil: return Outcome(conclusion: .failed, error: "lost track of the process")
        }
    }

    /// The last lines of a run's output (at most 4 KiB).
    static func tail(_ file: URL, lines: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
