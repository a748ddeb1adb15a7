import Foundation
import StrataCore
import StrataJobs
import Testing

@Suite struct ScheduleTests {
    static func utc(_ text: String) -> Date { RFC3339.parse(text)! }

    func next(_ expression: String, after: String) throws -> String? {
        try CronExpression(expression).next(after: Self.utc(after)).map(RFC3339.format)
    }

    @Test func cronFiresAtTheRightTimes() throws {
        #expect(try next("*/15 * * * *", after: "2026-12-03T10:07:12Z") == RFC3339.format(Self.utc("2026-12-03T10:15:00Z")))
        #expect(try next("*/15 * * * *", after: "2026-12-03T10:15:00Z") == RFC3339.format(Self.utc("2026-12-03T10:30:00Z")))
        // Weekdays 9-17: after Friday 17:50 comes Monday 09:00 (2026-12-04 is a Friday).
        #expect(try next("*/15 9-17 * * mon-fri", after: "2026-12-04T17:50:00Z") == RFC3339.format(Self.utc("2026-12-07T09:00:00Z")))
        // Both day fields restricted: either matches (Vixie cron): the 1st, or a Sunday.
        #expect(try next("0 0 1 * sun", after: "2026-12-03T00:00:00Z") == RFC3339.format(Self.utc("2026-12-06T00:00:00Z")))
        #expect(try next("0 0 1 * sun", after: "2026-12-27T00:00:00Z") == RFC3339.format(Self.utc("2027-01-01T00:00:00Z")))
        // 29 February: the next leap year.
        #expect(try next("30 12 29 feb *", after: "2026-03-01T00:00:00Z") == RFC3339.format(Self.utc("2028-02-29T12:30:00Z")))
        // Macros, 7 as Sunday, month names, lists and stepped ranges.
        #expect(try next("@daily", after: "2026-12-03T10:00:00Z") == RFC3339.format(Self.utc("2026-12-04T00:00:00Z")))
        #expect(try next("0 6 * * 7", after: "2026-12-03T10:00:00Z") == RFC3339.format(Self.utc("2026-12-06T06:00:00Z")))
        #expect(try next("5,35 1-23/11 * JAN,dec *", after: "2026-12-03T12:36:00Z") == RFC3339.format(Self.utc("2026-12-03T23:05:00Z")))
        // No such day: none within five years.
        #expect(try next("0 0 31 feb *", after: "2026-12-03T00:00:00Z") == nil)
    }

    @Test func badCronSaysWhichFieldAndWhy() {
        for (expression, says) in [("* * * *", "has 4 fields"), ("60 * * * *", "minute field '60' has 60, outside 0-59"),
                                   ("* * * foo *", "month field 'foo' has 'foo'"), ("*/0 * * * *", "step '0'"),
                                   ("5-1 * * * *", "backwards"), ("@sometimes", "unknown cron macro"), ("1,,2 * * * *", "empty list item")] {
            #expect {
                _ = try CronExpression(expression)
            } throws: { error in
                "\(error)".contains(says)
            }
        }
    }

    @Test func intervalsAndMissedRuns() throws {
        let sixHours = JobSchedule.every(seconds: 6 * 3600)
        #expect(sixHours.next(after: Self.utc("2026-12-03T10:00:00Z")) == Self.utc("2026-12-03T12:00:00Z"))
        #expect(sixHours.next(after: Self.utc("2026-12-03T12:00:00Z")) == Self.utc("2026-12-03T18:00:00Z"))
        // After downtime, the latest due time only (one run, not one per missed time).
        #expect(sixHours.latest(atOrBefore: Self.utc("2026-12-04T07:00:00Z"), after: Self.utc("2026-12-03T06:00:00Z")) == Self.utc("2026-12-04T06:00:00Z"))
        #expect(sixHours.latest(atOrBefore: Self.utc("2026-12-03T11:59:59Z"), after: Self.utc("2026-12-03T06:00:00Z")) == nil)
        let hourly = JobSchedule.cron(try CronExpression("@hourly"))
        #expect(hourly.latest(atOrBefore: Self.utc("2026-12-03T15:30:00Z"), after: Self.utc("2026-12-03T10:00:00Z")) == Self.utc("2026-12-03T15:00:00Z"))
        #expect(JobDurations.parse("1h30m") == 5400)
        #expect(JobDurations.parse("90") == 90)
        #expect(JobDurations.parse("1x") == nil)
        #expect(JobDurations.parse("m") == nil)
    }

    @Test func jobsFileErrorsNameTheLine() throws {
        let specs = try JobsFile.parse("""
            jobs:
              grants:
                schedule: "0 */6 * * *"
                strata: [ingest, grants, /data/opengrants]
                timeout: 30m
                retries: 2
                retry_backoff: 1m
              sweep:
                every: 15m
                command: [sh, -c, "echo hi"]
                concurrency: 2
              by-hand:
                command: ["true"]
            """, source: "jobs.yaml")
        #expect(specs.map(\.name) == ["grants", "sweep", "by-hand"])
        #expect(specs[0].action == .strata(["ingest", "grants", "/data/opengrants"]))
        #expect(specs[0].timeoutSeconds == 1800 && specs[0].retries == 2 && specs[0].retryBackoffSeconds == 60)
        #expect(specs[1].schedule == .every(seconds: 900) && specs[1].concurrency == 2)
        #expect(specs[2].schedule == nil)
        for (text, says, line) in [
            ("jobs:\n  a:\n    every: 5m\n", "says nothing to run", 2),
            ("jobs:\n  a:\n    schedule: \"61 * * * *\"\n    command: [x]\n", "minute field '61'", 3),
            ("jobs:\n  a:\n    every: soon\n    command: [x]\n", "'every' must be a duration", 3),
            ("jobs:\n  a:\n    command: [x]\n    retires: 2\n", "unknown key 'retires'", 4),
            ("jobs:\n  Bad Name:\n    command: [x]\n", "invalid job name", 2),
        ] {
            #expect {
                _ = try JobsFile.parse(text, source: "jobs.yaml")
            } throws: { error in
                guard let e = error as? StrataError else { return false }
                return e.message.contains(says) && e.location?.line == line
            }
        }
    }
}
