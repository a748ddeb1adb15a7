import Foundation
import PostgresNIO
import StrataApp
import StrataCore
import StrataPostgres
import StrataProjections
import StrataTestSupport
import Testing

/// Real worker processes: crashes (SIGKILL) and leases between several workers.
@Suite(.serialized, .timeLimit(.minutes(10))) struct WorkerProcessTests {
    /// Kills a worker at random points while it applies 50 batches, restarts it each time, and
    /// checks the view equals an uninterrupted build: no event lost, none applied twice.
    /// On Kafka, the workers read a mock cluster in this process over its bootstrap list.
    @Test(arguments: LogBackend.allCases)
    func crashSafetyUnderSIGKILL(backend: LogBackend) async throws {
        if backend == .kafka {
            try await KafkaTestCluster.with { cluster in try await Self.crashSafety(logURL: cluster.logURL()) }
        } else {
            try await Self.crashSafety(logURL: nil)
        }
    }

    static func crashSafety(logURL: String?) async throws {
        try await TestEnvironment.withDatabase { db in
            let topology = try TestEnvironment.topology()
            var configuration = db.configuration
            configuration.logURL = logURL
            try await StrataContext.with(configuration, logger: TestEnvironment.logger, topologyOverride: topology) { strata in
                // 50 batches of 100 events.
                try await ProjectionRuntimeTestsSupport.produce(strata.producer, count: 5000, keys: 97)
                var rng = SystemRandomNumberGenerator()
                var kills = 0
                var midwayKills = 0
                var attempts = 0
                let monitor = LagMonitor(client: strata.client, log: strata.log, logger: strata.logger)
                func applied() async throws -> Int64 {
                    try await monitor.measure(projection: "demo_counts").map(\.checkpoint).reduce(0, +)
                }
                while attempts < 60 {
                    attempts += 1
                    // The worker kills itself (SIGKILL) 0-20 ms after its n-th batch: wherever it is then.
                    let batches = Int.random(in: 1...6, using: &rng)
                    let worker = try WorkerProcess(databaseURL: db.urlString, id: "crash-\(attempts)",
                        extraArguments: ["--batch-size", "100", "--catch-up-batch-size", "100", "--heartbeat", "0.2", "--lease-ttl", "1", "--projection", "demo_counts"]
                            + (logURL.map { ["--log", $0] } ?? []),
                        environment: ["STRATA_FAULT_KILL_AFTER_BATCHES": "\(batches)"])
                    let deadline = ContinuousClock.now + .seconds(60)
                    var caughtUp = false
                    while worker.isRunning, ContinuousClock.now < deadline {
                        let lag = try await monitor.measure(projection: "demo_counts")
                        caughtUp = !lag.isEmpty && lag.allSatisfy { $0.events == 0 }
                        if caughtUp { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    if worker.isRunning {
                        worker.stop()
                        if caughtUp { break }
                        Issue.record("worker \(attempts) neither crashed nor caught up: \(worker.output.suffix(2000))")
                        break
                    }
                    #expect(worker.wasKilled, "worker \(attempts) exited without being killed: \(worker.output.suffix(2000))")
                    kills += 1
                    // Killed with part of the log applied: the kill landed among the 50 batches.
                    let done = try await applied()
                    if done > 0 && done < 5000 { midwayKills += 1 }
                }
                #expect(midwayKills >= 3, "only \(midwayKills) of \(kills) kills landed while batches were being applied")
                let lag = try await monitor.measure(projection: "demo_counts")
                #expect(lag.allSatisfy { $0.events == 0 }, "not caught up after \(attempts) runs")

                let crashed = try await ProjectionHarness.dump(strata.client, "demo_counts.key_counts", orderBy: "key")
                let crashedIndex = try await ProjectionHarness.dump(strata.client, "demo_counts.event_index", orderBy: "partition, log_offset")
                // The uninterrupted build: a replay from zero in this process.
                let catalog = GenerationCatalog(client: strata.client, log: strata.log, logger: strata.logger)
                _ = try await catalog.startReplay(DemoCountsProjection())
                try await ProjectionHarness.runUntilCaughtUp(strata, [DemoCountsProjection()])
                #expect(try await ProjectionHarness.dump(strata.client, "demo_counts.key_counts", orderBy: "key") == crashed)
                #expect(try await ProjectionHarness.dump(strata.client, "demo_counts.event_index", orderBy: "partition, log_offset") == crashedIndex)
                let counts = try await strata.client.query("SELECT sum(events)::bigint, count(*)::bigint FROM demo_counts.key_counts").decode((Int64, Int64).self)
                for try await (total, keys) in counts {
                    #expect(total == 5000)
                    #expect(keys == 97)
                }
            }
        }
    }

    /// Three workers share eight partitions; killing one hands its partitions to the others within
    /// the lease timeout, and the view completes correctly.
    @Test func leasesMoveWhenAWorkerDies() async throws {
        let topologyFile = FileManager.default.temporaryDirectory.appendingPathComponent("topology-8-\(UUID().uuidString.prefix(6)).yaml")
        try """
            topics:
              demo:
                partitions: 8
                types: [demo.event]
            """.write(to: topologyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: topologyFile) }
        let topology = try Topology.load(from: topologyFile)
        try await TestEnvironment.withDatabase { db in
            try await StrataContext.with(db.configuration, logger: TestEnvironment.logger, topologyOverride: topology) { strata in
                let args = ["--batch-size", "50", "--catch-up-batch-size", "50", "--heartbeat", "0.3", "--lease-ttl", "2", "--projection", "demo_counts"]
                let workers = try ["w1", "w2", "w3"].map {
                    try WorkerProcess(databaseURL: db.urlString, id: $0, extraArguments: args, topology: topologyFile)
                }
                defer { workers.forEach { $0.stop() } }
                // All 8 partitions leased, spread over the three workers.
                let spread = try await waitForLeases(strata.client, timeout: .seconds(30)) { owners in
                    owners.count == 8 && Set(owners.values).count == 3
                }
                #expect(Set(spread.values) == ["w1", "w2", "w3"])
                try await ProjectionRuntimeTestsSupport.produce(strata.producer, count: 2000, keys: 64)

                let victim = workers[1]
                let clock = ContinuousClock()
                victim.kill()
                let killedAt = clock.now
                let after = try await waitForLeases(strata.client, timeout: .seconds(30)) { owners in
                    owners.count == 8 && !owners.values.contains("w2")
                }
                let handover = clock.now - killedAt
                #expect(Set(after.values).isSubset(of: ["w1", "w3"]))
                // Lease TTL 2 s plus one heartbeat (0.3 s), with slack for process scheduling.
                #expect(handover < .seconds(4), "handover took \(handover)")
                // Events for the victim's old partitions are applied by the survivors.
                try await ProjectionRuntimeTestsSupport.produce(strata.producer, count: 2000, keys: 64, seed: 1)
                try await ProjectionHarness.waitUntilCaughtUp(strata, ["demo_counts"], timeout: .seconds(60))
                let counts = try await strata.client.query("SELECT sum(events)::bigint FROM demo_counts.key_counts").decode(Int64.self)
                for try await total in counts { #expect(total == 4000) }
                let indexed = try await strata.client.query("SELECT count(*)::bigint FROM demo_counts.event_index").decode(Int64.self)
                for try await n in indexed { #expect(n == 4000) }
                // A new worker joining gets a fair share (8 partitions over 3 workers: 2 or 3), as the
                // others hand partitions over at their next heartbeats.
                let w4 = try WorkerProcess(databaseURL: db.urlString, id: "w4", extraArguments: args, topology: topologyFile)
                defer { w4.stop() }
                let rebalanced = try await waitForLeases(strata.client, timeout: .seconds(30)) { owners in
                    owners.count == 8 && owners.values.filter { $0 == "w4" }.count >= 2
                }
                #expect(rebalanced.values.filter { $0 == "w4" }.count >= 2)
                #expect(Set(rebalanced.values) == ["w1", "w3", "w4"])
            }
        }
    }

    /// Polls live lease owners until `condition` holds.
    func waitForLeases(
        _ client: PostgresClient, timeout: Duration, _ condition: ([Int: String]) -> Bool
    ) async throws -> [Int: String] {
        let deadline = ContinuousClock.now + timeout
        var owners: [Int: String] = [:]
        while ContinuousClock.now < deadline {
            owners = [:]
            for try await (partition, owner) in try await client.query("""
                SELECT partition, owner FROM strata.leases
                 WHERE projection = 'demo_counts' AND owner IS NOT NULL AND expires_at > now()
                """).decode((Int, String).self)
            {
                owners[partition] = owner
            }
            if condition(owners) { return owners }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("lease condition not reached; owners: \(owners)")
        return owners
    }
}
