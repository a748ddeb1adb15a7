import Foundation
import StrataCore

/// When a job runs: a cron expression (five fields, UTC) or a fixed interval.
public enum JobSchedule: Sendable, Equatable, CustomStringConvertible {
    case cron(CronExpression)
    /// Every `seconds`, at multiples of it since the Unix epoch (`every: 6h` fires at 00:00, 06:00, ... UTC).
    case every(seconds: Int64)

    /// The first fire time strictly after `date`, or nil if there is none within five years.
    public func next(after date: Date) -> Date? {
        switch self {
        case .cron(let c): return c.next(after: date)
        case .every(let s):
            let t = Int64(date.timeIntervalSince1970.rounded(.down))
            let (q, r) = t.quotientAndRemainder(dividingBy: s)
            return Date(timeIntervalSince1970: Double((r < 0 ? q : q + 1) * s))
        }
    }

    /// The last fire time at or before `date` that is after `since`, when there is one (a run
    /// missed while nothing was running). Bounded: looks at most 100,000 fire times ahead of `since`.
    public func latest(atOrBefore date: Date, after since: Date) -> Date? {
        if case .every(let s) = self {
            let t = Int64(date.timeIntervalSince1970.rounded(.down))
            let (q, r) = t.quotientAndRemainder(dividingBy: s)
            let slot = Date(timeIntervalSince1970: Double((r < 0 ? q - 1 : q) * s))
            return slot > since ? slot : nil
        }
        var found: Date?
        var cursor = since
        for _ in 0..<100_000 {
            guard let n = next(after: cursor), n <= date else { break }
            found = n
            cursor = n
        }
        return found
    }

    public var description: String {
        switch self {
        case .cron(let c): return c.text
        case .every(let s): return "every \(JobDurations.format(seconds: s))"
        }
    }
}

/// A five-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC:
/// `*`, numbers, `a-b` ranges, `/n` steps, comma lists, month and weekday names (`jan`, `mon`), 7 as
/// Sunday, and `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`. As in
/// Vixie cron, when both day fields are restricted a day matching either runs.
public struct CronExpression: Sendable, Equatable {
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    public init(_ text: String) throws {
        let macros = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
                      "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = trimmed.hasPrefix("@") ? macros[trimmed.lowercased()] : trimmed
        guard let expanded else {
            throw StrataError(.invalidConfiguration, "unknown cron macro '\(trimmed)' (known: \(macros.keys.sorted().joined(separator: ", ")))")
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw StrataError(.invalidConfiguration, "cron expression '\(trimmed)' has \(fields.count) fields; expected 5 (minute hour day month weekday)")
        }
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        self.text = trimmed
        minutes = try Self.field(fields[0], "minute", 0...59, names: [], in: trimmed)
        hours = try Self.field(fields[1], "hour", 0...23, names: [], in: trimmed)
        days = try Self.field(fields[2], "day of month", 1...31, names: [], in: trimmed)
        months = try Self.field(fields[3], "month", 1...12, names: monthNames, nameBase: 1, in: trimmed)
        weekdays = Set(try Self.field(fields[4], "day of week", 0...7, names: dayNames, in: trimmed).map { $0 % 7 })
        daysRestricted = fields[2] != "*" && fields[2] != "?"
        weekdaysRestricted = fields[4] != "*" && fields[4] != "?"
    }

    static func field(_ text: String, _ what: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int = 0, in whole: String) throws -> Set<Int> {
        func bad(_ why: String) -> StrataError {
            StrataError(.invalidConfiguration, "cron expression '\(whole)': \(what) field '\(text)' \(why)")
        }
        func value(_ s: Substring) throws -> Int {
            if let n = Int(s) {
                guard range.contains(n) else { throw bad("has \(n), outside \(range.lowerBound)-\(range.upperBound)") }
                return n
            }
            if let i = names.firstIndex(of: s.lowercased()) { return i + nameBase }
            throw bad("has '\(s)', which is not a number\(names.isEmpty ? "" : " or a name")")
        }
        var result: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw bad("has an empty list item") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw bad("has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0, s <= range.upperBound else { throw bad("has step '\(pieces[1])'; use 1-\(range.upperBound)") }
                step = s
            }
            let base = pieces[0]
            var low: Int, high: Int
            if base == "*" || base == "?" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw bad("has range \(low)-\(high), which is backwards") }
            } else {
                low = try value(base)
                high = pieces.count == 2 ? range.upperBound : low
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    /// The first matching minute strictly after `date`.
    public func next(after date: Date) -> Date? {
        let start = Int64((date.timeIntervalSince1970 / 60).rounded(.down)) + 1  // minutes since the epoch
        var day = start.floorDiv(1440)
        var minuteOfDay = Int(start - day * 1440)
        for _ in 0..<(366 * 5) {
            let (_, month, dayOfMonth) = Self.civil(day)
            let weekday = Int((day + 4).floorMod(7))  // 1970-01-01 was a Thursday
            let dayMatches: Bool
            switch (daysRestricted, weekdaysRestricted) {
            case (true, true): dayMatches = days.contains(dayOfMonth) || weekdays.contains(weekday)
            case (true, false): dayMatches = days.contains(dayOfMonth)
            case (false, true): dayMatches = weekdays.contains(weekday)
            case (false, false): dayMatches = true
            }
            if months.contains(month) && dayMatches {
                for hour in hours.sorted() where hour * 60 + 59 >= minuteOfDay {
                    for minute in minutes.sorted() where hour * 60 + minute >= minuteOfDay {
                        return Date(timeIntervalSince1970: Double((day * 1440 + Int64(hour * 60 + minute)) * 60))
                    }
                }
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    /// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
    static func civil(_ days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 {
        let (q, r) = quotientAndRemainder(dividingBy: d)
        return r < 0 ? q - 1 : q
    }
    func floorMod(_ d: Int64) -> Int64 {
        let r = self % d
        return r < 0 ? r + d : r
    }
}

/// Durations in job files: `90`, `90s`, `15m`, `6h`, `1d` (also combined: `1h30m`).
public enum JobDurations {
    public static func parse(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let n = Int64(t) { return n >= 0 ? n : nil }
        var total: Int64 = 0
        var number = ""
        var any = false
        for c in t {
            if c.isNumber {
                number.append(c)
            } else {
                guard let n = Int64(number) else { return nil }
                let unit: Int64
                switch c {
                case "s": unit = 1
                case "m": unit = 60
                case "h": unit = 3600
                case "d": unit = 86400
                default: return nil
                }
                let (product, overflow) = n.multipliedReportingOverflow(by: unit)
                guard !overflow, product <= 10 * 365 * 86400, total + product <= 10 * 365 * 86400 else { return nil }
                total += product
                number = ""
                any = true
            }
        }
        return number.isEmpty && any ? total : nil
    }

    public static func format(seconds: Int64) -> String {
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
