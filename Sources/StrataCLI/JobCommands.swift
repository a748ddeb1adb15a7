import ArgumentParser
import Foundation
import PostgresNIO
import StrataApp
import StrataCore
import StrataPostgres
import StrataJobs

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scheduled jobs: list them, run one now, read a job's history, cancel a run.",
        discussion: """
            Jobs are declared in topology/jobs.yaml (or --jobs FILE on serve and work), run by `strata serve` \
            and `strata work` (one runner per job across all of them), and recorded as events on the jobs topic; \
            these commands read the jobs projection and append requests. See docs/runbook.md#jobs.
            """,
        subcommands: [List.self, Run.self, History.self, Cancel.self])

    /// The first column of the first row, or nil; a missing jobs view is explained.
    static func one(_ strata: StrataContext, _ query: PostgresQuery) async throws -> String? {
        do {
            for try await row in try await strata.client.query(query, logger: strata.logger) { return try row.decode(String.self) }
            return nil
        } catch where PostgresErrors.isMissingView(error) {
            throw StrataError(.notFound, "the jobs projection has no view yet: run `strata work` or `strata serve` with the jobs topic in the topology")
        }
    }

    static func time(_ v: JSONValue?) -> String {
        guard let s = v?.stringValue, let d = RFC3339.parse(s) ?? ISO8601DateFormatter().date(from: s) else { return "-" }
        return RFC3339.format(d)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Declared jobs with their last run and last success.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let json = self.json
            try await options.run { strata in
                let text = try await Jobs.one(strata, JobQueries.list) ?? #"{"jobs":[]}"#
                if json { printLine(text); return }
                let jobs = (try? JSONParser.parse(Array(text.utf8)))?["jobs"]?.arrayValue ?? []
                if jobs.isEmpty { printLine("no jobs declared yet (a scheduler declares its jobs file's jobs when it starts)"); return }
                var table = [["JOB", "SCHEDULE", "RUNNING", "QUEUED", "LAST RUN", "STATE", "CONCLUSION", "LAST SUCCESS"]]
                for j in jobs {
                    let last = j["last_run"]
                    table.append([j["job"]?.stringValue ?? "", j["schedule"]?.stringValue ?? "(manual)", "\(j["running"]?.intValue ?? 0)",
                        "\(j["queued"]?.intValue ?? 0)", last?["run_id"]?.stringValue ?? "-", last?["state"]?.stringValue ?? "-",
                        last?["conclusion"]?.stringValue ?? "-", Jobs.time(j["last_success_at"])])
                }
                printLine(TextTable.render(table))
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask for a run of a job now (its runner starts it within a heartbeat).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The job.") var name: String
        @Option(help: "Who asks (recorded).") var by = ProcessInfo.processInfo.environment["USER"] ?? "cli"

        func run() async throws {
            let (name, by) = (self.name, self.by)
            try await options.run { strata in
                guard try await Jobs.one(strata, "SELECT job FROM jobs.declared WHERE job = \(name)") != nil else {
                    throw StrataError(.notFound, "no job '\(name)' is declared (a scheduler declares its jobs file's jobs when it starts)")
                }
                let runID = JobEvents.manualRunID(job: name)
                _ = try await strata.producer.append([JobEvents.requestedDraft(job: name, runID: runID, attempt: 1, reason: .manual, at: Date(), requestedBy: by)])
                printLine("requested \(runID)")
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A job's runs, newest first, with each attempt.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The job.") var name: String
        @Option(help: "At most this many runs.") var limit = 20
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...500).contains(limit) else { throw ValidationError("--limit must be 1-500") }
        }

        func run() async throws {
            let (name, limit, json) = (self.name, self.limit, self.json)
            try await options.run { strata in
                guard let text = try await Jobs.one(strata, JobQueries.runs(name, limit: limit)) else {
                    throw StrataError(.notFound, "no job '\(name)'")
                }
                if json { printLine(text); return }
                var table = [["RUN", "REASON", "ATTEMPT", "STATE", "CONCLUSION", "REQUESTED", "STARTED", "FINISHED", "RUNNER", "ERROR"]]
                for r in (try? JSONParser.parse(Array(text.utf8)))?["runs"]?.arrayValue ?? [] {
                    table.append([r["run_id"]?.stringValue ?? "", r["reason"]?.stringValue ?? "", "\(r["attempt"]?.intValue ?? 0)",
                        r["state"]?.stringValue ?? "", r["conclusion"]?.stringValue ?? "-", Jobs.time(r["requested_at"]), Jobs.time(r["started_at"]),
                        Jobs.time(r["finished_at"]), r["runner"]?.stringValue ?? "-",
                        String((r["error"]?.stringValue ?? "").split(separator: "\n").first ?? "")])
                }
                printLine(TextTable.render(table))
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a queued or running run (its runner stops it within a heartbeat).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The run id (strata jobs history NAME).") var run: String
        @Option(help: "Who asks (recorded).") var by = ProcessInfo.processInfo.environment["USER"] ?? "cli"

        func run() async throws {
            let (run, by) = (self.run, self.by)
            try await options.run { strata in
                guard let text = try await Jobs.one(strata, "SELECT json_build_object('job', job, 'state', state)::text FROM jobs.runs WHERE run_id = \(run)"),
                    let row = try? JSONParser.parse(Array(text.utf8)), let job = row["job"]?.stringValue
                else { throw StrataError(.notFound, "no run '\(run)'") }
                guard row["state"]?.stringValue != "finished" else { throw StrataError(.invalidInput, "run '\(run)' has already finished") }
                _ = try await strata.producer.append([JobEvents.cancelDraft(job: job, runID: run, requestedBy: by, at: Date())])
                printLine("cancel requested for \(run)")
            }
        }
    }
}
