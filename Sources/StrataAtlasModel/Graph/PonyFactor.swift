// The pony factor: how few contributors account for half of the commits.
import Foundation

public enum PonyFactor {
    /// The smallest number of contributors whose commits add up to at least half of all commits.
    /// Counts `<= 0` are dropped; the rest are taken largest first. 0 when there are no commits.
    public static func compute(_ commitCounts: some Sequence<Int>) -> Int {
        let counts = commitCounts.filter { $0 > 0 }.sorted(by: >)
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        var cumulative = 0
        for (k, count) in counts.enumerated() {
            cumulative += count
            // cumulative >= total / 2, in integers.
            if cumulative * 2 >= total { return k + 1 }
        }
        return counts.count
    }

    /// The pony factor of commit counts keyed by contributor.
    public static func compute(commitsByContributor: [String: Int]) -> Int {
        compute(commitsByContributor.values)
    }
}
