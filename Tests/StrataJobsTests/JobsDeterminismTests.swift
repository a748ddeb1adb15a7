import Foundation
import StrataCore
import StrataJobs
import StrataProjections
import StrataTestSupport
import Testing

/// The jobs projection passes the batch-boundary harness: runs of several jobs (retries, cancels,
/// skips, progress, re-declarations) arriving in ingests of random sizes give the same tables live
/// and on replay.
@Suite struct JobsDeterminismTests {
    @Test func jobsProjectionIsDeterministicAcrossBatchBoundaries() async throws {
        var drafts: [EventDraft] = []
        let t0 = RFC3339.parse("2026-12-03T12:00:00Z")!
        var random = SeededGenerator(seed: 11)
        for j in 0..<3 {
            let name = "job-\(j)"
            var spec = JobSpec(name: name, schedule: .every(seconds: 300), action: .command(["true"]))
            spec.retries = 2
            drafts.append(JobEvents.declaredDraft(spec, previous: nil, at: t0))
            for slot in 0..<8 {
                let at = t0.addingTimeInterval(Double(slot * 300 + j))
                let run = JobEvents.scheduledRunID(job: name, slot: at)
                drafts.append(JobEvents.requestedDraft(job: name, runID: run, attempt: 1, reason: slot == 0 ? .missed : .schedule, at: at, scheduledFor: at))
                switch Int.random(in: 0..<5, using: &random) {
                case 0:
                    drafts.append(JobEvents.finishedDraft(job: name, runID: run, attempt: 1, conclusion: .skipped, at: at, error: "1 run(s) still going"))
                case 1:
                    drafts.append(JobEvents.startedDraft(job: name, runID: run, attempt: 1, runner: "w\(j)", at: at.addingTimeInterval(1)))
                    drafts.append(JobEvents.cancelDraft(job: name, runID: run, requestedBy: "op", at: at.addingTimeInterval(2)))
                    drafts.append(JobEvents.finishedDraft(job: name, runID: run, attempt: 1, conclusion: .cancelled, at: at.addingTimeInterval(3),
                        error: "cancelled on request", exitCode: 143, durationMilliseconds: 2000, runner: "w\(j)"))
                default:
                    let attempts = Int.random(in: 1...3, using: &random)
                    for attempt in 1...attempts {
                        let a = at.addingTimeInterval(Double(attempt * 10))
                        if attempt > 1 {
                            drafts.append(JobEvents.requestedDraft(job: name, runID: run, attempt: attempt, reason: .retry, at: a, notBefore: a))
                        }
                        drafts.append(JobEvents.startedDraft(job: name, runID: run, attempt: attempt, runner: "w\(attempt)", at: a))
                        drafts.append(JobEvents.progressDraft(job: name, runID: run, attempt: attempt, message: "step \(attempt)", sequence: 1, at: a))
                        let last = attempt == attempts
                        drafts.append(JobEvents.finishedDraft(job: name, runID: run, attempt: attempt, conclusion: last ? .succeeded : .failed,
                            at: a.addingTimeInterval(5), error: last ? nil : "exit status 1", exitCode: last ? 0 : 1, durationMilliseconds: 5000, runner: "w\(attempt)"))
                    }
                }
            }
            spec.timeoutSeconds = 60
            drafts.append(JobEvents.declaredDraft(spec, previous: "x", at: t0.addingTimeInterval(4000)))
        }
        var parts: [[EventDraft]] = []
        var start = 0
        while start < drafts.count {
            let end = min(drafts.count, start + Int.random(in: 20...70, using: &random))
            parts.append(Array(drafts[start..<end]))
            start = end
        }
        let outcome = try await DeterminismHarness.check(projections: [JobsProjection()], parts: parts, seeds: [7], maxBatch: 12)
        #expect(outcome.tables.contains("jobs.runs"))
        #expect(outcome.rows["jobs.runs"] == 24)
        #expect(outcome.rows["jobs.declared"] == 3)
        #expect((outcome.rows["jobs.attempts"] ?? 0) > 24)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches)")
    }
}
