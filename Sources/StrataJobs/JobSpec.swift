import Foundation
import StrataCore
import Yams

/// A job as the jobs file declares it.
public struct JobSpec: Sendable, Equatable {
    /// What a run executes: a `strata` subcommand (this same binary, with the database and log the
    /// scheduler's process uses) or any program. Exit status 0 is success.
    public enum Action: Sendable, Equatable {
        case strata([String])
        case command([String])

        public var json: JSONValue {
            switch self {
            case .strata(let a): return ["strata": .array(a.map { .string($0) })]
            case .command(let a): return ["command": .array(a.map { .string($0) })]
            }
        }
    }

    public var name: String
    /// nil: runs only when asked (`strata jobs run NAME`).
    public var schedule: JobSchedule?
    public var action: Action
    /// A run still going after this is cancelled (conclusion `cancelled`).
    public var timeoutSeconds: Int64 = 3600
    /// Further attempts after a failed one (a non-zero exit, a lost runner), `retryBackoffSeconds`
    /// apart, doubling each time.
    public var retries = 0
    public var retryBackoffSeconds: Int64 = 30
    /// Runs of this job at once; a scheduled run due while as many are running is `skipped`.
    public var concurrency = 1

    public init(name: String, schedule: JobSchedule?, action: Action) {
        self.name = name
        self.schedule = schedule
        self.action = action
    }

    /// As recorded in `job.declared`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "job": .string(name), "action": action.json, "timeout_seconds": .int(Int(timeoutSeconds)), "retries": .int(retries),
            "retry_backoff_seconds": .int(Int(retryBackoffSeconds)), "concurrency": .int(concurrency),
        ]
        if let schedule { o["schedule"] = .string(schedule.description) }
        return .object(o)
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.first.map { $0 != 45 && $0 != 46 } == true
            && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 95 || $0 == 45 }
    }
}

/// The jobs file (`topology/jobs.yaml` beside the topology, or `--jobs FILE`):
///
/// ```yaml
/// jobs:
///   grants:
///     schedule: "0 */6 * * *"        # or  every: 6h
///     strata: [ingest, grants, /data/opengrants]   # or  command: [/usr/local/bin/crawl, --all]
///     timeout: 30m
///     retries: 2
///     retry_backoff: 1m
///     concurrency: 1
/// ```
public enum JobsFile {
    static let keys: Set<String> = ["schedule", "every", "strata", "command", "timeout", "retries", "retry_backoff", "concurrency", "description"]

    public static func load(from url: URL) throws -> [JobSpec] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw StrataError(.invalidConfiguration, "cannot read jobs file: \(error.localizedDescription)", at: InputLocation(source: url.path))
        }
        return try parse(text, source: url.path)
    }

    public static func parse(_ text: String, source: String) throws -> [JobSpec] {
        func fail(_ message: String, _ mark: Mark?) -> StrataError {
            StrataError(.invalidConfiguration, message, at: InputLocation(source: source, line: mark?.line, column: mark?.column))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw fail("not valid YAML: \(Topology.yamlProblem(error))", Topology.yamlMark(error))
        }
        guard let root, let top = root.mapping else { throw fail("expected a mapping with a 'jobs' key", root?.mark) }
        for (key, _) in top where key.string != "jobs" { throw fail("unknown key '\(key.string ?? "?")' (expected 'jobs')", key.mark) }
        guard let jobsNode = top["jobs"] else { throw fail("missing 'jobs'", top.mark) }
        if jobsNode.null != nil { return [] }
        guard let jobs = jobsNode.mapping else { throw fail("'jobs' must be a mapping of job names", jobsNode.mark) }
        var specs: [JobSpec] = []
        var seen: Set<String> = []
        for (nameNode, body) in jobs {
            guard let name = nameNode.string, JobSpec.isValidName(name) else {
                throw fail("invalid job name '\(nameNode.string ?? "?")': use 1-64 of a-z, 0-9, '.', '_', '-'", nameNode.mark)
            }
            guard seen.insert(name).inserted else { throw fail("job '\(name)' is declared twice", nameNode.mark) }
            guard let fields = body.mapping else { throw fail("job '\(name)' must be a mapping", body.mark) }
            for (key, _) in fields where !keys.contains(key.string ?? "") {
                throw fail("unknown key '\(key.string ?? "?")' in job '\(name)' (expected one of: \(keys.sorted().joined(separator: ", ")))", key.mark)
            }
            var schedule: JobSchedule?
            switch (fields["schedule"], fields["every"]) {
            case (.some, .some): throw fail("job '\(name)': give 'schedule' (cron) or 'every' (an interval), not both", nameNode.mark)
            case (.some(let s), nil):
                guard let text = s.string else { throw fail("job '\(name)': 'schedule' must be a cron expression string", s.mark) }
                do { schedule = .cron(try CronExpression(text)) } catch let e as StrataError { throw fail("job '\(name)': \(e.message)", s.mark) }
            case (nil, .some(let e)):
                guard let seconds = e.string.flatMap(JobDurations.parse), seconds >= 1 else {
                    throw fail("job '\(name)': 'every' must be a duration like 30s, 15m, 6h or 1d", e.mark)
                }
                schedule = .every(seconds: seconds)
            case (nil, nil): schedule = nil
            }
            func argv(_ node: Node, _ key: String) throws -> [String] {
                guard let seq = node.sequence, !seq.isEmpty else { throw fail("job '\(name)': '\(key)' must be a non-empty list of arguments", node.mark) }
                return try seq.map { n in
                    guard let s = n.string else { throw fail("job '\(name)': '\(key)' arguments must be strings", n.mark) }
                    return s
                }
            }
            let action: JobSpec.Action
            switch (fields["strata"], fields["command"]) {
            case (.some(let s), nil): action = .strata(try argv(s, "strata"))
            case (nil, .some(let c)): action = .command(try argv(c, "command"))
            case (.some, .some): throw fail("job '\(name)': give 'strata' or 'command', not both", nameNode.mark)
            case (nil, nil): throw fail("job '\(name)' says nothing to run: give 'strata: [subcommand, args...]' or 'command: [program, args...]'", nameNode.mark)
            }
            var spec = JobSpec(name: name, schedule: schedule, action: action)
            if let t = fields["timeout"] {
                guard let s = t.string.flatMap(JobDurations.parse), s >= 1 else { throw fail("job '\(name)': 'timeout' must be a duration like 30m", t.mark) }
                spec.timeoutSeconds = s
            }
            if let r = fields["retries"] {
                guard let n = r.string.flatMap({ Int($0) }), (0...100).contains(n) else { throw fail("job '\(name)': 'retries' must be 0-100", r.mark) }
                spec.retries = n
            }
            if let b = fields["retry_backoff"] {
                guard let s = b.string.flatMap(JobDurations.parse) else { throw fail("job '\(name)': 'retry_backoff' must be a duration like 30s", b.mark) }
                spec.retryBackoffSeconds = s
            }
            if let c = fields["concurrency"] {
                guard let n = c.string.flatMap({ Int($0) }), (1...64).contains(n) else { throw fail("job '\(name)': 'concurrency' must be 1-64", c.mark) }
                spec.concurrency = n
            }
            specs.append(spec)
        }
        return specs
    }
}
