import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StrataApp
import StrataCore
import StrataProjections

/// Worker options shared by `work`, `replay` and `serve`.
struct WorkerOptions: ParsableArguments {
    @Option(name: .customLong("batch-size"), help: "Events per batch transaction while keeping up with the log.") var batchSize = 500
    @Option(name: .customLong("catch-up-batch-size"), help: "Events per batch while replaying or catching up from far behind.")
    var catchUpBatchSize = 50_000
    @Option(name: .customLong("max-batch-mb"), help: "Stored payload megabytes per batch, whatever the event count.") var maxBatchMB = 8.0
    @Option(name: .customLong("lease-ttl"), help: "Seconds before a dead worker's partitions are taken over.") var leaseTTL = 10.0
    @Option(help: "Seconds between lease heartbeats.") var heartbeat = 2.0
    @Option(name: .customLong("max-attempts"), help: "Attempts before a failing event is parked.") var maxAttempts = 3
    @Option(name: .customLong("worker-id"), help: "This worker's id (default: host-pid-random).") var workerID: String?

    func settings() throws -> WorkerSettings {
        guard batchSize > 0, catchUpBatchSize > 0, maxBatchMB > 0, leaseTTL > 0, heartbeat > 0, heartbeat < leaseTTL, maxAttempts > 0 else {
            throw ValidationError("need batch-size, catch-up-batch-size, max-batch-mb and max-attempts > 0, and 0 < heartbeat < lease-ttl")
        }
        var s = WorkerSettings(workerID: workerID ?? WorkerSettings.defaultWorkerID())
        s.batchSize = batchSize
        s.catchUpBatchSize = catchUpBatchSize
        s.maxBatchBytes = max(1, Int(maxBatchMB * 1_048_576))
        s.leaseTTL = .milliseconds(Int64(leaseTTL * 1000))
        s.heartbeat = .milliseconds(Int64(heartbeat * 1000))
        s.idleWait = min(s.heartbeat, .seconds(2))
        s.maxAttempts = maxAttempts
        return s
    }
}

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run projection workers until stopped (SIGINT/SIGTERM shut down gracefully).",
        discussion: "Several workers, on one or many machines, share the partitions through leases in PostgreSQL.")

    @OptionGroup var options: GlobalOptions
    @OptionGroup var worker: WorkerOptions
    @Option(name: .customLong("projection"), help: "Run only this projection (repeatable; default: all).") var projections: [String] = []
    @Option(name: .customLong("jobs"), help: "Jobs file to schedule (env STRATA_JOBS; default: jobs.yaml beside the topology, if any).")
    var jobsFile: String?

    func run() async throws {
        let settings = try worker.settings()
        let names = projections
        let jobsFile = self.jobsFile ?? ProcessInfo.processInfo.environment["STRATA_JOBS"]
        try await options.run { strata in
            let selected: [any Projection]
            if names.isEmpty {
                let (run, skipped) = ProjectionRegistry.runnable(in: strata.topology)
                if !skipped.isEmpty {
                    strata.logger.notice("projections skipped: their topics are not in the topology", metadata: ["projections": "\(skipped)"])
                }
                selected = run
            } else {
                selected = try ProjectionRegistry.named(names)
            }
            let worker = ProjectionWorker(
                projections: selected, log: strata.log, client: strata.client, settings: settings, logger: strata.logger,
                onBatch: FaultInjection.killAfterBatches())
            var services: [any Service] = [worker]
            var jobs = ""
            if let file = try strata.jobsFile(jobsFile),
                let scheduler = try strata.jobScheduler(file: file, workerID: settings.workerID, leaseTTL: settings.leaseTTL, tick: settings.heartbeat)
            {
                services.append(scheduler)
                jobs = "; scheduling the jobs of \(file.path)"
            }
            FileHandle.standardError.write(Data("worker \(settings.workerID) running \(selected.map(\.name).joined(separator: ", "))\(jobs)\n".utf8))
            try await strata.runServices(services)
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild a projection from offset zero beside the live one, then switch readers to it.",
        discussion: """
            The live generation keeps serving while the new one is built. Interrupt with Ctrl-C and run again to \
            resume where it stopped; --abort discards the new generation. Running workers help build it.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var worker: WorkerOptions
    @Argument(help: "The projection to rebuild.") var projection: String?
    @Flag(help: "Rebuild every projection, one after another.") var all = false
    @Flag(help: "Discard the generation being built instead.") var abort = false

    func validate() throws {
        if all == (projection != nil) { throw ValidationError("name one projection or pass --all") }
    }

    func run() async throws {
        var replaySettings = try worker.settings()
        replaySettings.workerID += "-replay"
        let settings = replaySettings
        let (name, all, abort) = (projection, self.all, self.abort)
        try await options.run { strata in
            let targets = all ? ProjectionRegistry.runnable(in: strata.topology).run : try ProjectionRegistry.named([name!])
            let catalog = GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger)
            for projection in targets {
                if abort {
                    let aborted = try await catalog.abortReplay(projection.name)
                    printLine(aborted ? "\(projection.name): replay aborted, its generation dropped" : "\(projection.name): no replay in progress")
                    continue
                }
                let (generation, resumed) = try await catalog.startReplay(projection)
                printLine("\(projection.name): \(resumed ? "resuming" : "building") generation \(generation.number) from the log")
                let monitor = ReplayMonitor(projection: projection.name, generation: generation.number, strata: strata)
                let worker = ProjectionWorker(projections: [projection], log: strata.log, client: strata.client, settings: settings, logger: strata.logger)
                try await strata.runServices([worker, ClosureService { try await monitor.run(catalog: catalog) }])
                if await !monitor.finished {
                    printLine("\n\(projection.name): replay paused; run the same command to resume, or add --abort to discard it")
                    throw ExitCode(130)
                }
            }
        }
    }
}

/// Shows a replay's progress (events/s, offset, ETA) and switches readers when it has caught up.
actor ReplayMonitor {
    let projection: String
    let generation: Int
    let strata: StrataContext
    private(set) var finished = false

    init(projection: String, generation: Int, strata: StrataContext) {
        self.projection = projection
        self.generation = generation
        self.strata = strata
    }

    func run(catalog: GenerationCatalog) async throws {
        let monitor = LagMonitor(client: strata.client, log: strata.log, logger: strata.logger)
        let interactive = isatty(STDERR_FILENO) == 1
        let clock = ContinuousClock()
        var samples: [(ContinuousClock.Instant, Int64)] = []
        var lastPrinted = clock.now - .seconds(60)
        while !Task.isCancelled {
            let rows = try await monitor.measure(projection: projection)
            let building = rows.filter { $0.generation == generation }
            if building.isEmpty || building.first?.state == .live {
                // Switched (by this process or a running worker).
                let live = rows.filter { $0.state == .live }.map(\.generation).first
                if live == generation || building.first?.state == .live {
                    finished = true
                    let total = rows.filter { $0.generation == generation }.map(\.checkpoint).reduce(0, +)
                    FileHandle.standardError.write(Data("\(interactive ? "\r\u{1B}[K" : "")".utf8))
                    printLine("\(projection): generation \(generation) is live (\(total) events applied); the old generation was dropped")
                } else {
                    printLine("\(projection): generation \(generation) was aborted elsewhere")
                    finished = true
                }
                return
            }
            let applied = building.map(\.checkpoint).reduce(0, +)
            let total = building.map(\.endOffset).reduce(0, +)
            let now = clock.now
            samples.append((now, applied))
            samples.removeAll { now - $0.0 > .seconds(10) }
            let rate: Double = samples.count > 1
                ? Double(applied - samples.first!.1) / max(0.001, (now - samples.first!.0).seconds) : 0
            let remaining = max(0, total - applied)
            let eta = rate > 0 ? String(format: "%.0fs", Double(remaining) / rate) : "-"
            let percent = total > 0 ? Double(applied) * 100 / Double(total) : 100
            let line = String(format: "%@ g%d: %lld/%lld events (%.1f%%), %@ events/s, ETA %@",
                projection, generation, applied, total, percent, grouped(rate), eta)
            if interactive {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            } else if now - lastPrinted >= .seconds(5) {
                FileHandle.standardError.write(Data("\(line)\n".utf8))
                lastPrinted = now
            }
            if remaining == 0 { _ = try await catalog.trySwitch(projection); continue }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    private func grouped(_ v: Double) -> String {
        let n = Int(v.rounded())
        return n.formatted(.number.grouping(.automatic))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

struct Lag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how far each projection is behind the log, per partition (events and seconds).")

    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this projection.") var projection: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Refresh every second until interrupted.") var watch = false

    func run() async throws {
        let (projection, json, watch) = (self.projection, self.json, self.watch)
        try await options.run { strata in
            let monitor = LagMonitor(client: strata.client, log: strata.log, logger: strata.logger)
            repeat {
                let rows = try await monitor.measure(projection: projection)
                if json {
                    printLine(JSONWriter.string(.array(rows.map(\.json))))
                } else {
                    var table = [["PROJECTION", "GEN", "STATE", "TOPIC", "PART", "CHECKPOINT", "END", "LAG", "LAG SECONDS", "NOTE"]]
                    for r in rows {
                        table.append([r.projection, String(r.generation), r.state.rawValue, r.topic, String(r.partition), String(r.checkpoint),
                            String(r.endOffset), String(r.events), String(format: "%.3f", r.seconds), r.halted.map { "halted: \($0)" } ?? (r.stalled ? "stalled: no progress for \(Int(r.secondsSinceProgress)) s" : "")])
                    }
                    if watch { FileHandle.standardOutput.write(Data("\u{1B}[H\u{1B}[2J".utf8)) }
                    printLine(TextTable.render(table))
                }
                if watch { try await Task.sleep(for: .seconds(1)) }
            } while watch && !Task.isCancelled
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every projection's generation, state, lag and dead letters.")

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let json = self.json
        try await options.run { strata in
            let statuses = try await ProjectionStatus.all(client: strata.client, log: strata.log, logger: strata.logger)
            if json {
                printLine(JSONWriter.string(.array(statuses.map(\.json))))
                return
            }
            var table = [["PROJECTION", "GEN", "VERSION", "STATE", "LAG", "LAG SECONDS", "DEAD LETTERS", "REPLAY", "WORKERS"]]
            for s in statuses {
                let replay = s.building.map { b in
                    "g\(b.generation) \(b.total > 0 ? Int(Double(b.applied) * 100 / Double(b.total)) : 100)%"
                } ?? ""
                table.append([s.projection, s.liveGeneration.map(String.init) ?? "-", s.liveVersion.map(String.init) ?? "-", s.state.rawValue,
                    String(s.lagEvents), String(format: "%.3f", s.lagSeconds), String(s.deadLetters), replay, String(s.workers.count)])
            }
            printLine(TextTable.render(table))
        }
    }
}

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List, retry or discard parked poison events.",
        subcommands: [List.self, Retry.self, Discard.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List parked events (add --all for resolved ones too).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this projection.") var projection: String?
        @Flag(help: "Include applied and discarded entries.") var all = false
        @Option(help: "Show at most this many, oldest first.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let (projection, all, json, limit) = (self.projection, self.all, self.json, self.limit)
            try await options.run { strata in
                let dl = DeadLetters(client: strata.client, log: strata.log, logger: strata.logger)
                let entries = try await dl.list(projection: projection, status: all ? nil : .parked, limit: limit)
                if json { printLine(JSONWriter.string(.array(entries.map(\.json)))); return }
                var table = [["ID", "PROJECTION", "GEN", "EVENT", "TYPE", "ATTEMPTS", "STATUS", "ERROR"]]
                for e in entries {
                    table.append([String(e.id), e.projection, String(e.generation), "\(e.topic)/\(e.partition)@\(e.offset)", e.eventType,
                        String(e.attempts), e.status.rawValue, e.error])
                }
                printLine(TextTable.render(table))
                if entries.count == limit {
                    let total = try await dl.count(projection: projection, status: all ? nil : .parked)
                    if total > limit { printLine("(\(limit) of \(total) shown; --limit N for more)") }
                }
            }
        }
    }

    /// Which entries a retry or discard acts on: the ids named, or every parked one of a projection
    /// (`--projection`) or of all (`--all`).
    struct Selection: ParsableArguments {
        @Argument(help: "Dead-letter ids.") var ids: [Int64] = []
        @Option(help: "Every parked event of this projection.") var projection: String?
        @Flag(help: "Every parked event of every projection.") var all = false

        func validate() throws {
            let ways = (ids.isEmpty ? 0 : 1) + (projection == nil ? 0 : 1) + (all ? 1 : 0)
            guard ways == 1 else {
                throw ValidationError("name dead-letter ids, or --projection P (every parked event of P), or --all — exactly one of them")
            }
        }

        /// Runs `act` on each selected entry. One it cannot resolve (its generation retired, its
        /// projection unknown here) is reported as "ID: not VERB: why" and the rest still go;
        /// returns how many those were.
        func forEach(_ dl: DeadLetters, verb: String, _ act: (Int64) async throws -> Void) async throws -> Int {
            var refused = 0
            for id in ids.isEmpty ? try await dl.parkedIDs(projection: projection) : ids {
                do {
                    try await act(id)
                } catch let error as StrataError {
                    printLine("\(id): not \(verb): \(error.message)")
                    refused += 1
                }
            }
            return refused
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply parked events again (after fixing the projection).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var selection: Selection

        func run() async throws {
            let selection = self.selection
            try await options.run { strata in
                let dl = DeadLetters(client: strata.client, log: strata.log, logger: strata.logger)
                var (applied, failed) = (0, 0)
                let refused = try await selection.forEach(dl, verb: "retried") { id in
                    switch try await dl.retry(id: id, projections: ProjectionRegistry.all()) {
                    case .applied:
                        printLine("\(id): applied")
                        applied += 1
                    case .discarded: printLine("\(id): discarded")
                    case .failedAgain(let error):
                        printLine("\(id): failed again: \(error)")
                        failed += 1
                    }
                }
                printLine("\(applied) applied, \(failed) failed again (still parked)\(refused > 0 ? ", \(refused) not retried" : "")")
                if failed + refused > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give up on parked events (a halted partition resumes after them).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var selection: Selection

        func run() async throws {
            let selection = self.selection
            try await options.run { strata in
                let dl = DeadLetters(client: strata.client, log: strata.log, logger: strata.logger)
                var discarded = 0
                let refused = try await selection.forEach(dl, verb: "discarded") { id in
                    _ = try await dl.discard(id: id)
                    printLine("\(id): discarded")
                    discarded += 1
                }
                printLine("\(discarded) discarded\(refused > 0 ? ", \(refused) not discarded" : "")")
                if refused > 0 { throw ExitCode(1) }
            }
        }
    }
}

/// Crash testing: with `STRATA_FAULT_KILL_AFTER_BATCHES=N` in its environment, a worker SIGKILLs
/// itself 0-20 ms after committing its N-th batch: wherever it is then (reading, applying,
/// committing the next batch). The crash-safety test uses it so the kill lands among the batches
/// however loaded the machine is.
enum FaultInjection {
    static func killAfterBatches() -> (@Sendable (ProjectionWorker.BatchReport) async -> Void)? {
        guard let text = ProcessInfo.processInfo.environment["STRATA_FAULT_KILL_AFTER_BATCHES"], let batches = Int(text), batches > 0 else {
            return nil
        }
        let countdown = Countdown(batches)
        return { _ in
            guard await countdown.tick() else { return }
            Thread.detachNewThread {
                usleep(UInt32.random(in: 0...20_000))
                kill(getpid(), SIGKILL)
            }
        }
    }

    actor Countdown {
        var left: Int
        init(_ n: Int) { left = n }
        /// True exactly once: on the n-th call.
        func tick() -> Bool {
            left -= 1
            return left == 0
        }
    }
}
