import Crypto
import Foundation
import StrataCore

/// The `jobs` topic: every declaration and every step of every run is an event, keyed by job name
/// (so a job's events are ordered). Ids are derived from what they mean (`job:RUN:ATTEMPT:started`),
/// so two runners racing to record the same step append it once.
public enum JobEvents {
    public static let topic = "jobs"
    public static let declared = "job.declared"
    public static let requested = "job.run.requested"
    public static let started = "job.run.started"
    public static let progress = "job.run.progress"
    public static let cancelRequested = "job.run.cancel_requested"
    public static let finished = "job.run.finished"

    public enum Conclusion: String, Sendable, CaseIterable {
        case succeeded, failed, cancelled, skipped
    }

    /// Why a run was asked for.
    public enum Reason: String, Sendable {
        /// Its schedule's time came.
        case schedule
        /// Its time came while no scheduler was running (after downtime): run once for the latest.
        case missed
        /// Asked by an operator (`strata jobs run`, `POST /v1/jobs/{name}/runs`).
        case manual
        /// A failed attempt is tried again.
        case retry
    }

    /// The run id of a scheduled slot: the same on every scheduler.
    public static func scheduledRunID(job: String, slot: Date) -> String {
        "\(job)@\(Int64(slot.timeIntervalSince1970))"
    }

    public static func manualRunID(job: String) -> String {
        "\(job)@manual-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func draft(_ type: String, job: String, id: String, source: String, _ payload: [String: JSONValue]) -> EventDraft {
        var p = payload
        p["job"] = .string(job)
        var d = EventDraft(topic: topic, key: job, type: type, id: id, source: source, payload: .object(p))
        d.semanticID = true
        return d
    }

    public static func declaredDraft(_ spec: JobSpec, previous: String?, at: Date) -> EventDraft {
        let digest = hash(spec.json)
        var payload = spec.json.objectValue ?? [:]
        payload["digest"] = .string(digest)
        payload["at"] = .string(RFC3339.format(at))
        return draft(declared, job: spec.name, id: "job:\(spec.name):declared:\(digest):after:\(previous ?? "none")", source: "scheduler", payload)
    }

    public static func requestedDraft(job: String, runID: String, attempt: Int, reason: Reason, at: Date, scheduledFor: Date? = nil,
        notBefore: Date? = nil, requestedBy: String? = nil) -> EventDraft
    {
        var p: [String: JSONValue] = ["run_id": .string(runID), "attempt": .int(attempt), "reason": .string(reason.rawValue), "at": .string(RFC3339.format(at))]
        if let scheduledFor { p["scheduled_for"] = .string(RFC3339.format(scheduledFor)) }
        if let notBefore { p["not_before"] = .string(RFC3339.format(notBefore)) }
        if let requestedBy { p["requested_by"] = .string(requestedBy) }
        return draft(requested, job: job, id: "job:\(runID):\(attempt):requested", source: requestedBy == nil ? "scheduler" : "operator", p)
    }

    public static func startedDraft(job: String, runID: String, attempt: Int, runner: String, at: Date) -> EventDraft {
        draft(started, job: job, id: "job:\(runID):\(attempt):started", source: "scheduler",
            ["run_id": .string(runID), "attempt": .int(attempt), "runner": .string(runner), "at": .string(RFC3339.format(at))])
    }

    public static func progressDraft(job: String, runID: String, attempt: Int, message: String, sequence: Int, at: Date) -> EventDraft {
        draft(progress, job: job, id: "job:\(runID):\(attempt):progress:\(sequence)", source: "scheduler",
            ["run_id": .string(runID), "attempt": .int(attempt), "message": .string(String(message.prefix(2000))), "at": .string(RFC3339.format(at))])
    }

    public static func cancelDraft(job: String, runID: String, requestedBy: String, at: Date) -> EventDraft {
        draft(cancelRequested, job: job, id: "job:\(runID):cancel", source: "operator",
            ["run_id": .string(runID), "requested_by": .string(requestedBy), "at": .string(RFC3339.format(at))])
    }

    public static func finishedDraft(job: String, runID: String, attempt: Int, conclusion: Conclusion, at: Date, error: String? = nil,
        exitCode: Int32? = nil, durationMilliseconds: Int64? = nil, runner: String? = nil) -> EventDraft
    {
        var p: [String: JSONValue] = ["run_id": .string(runID), "attempt": .int(attempt), "conclusion": .string(conclusion.rawValue),
                                      "at": .string(RFC3339.format(at))]
        if let error { p["error"] = .string(String(error.suffix(4000))) }
        if let exitCode { p["exit_code"] = .int(Int(exitCode)) }
        if let durationMilliseconds { p["duration_ms"] = .int(Int(durationMilliseconds)) }
        if let runner { p["runner"] = .string(runner) }
        return draft(finished, job: job, id: "job:\(runID):\(attempt):finished", source: "scheduler", p)
    }

    static func hash(_ value: JSONValue) -> String {
        let digest = SHA256.hash(data: Array(JSONWriter.string(value).utf8))
        return digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}

/// What the scheduler knows of the jobs topic, folded from its events in log order.
struct JobFold: Sendable {
    struct Run: Sendable {
        var runID: String
        var job: String
        var attempt: Int
        var reason: JobEvents.Reason
        var state: State
        var notBefore: Date?
        var runner: String?
        var cancelRequested = false
        var order: Int64
    }
    enum State: Sendable { case queued, running, finished }

    var runs: [String: Run] = [:]
    /// The latest scheduled slot requested per job.
    var lastSlot: [String: Date] = [:]
    /// The digest of each job's latest declaration.
    var declared: [String: String] = [:]
    var lastSuccess: [String: Date] = [:]
    /// When each job was first declared: a job never run before is scheduled from there, the same
    /// on every scheduler whichever holds its lease.
    var firstDeclared: [String: Date] = [:]
    var sequence: Int64 = 0

    mutating func apply(_ event: Event) {
        guard let p = try? JSONParser.parse(event.payload), let job = p["job"]?.stringValue else { return }
        sequence += 1
        let at = p["at"]?.stringValue.flatMap(RFC3339.parse)
        if event.type == JobEvents.declared {
            declared[job] = p["digest"]?.stringValue
            if firstDeclared[job] == nil { firstDeclared[job] = at }
            return
        }
        guard let runID = p["run_id"]?.stringValue else { return }
        let attempt = p["attempt"]?.intValue ?? 1
        switch event.type {
        case JobEvents.requested:
            let reason = p["reason"]?.stringValue.flatMap(JobEvents.Reason.init(rawValue:)) ?? .manual
            if let slot = p["scheduled_for"]?.stringValue.flatMap(RFC3339.parse), reason == .schedule || reason == .missed {
                lastSlot[job] = max(lastSlot[job] ?? slot, slot)
            }
            if let existing = runs[runID], existing.attempt >= attempt { return }
            let cancel = runs[runID]?.cancelRequested ?? false
            runs[runID] = Run(runID: runID, job: job, attempt: attempt, reason: reason, state: .queued,
                notBefore: p["not_before"]?.stringValue.flatMap(RFC3339.parse), cancelRequested: cancel, order: sequence)
        case JobEvents.started:
            guard var run = runs[runID], run.attempt == attempt, run.state == .queued else { return }
            run.state = .running
            run.runner = p["runner"]?.stringValue
            runs[runID] = run
        case JobEvents.cancelRequested:
            runs[runID]?.cancelRequested = true
        case JobEvents.finished:
            guard let run = runs[runID], run.attempt == attempt else { return }
            runs[runID] = nil  // a retry, if any, is a new request with the next attempt
            if p["conclusion"]?.stringValue == JobEvents.Conclusion.succeeded.rawValue, let at {
                lastSuccess[job] = max(lastSuccess[job] ?? at, at)
            }
        default:
            break
        }
    }
}
