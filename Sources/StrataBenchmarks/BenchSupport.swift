import Foundation

/// Latency samples and their percentiles.
public struct LatencyRecorder: Sendable {
    public private(set) var samples: [Duration] = []

    public init() {}

    public mutating func record(_ d: Duration) { samples.append(d) }
    public mutating func merge(_ other: LatencyRecorder) { samples += other.samples }

    public func percentile(_ p: Double) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[index]
    }
}

extension Duration {
    public var milliseconds: Double {
        let (s, a) = components
        return Double(s) * 1000 + Double(a) / 1e15
    }

    public var seconds: Double { milliseconds / 1000 }
}

/// A formatted number: 12345.6 -> "12,346".
public func grouped(_ value: Double) -> String {
    let n = Int(value.rounded())
    let s = String(abs(n))
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + String(out.reversed())
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

public func ms(_ d: Duration) -> String { String(format: "%.2f ms", d.milliseconds) }

/// Writes progress to stderr so stdout stays the report.
public func progress(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
