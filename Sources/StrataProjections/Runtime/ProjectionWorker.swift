import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres

/// Runs projections: takes leases on their partitions and, for each leased partition, applies new
/// events to every active generation (the live one and one being rebuilt), batch by batch.
///
/// One task per leased partition, inside this service's task group; nothing outlives `run()`.
public final class ProjectionWorker: Service {
    let projections: [String: any Projection]
    let log: any EventLog
    let client: PostgresClient
    let settings: WorkerSettings
    let logger: Logger
    let catalog: GenerationCatalog
    let leases: LeaseManager
    let state = WorkerState()
    /// Called after every applied batch (progress displays, metrics).
    let onBatch: (@Sendable (BatchReport) async -> Void)?

    public struct BatchReport: Sendable {
        public var projection: String
        public var generation: Int
        public var topic: String
        public var partition: Int
        public var events: Int
        public var nextOffset: Int64
        public var parked: Int
    }

    public init(
        projections: [any Projection], log: any EventLog, client: PostgresClient, settings: WorkerSettings, logger: Logger,
        onBatch: (@Sendable (BatchReport) async -> Void)? = nil
    ) {
        self.projections = Dictionary(projections.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.log = log
        self.client = client
        self.settings = settings
        self.logger = logger
        self.catalog = GenerationCatalog(client: client, log: log, logger: logger)
        self.leases = LeaseManager(client: client, settings: settings, projections: projections.map(\.name).sorted(), logger: logger)
        self.onBatch = onBatch
    }

    public var workerID: String { settings.workerID }

    public func run() async throws {
        for projection in projections.values.sorted(by: { $0.name < $1.name }) {
            try await catalog.register(projection)
            try await rebuildIfOutdated(projection)
        }
        logger.info("worker started", metadata: ["worker": "\(settings.workerID)", "projections": "\(projections.keys.sorted())"])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    // Leases are renewed only for partition loops that are making progress (or waiting,
                    // within a deadline, at the end of the log): a stuck loop's lease lapses.
                    let running = await state.running.subtracting(await state.stalled(grace: settings.stallGrace))
                    let ticking = leases
                    let owned = try await withDeadline(settings.leaseTTL, "the lease heartbeat") { try await ticking.tick(running: running) }
                    await state.setWanted(owned)
                    for unit in owned where await state.start(unit) {
                        group.addTask {
                            await self.supervise(unit)
                            await self.state.finished(unit)
                            if await !self.state.isWanted(unit) { await self.leases.release(unit) }
                        }
                    }
                    for projection in projections.values {
                        await completeReplayIfReady(projection.name)
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("lease heartbeat failed", metadata: ["error": "\(PostgresErrors.message(error))"])
                }
                try? await gracefulSleep(settings.heartbeat)
            }
            // Shutting down: partition tasks finish their current batch and give their leases back.
            await state.setWanted([])
        }
        await leases.leave()
        logger.info("worker stopped", metadata: ["worker": "\(settings.workerID)"])
    }

    /// Sleeps, returning early on graceful shutdown.
    private func gracefulSleep(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    /// A live generation built by another version of the projection's code is rebuilt by replay.
    private func rebuildIfOutdated(_ projection: any Projection) async throws {
        let generations = try await catalog.activeGenerations(projection.name)
        guard let live = generations.first(where: { $0.state == .live }), live.version != projection.version else { return }
        if generations.contains(where: { $0.state == .building && $0.version == projection.version }) { return }
        let (generation, _) = try await catalog.startReplay(projection)
        logger.notice("projection version changed; rebuilding by replay", metadata: [
            "projection": "\(projection.name)", "live_version": "\(live.version)", "version": "\(projection.version)",
            "generation": "\(generation.number)",
        ])
    }

    private func completeReplayIfReady(_ projection: String) async {
        guard await state.hasBuilding(projection) else { return }
        do {
            if case .switched(let from, let to) = try await catalog.trySwitch(projection) {
                logger.notice("replay complete; readers switched", metadata: ["projection": "\(projection)", "from": "\(from)", "to": "\(to)"])
            }
        } catch {
            logger.warning("generation switch failed", metadata: ["projection": "\(projection)", "error": "\(PostgresErrors.message(error))"])
        }
    }

    /// Runs a partition's loop, and starts it afresh should it ever stall: every step of the loop
    /// has a deadline, so a loop past its step's deadline by `stallGrace` is stuck somewhere no
    /// deadline reaches. It is then cancelled and left behind (its writes could only fail the
    /// checkpoint compare-and-set), and a new loop resumes from the stored checkpoint.
    func supervise(_ unit: LeaseUnit) async {
        while await state.isWanted(unit) && !Task.isCancelled {
            let token = await state.newLoop(unit)
            let loop = Task { await self.runPartition(unit, token: token) }
            let ended = await withTaskCancellationHandler {
                while true {
                    if loop.isCancelled { return false }
                    try? await Task.sleep(for: settings.heartbeat)
                    if Task.isCancelled { return false }
                    if await state.isDone(unit, token) { return true }
                    if await state.stalled(grace: settings.stallGrace).contains(unit) {
                        let step = await state.step(unit)
                        logger.error("partition loop stalled; restarting it", metadata: ["unit": "\(unit)", "step": "\(step)"])
                        Counter(label: "strata_partition_loop_stalls_total", dimensions: [
                            ("projection", unit.projection), ("topic", unit.topic), ("partition", String(unit.partition)),
                        ]).increment()
                        return false
                    }
                }
            } onCancel: {
                loop.cancel()
            }
            if ended || Task.isCancelled {
                // Ended by itself (unwanted, or shutdown): wait for it, bounded by its step's deadline.
                _ = await loop.value
                await state.endLoop(unit, token)
                return
            }
            loop.cancel()
            await state.endLoop(unit, token)
        }
    }

    /// Runs `operation` as the loop's current step, bounded by `limit`.
    private func step<T: Sendable>(
        _ unit: LeaseUnit, _ token: Int, _ what: String, _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        await state.beginStep(unit, token, what, until: .now + limit)
        do {
            let result = try await withDeadline(limit, "\(what) for \(unit)", operation)
            await state.endStep(unit, token)
            return result
        } catch {
            await state.endStep(unit, token)
            throw error
        }
    }

    /// The partition loop: for each active generation, read after its checkpoint and apply.
    func runPartition(_ unit: LeaseUnit, token: Int) async {
        await runLoop(unit, token: token)
        await state.markDone(unit, token)
    }

    private func runLoop(_ unit: LeaseUnit, token: Int) async {
        guard let projection = projections[unit.projection] else { return }
        let applier = BatchApplier(client: client, projection: projection, settings: settings, logger: logger)
        var checkpoints: [Int: Int64] = [:]
        var generations: [Generation] = []
        var generationsCheckedAt = ContinuousClock.now - .seconds(3600)
        var haltedUntil: [Int: ContinuousClock.Instant] = [:]
        var failures = 0
        // The next batch of a generation, already being read while the current one is applied.
        var prefetched: [Int: (from: Int64, limit: Int, task: Task<LogBatch, any Error>)] = [:]
        var catchingUp: Set<Int> = []
        // Per generation: a batch size that fits the apply deadline, after one did not.
        var batchCap: [Int: Int] = [:]
        var switchTried: Set<Int> = []
        // The largest payload of the last batch: whether the next may need the byte cap.
        var typicalBytes: Int?
        defer { prefetched.values.forEach { $0.task.cancel() } }
        while await state.isWanted(unit) && !Task.isCancelled {
            do {
                if ContinuousClock.now - generationsCheckedAt > settings.idleWait {
                    let catalog = self.catalog
                    generations = try await step(unit, token, "reading generations", settings.queryDeadline) {
                        try await catalog.activeGenerations(unit.projection)
                    }
                    generationsCheckedAt = .now
                    await state.noteBuilding(unit.projection, generations.contains { $0.state == .building })
                    let numbers = Set(generations.map(\.number))
                    checkpoints = checkpoints.filter { numbers.contains($0.key) }
                }
                var progressed = false
                for generation in generations {
                    if let until = haltedUntil[generation.number], ContinuousClock.now < until { continue }
                    let from: Int64
                    if let known = checkpoints[generation.number] {
                        from = known
                    } else {
                        from = try await step(unit, token, "reading the checkpoint", settings.queryDeadline) {
                            try await self.checkpoint(unit, generation)
                        }
                        checkpoints[generation.number] = from
                    }
                    // Replays, and live generations far behind (first build, restart after downtime), take
                    // large batches; a live generation keeping up takes small ones (latency).
                    var limit = generation.state == .building || catchingUp.contains(generation.number)
                        ? settings.catchUpBatchSize : settings.batchSize
                    if let cap = batchCap[generation.number] { limit = min(limit, cap) }
                    let batch: LogBatch
                    let requested: Int
                    let ahead = prefetched.removeValue(forKey: generation.number)
                    if let ahead, ahead.from == from {
                        let task = ahead.task
                        (batch, requested) = (try await step(unit, token, "reading the log", settings.queryDeadline) { try await task.value }, ahead.limit)
                    } else {
                        ahead?.task.cancel()
                        let (typical, size) = (typicalBytes, limit)
                        (batch, requested) = (try await step(unit, token, "reading the log", settings.queryDeadline) {
                            try await self.read(unit, from: from, limit: size, typicalBytes: typical)
                        }, limit)
                    }
                    let events = batch.events
                    if events.isEmpty && batch.next > from {
                        // Only holes (Kafka transaction markers, skipped duplicate copies) up to the end:
                        // move the checkpoint over them so the partition counts as caught up.
                        let outcome = try await step(unit, token, "moving the checkpoint over offsets without events", settings.batchDeadline) {
                            try await applier.apply([], generation: generation, expected: from, next: batch.next, topic: unit.topic, partition: unit.partition)
                        }
                        switch outcome {
                        case .applied(let next, _): checkpoints[generation.number] = next
                        case .moved(let actual): checkpoints[generation.number] = actual
                        case .gone: generationsCheckedAt = .now - .seconds(3600)
                        case .halted: haltedUntil[generation.number] = .now + settings.idleWait
                        }
                    }
                    guard !events.isEmpty else {
                        catchingUp.remove(generation.number)
                        // A replay that caught up in this partition may be complete: switch now rather
                        // than at the next heartbeat (once per generation; the heartbeat keeps trying).
                        if generation.state == .building, switchTried.insert(generation.number).inserted {
                            await completeReplayIfReady(unit.projection)
                        }
                        continue
                    }
                    // A full batch means more is waiting: catch up in large batches, and read the next
                    // one while this one is applied.
                    // (A plain loop: `lazy.map(\.payload.count)` goes through the key-path runtime per event.)
                    var largest = 0
                    for i in events.indices { largest = max(largest, events[i].payload.count) }
                    typicalBytes = largest
                    if events.count == requested && batchCap[generation.number] == nil {
                        catchingUp.insert(generation.number)
                        let next = batch.next
                        let size = settings.catchUpBatchSize
                        let typical = typicalBytes
                        prefetched[generation.number] = (next, size, Task { try await self.read(unit, from: next, limit: size, typicalBytes: typical) })
                    } else {
                        catchingUp.remove(generation.number)
                    }
                    let outcome: BatchApplier.Outcome
                    do {
                        outcome = try await step(unit, token, "applying \(events.count) events", settings.batchDeadline) {
                            try await applier.apply(events, generation: generation, expected: from, next: batch.next, topic: unit.topic, partition: unit.partition)
                        }
                        if let cap = batchCap[generation.number] { batchCap[generation.number] = cap * 2 > limit * 4 ? nil : cap * 2 }
                    } catch let error as StrataError where error.code == .timeout {
                        // Too big to apply in time, or the database hung: retry smaller (from the checkpoint).
                        batchCap[generation.number] = max(1, events.count / 2)
                        throw error
                    }
                    switch outcome {
                    case .applied(let next, let parked):
                        checkpoints[generation.number] = next
                        progressed = true
                        await onBatch?(BatchReport(
                            projection: unit.projection, generation: generation.number, topic: unit.topic, partition: unit.partition,
                            events: events.count, nextOffset: next, parked: parked))
                    case .moved(let actual):
                        checkpoints[generation.number] = actual
                        progressed = true
                    case .gone:
                        generationsCheckedAt = .now - .seconds(3600)
                        progressed = true
                    case .halted:
                        haltedUntil[generation.number] = .now + settings.idleWait
                    }
                }
                failures = 0
                if !progressed {
                    let lowest = checkpoints.values.min() ?? 0
                    let log = self.log
                    let idle = settings.idleWait
                    _ = try await step(unit, token, "waiting for events", idle + settings.queryDeadline) {
                        try await log.waitForEvents(topic: unit.topic, partition: unit.partition, beyond: lowest, timeout: idle)
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                // Infrastructure trouble (connection lost, database restarting): back off and
                // retry from the stored checkpoint; nothing is parked for it.
                failures += 1
                checkpoints.removeAll()
                prefetched.values.forEach { $0.task.cancel() }
                prefetched.removeAll()
                logger.warning("partition loop failed; retrying", metadata: [
                    "unit": "\(unit)", "attempt": "\(failures)", "error": "\(PostgresErrors.message(error))",
                ])
                let backoff = Duration.milliseconds(min(5000, 100 * (1 << min(failures, 6))))
                await state.beginStep(unit, token, "backing off after a failure", until: .now + backoff)
                try? await Task.sleep(for: backoff)
                await state.endStep(unit, token)
            }
        }
    }

    /// Reads a batch. The byte cap costs the log a running sum; it is asked for only when a batch
    /// of events as large as the last batch's largest (decompressed, so an overestimate) could pass it.
    private func read(_ unit: LeaseUnit, from offset: Int64, limit: Int, typicalBytes: Int?) async throws -> LogBatch {
        let mayBeLarge = typicalBytes.map { $0 * limit > settings.maxBatchBytes } ?? true
        return try await log.readBatch(
            topic: unit.topic, partition: unit.partition, from: offset, limit: limit, maxBytes: mayBeLarge ? settings.maxBatchBytes : nil)
    }

    private func checkpoint(_ unit: LeaseUnit, _ generation: Generation) async throws -> Int64 {
        let rows = try await client.query("""
            SELECT next_offset FROM strata.checkpoints
             WHERE projection = \(unit.projection) AND generation = \(generation.number) AND topic = \(unit.topic) AND partition = \(unit.partition)
            """, logger: logger).decode(Int64.self)
        for try await offset in rows { return offset }
        return 0
    }
}

/// Which partition tasks run and which should.
actor WorkerState {
    private(set) var running: Set<LeaseUnit> = []
    private var wanted: Set<LeaseUnit> = []
    private var building: Set<String> = []

    func setWanted(_ units: Set<LeaseUnit>) { wanted = units }

    func isWanted(_ unit: LeaseUnit) -> Bool { wanted.contains(unit) }

    /// Marks the unit running; false if it already is.
    func start(_ unit: LeaseUnit) -> Bool { running.insert(unit).inserted }

    func finished(_ unit: LeaseUnit) { running.remove(unit) }

    func noteBuilding(_ projection: String, _ isBuilding: Bool) {
        if isBuilding { building.insert(projection) } else { building.remove(projection) }
    }

    func hasBuilding(_ projection: String) -> Bool { building.contains(projection) }

    /// Each partition's current loop (a restarted loop gets a new token; one left behind can no
    /// longer touch the state) and the step it is in, with its deadline.
    private var loops: [LeaseUnit: Int] = [:]
    private var nextToken = 0
    private var steps: [LeaseUnit: (what: String, until: ContinuousClock.Instant)] = [:]
    private var done: Set<LeaseUnit> = []

    func newLoop(_ unit: LeaseUnit) -> Int {
        nextToken += 1
        loops[unit] = nextToken
        steps[unit] = nil
        done.remove(unit)
        return nextToken
    }

    func endLoop(_ unit: LeaseUnit, _ token: Int) {
        guard loops[unit] == token else { return }
        loops[unit] = nil
        steps[unit] = nil
        done.remove(unit)
    }

    func beginStep(_ unit: LeaseUnit, _ token: Int, _ what: String, until: ContinuousClock.Instant) {
        if loops[unit] == token { steps[unit] = (what, until) }
    }

    func endStep(_ unit: LeaseUnit, _ token: Int) {
        if loops[unit] == token { steps[unit] = nil }
    }

    func step(_ unit: LeaseUnit) -> String { steps[unit]?.what ?? "-" }

    /// Running loops in a step past its deadline by more than `grace`.
    func stalled(grace: Duration) -> Set<LeaseUnit> {
        let now = ContinuousClock.now
        return Set(steps.filter { running.contains($0.key) && now > $0.value.until + grace }.keys)
    }

    func markDone(_ unit: LeaseUnit, _ token: Int) {
        if loops[unit] == token { done.insert(unit) }
    }

    func isDone(_ unit: LeaseUnit, _ token: Int) -> Bool { loops[unit] == token && done.contains(unit) }
}
