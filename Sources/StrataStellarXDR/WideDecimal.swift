/// Decimal text of integers wider than the standard library's (Soroban's 256-bit arms).
enum WideDecimal {
    /// `words` is the two's-complement value, most significant 64-bit word first.
    static func string(words: [UInt64], signed: Bool) -> String {
        var magnitude = words
        let negative = signed && (words.first ?? 0) >> 63 == 1
        if negative {
            // Two's complement negation: invert, then add one from the least significant word up.
            magnitude = magnitude.map { ~$0 }
            var i = magnitude.count - 1
            while i >= 0 {
                let (sum, overflow) = magnitude[i].addingReportingOverflow(1)
                magnitude[i] = sum
                if !overflow { break }
                i -= 1
            }
        }
        // Repeated long division by 10^19, the largest power of ten in a UInt64.
        let chunk: UInt64 = 10_000_000_000_000_000_000
        var groups: [UInt64] = []
        while magnitude.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for i in magnitude.indices {
                let (q, r) = chunk.dividingFullWidth((high: remainder, low: magnitude[i]))
                magnitude[i] = q
                remainder = r
            }
            groups.append(remainder)
        }
        guard let top = groups.popLast() else { return "0" }
        var text = negative ? "-" : ""
        text += String(top)
        for group in groups.reversed() {
            let digits = String(group)
            text += String(repeating: "0", count: 19 - digits.count) + digits
        }
        return text
    }
}
