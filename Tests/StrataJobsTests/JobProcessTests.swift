import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataAPI
import StrataApp
import StrataCore
import StrataJobs
import StrataProjections
import StrataTestSupport
import Testing

/// Three `strata work` processes scheduling the same jobs file.
@Suite(.serialized, .timeLimit(.minutes(10))) struct JobProcessTests {
    /// One runner per job across three processes; SIGKILL of the runner mid-run: the run's attempt
    /// ends `failed` (never stuck `running`) once its lease expires, and another process retries it.
    /// Then the routes: the job's status and history, a run asked for over HTTP, a cancel refused
    /// for a finished run.
    @Test func aKilledRunnersRunIsFailedAndRetriedElsewhere() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-jobs-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appendingPathComponent("ran-once").path
        let jobsFile = directory.appendingPathComponent("jobs.yaml")
        try """
            jobs:
              victim:
                command: [sh, -c, "if [ -e \(marker) ]; then echo second; exit 0; fi; touch \(marker); echo first; sleep 15"]
                retries: 1
                retry_backoff: 0s
            """.write(to: jobsFile, atomically: true, encoding: .utf8)
        try await TestEnvironment.withDatabase { db in
            try await StrataContext.with(db.configuration, logger: TestEnvironment.logger) { strata in
                let args = ["--jobs", jobsFile.path, "--projection", "jobs", "--heartbeat", "0.3", "--lease-ttl", "3"]
                let workers = try ["j1", "j2", "j3"].map { try WorkerProcess(databaseURL: db.urlString, id: $0, extraArguments: args) }
                defer { workers.forEach { $0.stop() } }
                func events() async throws -> [(type: String, payload: JSONValue)] { try await SchedulerTests.events(strata) }
                try await SchedulerTests.waitFor("the declaration", timeout: .seconds(60), strata) { $0.contains { $0.type == JobEvents.declared } }
                _ = try await strata.producer.append([JobEvents.requestedDraft(job: "victim", runID: "victim@m", attempt: 1, reason: .manual,
                    at: Date(), requestedBy: "test")])
                try await SchedulerTests.waitFor("the start", strata) { $0.contains { $0.type == JobEvents.started } }
                let runner = try #require(try await events().first { $0.type == JobEvents.started }?.payload["runner"]?.stringValue)
                let victim = try #require(workers.first { $0.id == runner })
                try await Task.sleep(for: .milliseconds(300))
                victim.kill()
                try await SchedulerTests.waitFor("the retry's end", timeout: .seconds(30), strata) { SchedulerTests.finished($0, run: "victim@m").count == 2 }
                let all = try await events()
                let finished = SchedulerTests.finished(all, run: "victim@m")
                #expect(finished.map { $0["conclusion"]?.stringValue } == ["failed", "succeeded"])
                #expect(finished[0]["error"]?.stringValue?.contains("runner \(runner) was lost") == true, "\(finished)")
                let started = all.filter { $0.type == JobEvents.started }
                #expect(started.map { $0.payload["attempt"]?.intValue } == [1, 2], "one start per attempt: \(started.map(\.payload))")
                #expect(started.last?.payload["runner"]?.stringValue != runner)
                #expect(all.filter { $0.type == JobEvents.declared }.count == 1)

                // The jobs projection (run by the workers) and its routes.
                try await ProjectionHarness.waitUntilCaughtUp(strata, ["jobs"], timeout: .seconds(240))
                let deps = strata.apiDependencies(writeToken: APIHarness.token, metrics: false)
                let app = Application(router: buildRouter(deps, routes: [JobRoutes()]), logger: strata.logger)
                try await app.test(.router) { client in
                    let list = try await client.json("/v1/jobs")
                    let job = try #require(list.json["jobs"]?.arrayValue?.first)
                    #expect(job["job"] == "victim")
                    #expect(job["last_run"]?["conclusion"] == "succeeded")
                    #expect(job["last_success_at"]?.stringValue != nil)
                    let runs = try await client.json("/v1/jobs/victim/runs")
                    let run = try #require(runs.json["runs"]?.arrayValue?.first)
                    #expect(run["attempt"] == 2 && run["state"] == "finished")
                    #expect(run["attempts"]?.arrayValue?.map { $0["conclusion"]?.stringValue } == ["failed", "succeeded"])
                    #expect(try await client.json("/v1/jobs/nope/runs").status == .notFound)
                    #expect(try await client.json("/v1/jobs/victim/runs", method: .post).status == .unauthorized)
                    let asked = try await client.json("/v1/jobs/victim/runs", method: .post, headers: [.authorization: "Bearer \(APIHarness.token)"])
                    #expect(asked.status == .accepted)
                    let id = try #require(asked.json["run_id"]?.stringValue)
                    try await SchedulerTests.waitFor("the run asked over HTTP", strata) { !SchedulerTests.finished($0, run: id).isEmpty }
                    try await ProjectionHarness.waitUntilCaughtUp(strata, ["jobs"], timeout: .seconds(240))
                    let cancel = try await client.json("/v1/jobs/runs/\(id)/cancel", method: .post, headers: [.authorization: "Bearer \(APIHarness.token)"])
                    #expect(cancel.status == .conflict, "\(cancel.json)")
                }
            }
        }
    }
}
