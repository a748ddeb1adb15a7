import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The database fails under load, as it does for unlucky operators: PostgreSQL is killed and
/// restarted (`pg_ctl restart -m immediate`) twice and stopped for 20 s once, while producers
/// append over HTTP, readers read, and two processes (`strata serve` with its workers, and a
/// `strata work`) apply. Afterwards every partition resumes by itself within 30 s of the database
/// returning, `/health` said 503 while it was down and ok after, no acknowledged event is lost or
/// applied twice, and SIGTERM stops both processes within 10 s.
///
/// The cluster is private to this test (the shared one serves the other tests).
@Suite(.serialized, .timeLimit(.minutes(10))) struct FaultTests {
    final class Shared: Sendable {
        let observations = Mutex(Observations())
        let stop = Atomic<Bool>(false)
    }

    struct Observations: Sendable {
        var acknowledged: Set<String> = []
        var failedWrites = 0
        var slowestFailedWrite: Duration = .zero
        var health: [(at: ContinuousClock.Instant, status: Int, took: Duration)] = []
    }

    static func freePort() -> Int {
        // A port in a range the OS does not hand out as ephemeral, varied by pid.
        20_000 + Int(getpid() % 5_000) * 2 + Int.random(in: 0...1)
    }

    static func request(_ url: URL, method: String = "GET", body: Data? = nil, token: String? = nil, timeout: TimeInterval = 10) async
        -> (status: Int, body: String, took: Duration)
    {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/x-ndjson", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let start = ContinuousClock.now
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self), ContinuousClock.now - start)
        } catch {
            return (0, "\(error)", ContinuousClock.now - start)
        }
    }

    @Test(.timeLimit(.minutes(4))) func partitionsResumeAfterRestartsAndAnOutage() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-fault-\(UUID().uuidString.prefix(8))")
        let cluster = EmbeddedPostgres(directory: directory, serverSettings: ["fsync": "off", "full_page_writes": "off", "max_connections": "200"])
        let url = cluster.url(settings: try cluster.start())
        defer {
            try? cluster.stop(mode: .immediate)
            try? FileManager.default.removeItem(at: directory)
        }
        let port = Self.freePort()
        let base = URL(string: "http://127.0.0.1:\(port)")!
        let token = "fault-test-token"
        let fast = ["--heartbeat", "0.5", "--lease-ttl", "3", "--log-level", "info"]
        let serve = try WorkerProcess(
            arguments: ["serve", "--database-url", url, "--port", String(port), "--api-token", token, "--rate-limit", "0",
                        "--worker-id", "fault-serve"] + fast, id: "fault-serve")
        let work = try WorkerProcess(arguments: ["work", "--database-url", url, "--worker-id", "fault-work"] + fast, id: "fault-work")
        defer {
            Foundation.kill(serve.pid, SIGKILL)
            Foundation.kill(work.pid, SIGKILL)
            _ = serve.reaped()
            _ = work.reaped()
        }
        // Up and serving.
        var ready = false
        for _ in 0..<300 where !ready {
            ready = await Self.request(base.appendingPathComponent("health"), timeout: 2).status == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(ready, "strata serve did not become healthy: \(serve.output)")

        let shared = Shared()
        let appendURL = base.appendingPathComponent("v1/topics/demo/events")
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Producers: two, each appending small batches with their own ids, noting what was acknowledged.
            for producer in 0..<2 {
                group.addTask {
                    var i = 0
                    while !shared.stop.load(ordering: .relaxed) {
                        let ids = (0..<5).map { "fault-\(producer)-\(i + $0)" }
                        let body = ids.enumerated().map { n, id in
                            "{\"key\":\"k\((i + n) % 16)\",\"type\":\"demo.event\",\"id\":\"\(id)\",\"payload\":{\"amount\":1}}"
                        }.joined(separator: "\n")
                        let r = await Self.request(appendURL, method: "POST", body: Data(body.utf8), token: token, timeout: 30)
                        shared.observations.withLock { o in
                            if r.status == 201 || r.status == 200 {
                                o.acknowledged.formUnion(ids)
                            } else {
                                o.failedWrites += 1
                                o.slowestFailedWrite = max(o.slowestFailedWrite, r.took)
                            }
                        }
                        i += 5
                        try await Task.sleep(for: .milliseconds(40))
                    }
                }
            }
            // A health checker, noting when each check started, what /health said and how fast.
            group.addTask {
                while !shared.stop.load(ordering: .relaxed) {
                    let started = ContinuousClock.now
                    let r = await Self.request(base.appendingPathComponent("health"), timeout: 5)
                    shared.observations.withLock { $0.health.append((started, r.status, r.took)) }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            // A reader.
            group.addTask {
                while !shared.stop.load(ordering: .relaxed) {
                    _ = await Self.request(base.appendingPathComponent("v1/topics/demo/partitions/0/events"), timeout: 10)
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            group.addTask {
                defer { shared.stop.store(true, ordering: .relaxed) }
                try await Task.sleep(for: .seconds(3))
                for _ in 0..<2 {
                    try cluster.stop(mode: .immediate)
                    try cluster.start()
                    try await Task.sleep(for: .seconds(4))
                }
                try cluster.stop(mode: .immediate)
                let down = ContinuousClock.now
                try await Task.sleep(for: .seconds(12))
                // /metrics shows the outage too.
                let metrics = await Self.request(base.appendingPathComponent("metrics"), timeout: 5)
                #expect(metrics.body.contains("strata_database_up 0"), "\(metrics.body.prefix(2000))")
                try await Task.sleep(for: .seconds(8))
                try cluster.start()
                let back = ContinuousClock.now
                // While down, after a moment to notice, /health said 503, and said it fast (2 s; 3 s
                // allowed for a machine saturated by the rest of the suite).
                let during = shared.observations.withLock { o in o.health.filter { $0.at > down + .seconds(3) && $0.at < back - .seconds(1) } }
                #expect(!during.isEmpty)
                #expect(during.allSatisfy { $0.status == 503 }, "\(during.map(\.status))")
                #expect(during.allSatisfy { $0.took < .seconds(3) }, "\(during.map(\.took))")
                try await Task.sleep(for: .seconds(3))
            }
            try await group.waitForAll()
        }
        let back = ContinuousClock.now
        // Every partition of every projection catches up by itself within 30 s.
        let client = PostgresClient(configuration: try DatabaseURL(url).clientConfiguration(maximumConnections: 2), backgroundLogger: TestEnvironment.logger)
        try await client.whileRunning { client in
            var caughtUp = false
            var lastLag = ""
            while !caughtUp && ContinuousClock.now - back < .seconds(30) {
                let r = await Self.request(base.appendingPathComponent("v1/lag"), timeout: 5)
                lastLag = r.body
                if r.status == 200, let rows = (try? JSONParser.parse(r.body))?["partitions"]?.arrayValue, !rows.isEmpty {
                    caughtUp = rows.allSatisfy { $0["lag_events"]?.intValue == 0 }
                }
                if !caughtUp { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(caughtUp, """
                not caught up 30 s after the database returned: \(lastLag)
                serve: \(serve.output.suffix(6000))
                work: \(work.output.suffix(6000))
                """)
            let health = await Self.request(base.appendingPathComponent("health"), timeout: 5)
            #expect(health.status == 200)
            let metrics = await Self.request(base.appendingPathComponent("metrics"), timeout: 5)
            #expect(metrics.body.contains("strata_projection_stalled_partitions"), "\(metrics.body.prefix(2000))")
            #expect(health.body.contains("\"status\":\"ok\""), "\(health.body)")

            // Nothing acknowledged was lost, nothing was applied twice.
            var inLog: [String: Int] = [:]
            for try await id in try await client.query("SELECT event_id FROM strata.events WHERE topic = 'demo'").decode(String.self) {
                inLog[id, default: 0] += 1
            }
            let acknowledged = shared.observations.withLock { $0.acknowledged }
            #expect(acknowledged.count > 100)
            #expect(acknowledged.subtracting(inLog.keys).isEmpty, "acknowledged but not in the log: \(acknowledged.subtracting(inLog.keys).count)")
            var applied = 0
            for try await (n, distinct) in try await client.query("""
                SELECT count(*)::int, count(DISTINCT (partition, log_offset))::int FROM demo_counts.event_index
                """).decode((Int, Int).self) {
                applied = n
                #expect(n == distinct)
            }
            #expect(applied == inLog.count)
            for try await (counted, indexed) in try await client.query("""
                SELECT (SELECT coalesce(sum(events), 0)::int FROM demo_counts.key_counts), (SELECT count(*)::int FROM demo_counts.event_index)
                """).decode((Int, Int).self) {
                #expect(counted == indexed)
            }
        }
        let failed = shared.observations.withLock { ($0.failedWrites, $0.slowestFailedWrite) }
        // Writes during the outage failed, and failed within the server's 15 s request deadline (a
        // write in flight when the database vanished waits that long; 5 s more are allowed for the
        // response on a machine saturated by the rest of the suite: a CI run saw 16.2 s).
        #expect(failed.0 > 0)
        #expect(failed.1 < .seconds(20), "slowest failed write: \(failed.1)")
        // SIGTERM stops both within 10 s.
        async let serveStopped = serve.stop(within: .seconds(10))
        async let workStopped = work.stop(within: .seconds(10))
        let (s, w) = await (serveStopped, workStopped)
        #expect(s != nil, "strata serve did not stop within 10 s after SIGTERM:\n\(serve.output.suffix(3000))")
        #expect(w != nil, "strata work did not stop within 10 s after SIGTERM:\n\(work.output.suffix(3000))")
    }
}
