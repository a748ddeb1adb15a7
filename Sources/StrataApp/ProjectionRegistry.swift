import StrataATProtoIndex
import StrataAtlas
import StrataJobs
import StrataCore
import StrataLedger
import StrataProjections

/// Every projection this build of Strata runs.
public enum ProjectionRegistry {
    public static func all() -> [any Projection] {
        [DemoCountsProjection(), LedgerBronzeProjection(), LedgerSilverProjection(), LedgerIndexProjection(), AtlasProjection(), JobsProjection(), ATProtoIndexProjection()]
    }

    /// The projections whose topics the topology declares (a deployment may leave domains out).
    public static func runnable(in topology: Topology) -> (run: [any Projection], skipped: [String]) {
        var run: [any Projection] = []
        var skipped: [String] = []
        for p in all() {
            if p.topics.allSatisfy({ topology.topics[$0] != nil }) { run.append(p) } else { skipped.append(p.name) }
        }
        return (run, skipped)
    }

    /// The named projections, or an error naming the unknown one.
    public static func named(_ names: [String]) throws -> [any Projection] {
        let known = all()
        return try names.map { name in
            guard let p = known.first(where: { $0.name == name }) else {
                throw StrataError(.notFound, "unknown projection '\(name)' (known: \(known.map(\.name).sorted().joined(separator: ", ")))")
            }
            return p
        }
    }
}
