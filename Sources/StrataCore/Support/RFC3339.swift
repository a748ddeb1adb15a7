import Foundation

/// RFC 3339 timestamps: parsing for validation and envelopes, formatting with microseconds in UTC.
///
/// Hand-written because ISO8601DateFormatter is slow and not Sendable, and the log formats a
/// timestamp for every appended event.
public enum RFC3339 {
    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.frac](Z|±HH:MM)`; returns nil when anything is off.
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count >= 20 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
            second <= 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offset = sign * (oh * 3600 + om * 60)
            i += 6
        default:
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Double(days * 86400 + hour * 3600 + minute * 60 + min(second, 59) - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// Parses a full-date `YYYY-MM-DD`.
    public static func parseDate(_ s: String) -> Date? {
        guard s.utf8.count == 10 else { return nil }
        return parse(s + "T00:00:00Z")
    }

    /// Formats as `2026-11-23T18:45:33.123456Z` (no fraction when it is zero).
    public static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        write(date, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `format(date)`'s UTF-8 to `bytes` without building a string (bulk loads).
    public static func write(_ date: Date, into bytes: inout [UInt8]) {
        let (second, us) = split(date)
        writeSecond(second, into: &bytes)
        writeFraction(us, into: &bytes)
    }

    /// Whole seconds since 1970 (floored) and the microseconds past them.
    static func split(_ date: Date) -> (second: Int64, micros: Int64) {
        // Clamped to what Int64 microseconds hold (±292,000 years), so no date can trap here
        // (a stored `infinity` timestamp decodes to one far outside).
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let total = micros.isNaN ? 0 : Int64(exactly: micros) ?? (micros < 0 ? -(Int64.max / 2) : Int64.max / 2)
        var second = total / 1_000_000
        var us = total % 1_000_000
        if us < 0 {
            us += 1_000_000
            second -= 1
        }
        return (second, us)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for whole seconds since 1970 (how stellar-etl writes close times).
    public static func formatSeconds(_ seconds: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        writeSecond(seconds, into: &bytes)
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `YYYY-MM-DDTHH:MM:SS` for a second since 1970.
    static func writeSecond(_ total: Int64, into bytes: inout [UInt8]) {
        var days = total / 86400
        var rem = total % 86400
        if rem < 0 {
            rem += 86400
            days -= 1
        }
        let (y, m, d) = civilFromDays(Int(days))
        digits(y, 4, &bytes); bytes.append(UInt8(ascii: "-"))
        digits(m, 2, &bytes); bytes.append(UInt8(ascii: "-"))
        digits(d, 2, &bytes); bytes.append(UInt8(ascii: "T"))
        digits(Int(rem / 3600), 2, &bytes); bytes.append(UInt8(ascii: ":"))
        digits(Int(rem % 3600 / 60), 2, &bytes); bytes.append(UInt8(ascii: ":"))
        digits(Int(rem % 60), 2, &bytes)
    }

    /// `.ffffffZ`, or `Z` when the fraction is zero.
    static func writeFraction(_ us: Int64, into bytes: inout [UInt8]) {
        if us != 0 {
            bytes.append(UInt8(ascii: "."))
            digits(Int(us), 6, &bytes)
        }
        bytes.append(UInt8(ascii: "Z"))
    }

    /// Writes timestamps like `RFC3339.write`, remembering the text of the last second it wrote:
    /// a batch of events appended together mostly shares its seconds, so the calendar arithmetic
    /// runs once per second rather than once per timestamp.
    public struct Writer: Sendable {
        private var second: Int64 = .min
        private var secondText: [UInt8] = []

        public init() {}

        public mutating func write(_ date: Date, into bytes: inout [UInt8]) {
            let (second, us) = RFC3339.split(date)
            if second != self.second {
                self.second = second
                secondText.removeAll(keepingCapacity: true)
                RFC3339.writeSecond(second, into: &secondText)
            }
            bytes.append(contentsOf: secondText)
            RFC3339.writeFraction(us, into: &bytes)
        }
    }

    /// `value` zero-padded to `width` digits (wider values in full).
    private static func digits(_ value: Int, _ width: Int, _ bytes: inout [UInt8]) {
        var v = value
        if v < 0 || (width == 4 && v > 9999) {
            bytes.append(contentsOf: String(value).utf8)
            return
        }
        let start = bytes.count
        for _ in 0..<width {
            bytes.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        }
        bytes[start...].reverse()
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
