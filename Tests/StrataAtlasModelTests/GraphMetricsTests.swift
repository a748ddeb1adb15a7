import Foundation
import StrataSeededRandom
import Testing
@testable import StrataAtlasModel

@Suite("GraphMetricsTests")
struct GraphMetricsTests {
    // MARK: - Helpers

    /// A repo in a project with the given status.
    static func repo(_ id: String, project: String, status: ProjectActivityStatus, in graph: inout DependencyGraph) {
        graph.addNode(id, kind: .repo)
        graph.setProject(id, project)
        graph.setProjectStatus(project, status)
    }

    static func edges(_ pairs: [(String, String)]) -> [DependencyEdge] {
        pairs.map { DependencyEdge(from: $0.0, to: $0.1) }
    }

    /// The engine's maintained scores must equal the oracle's, and so must a fresh full build's.
    static func expectConsistent(_ engine: CriticalityEngine, _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        let oracle = engine.fullRecompute()
        #expect(engine.scores == oracle, "\(context)", sourceLocation: sourceLocation)
        #expect(engine.projectScores == engine.graph.referenceProjectCriticality(nodeScores: oracle), "\(context)", sourceLocation: sourceLocation)
    }

    // MARK: - Hand-built graphs

    @Test func chain() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .live, in: &graph)
        graph.addEdges(Self.edges([("A", "B"), ("B", "C")]))
        let engine = CriticalityEngine(graph: graph)
        #expect(engine.scores == ["A": 0, "B": 1, "C": 2])
        #expect(engine.fullRecompute() == ["A": 0, "B": 1, "C": 2])
        #expect(engine.graph.kind(of: "B") == .externalPackage)
    }

    @Test func diamond() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .inDev, in: &graph)
        graph.addEdges(Self.edges([("A", "B"), ("A", "C"), ("B", "D"), ("C", "D"), ("A", "B")]))
        let engine = CriticalityEngine(graph: graph)
        #expect(engine.scores == ["A": 0, "B": 1, "C": 1, "D": 3])
        #expect(engine.graph.edgeCount == 4)
        Self.expectConsistent(engine)
    }

    @Test func cycle() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .live, in: &graph)
        graph.addEdges(Self.edges([("A", "B"), ("B", "C"), ("C", "B"), ("C", "C")]))
        let engine = CriticalityEngine(graph: graph)
        #expect(engine.scores == ["A": 0, "B": 2, "C": 2])
        #expect(engine.graph.dependencies(of: "C") == ["B"])  // the self-loop is ignored
        Self.expectConsistent(engine)
    }

    @Test func repoWithADependentDoesNotSeed() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .live, in: &graph)
        Self.repo("B", project: "Q", status: .live, in: &graph)
        graph.addEdges(Self.edges([("A", "B"), ("B", "C")]))
        var engine = CriticalityEngine(graph: graph)
        #expect(!engine.graph.isSeed("B"))
        #expect(engine.scores == ["A": 0, "B": 1, "C": 2])
        #expect(engine.projectScore(of: "P") == 0)
        #expect(engine.projectScore(of: "Q") == 1)

        // A's project goes quiet: A stops seeding, and B still does not seed (A depends on it).
        let changes = engine.setProjectStatus("P", .discontinued)
        #expect(engine.scores == ["A": 0, "B": 0, "C": 0])
        #expect(changes.nodeScores == ["B": 0, "C": 0])
        #expect(changes.projectScores == ["Q": 0])
        // Drop the edge A -> B: B now has no dependents and seeds.
        let dropped = engine.removeEdges(Self.edges([("A", "B")]))
        #expect(engine.isActive("B") && !engine.isActive("A"))
        #expect(engine.scores == ["A": 0, "B": 0, "C": 1])
        #expect(dropped.nodeScores == ["C": 1])
        Self.expectConsistent(engine)
    }

    @Test func discontinuedRepoCountsWhenReachable() {
        var graph = DependencyGraph()
        Self.repo("A", project: "Live", status: .live, in: &graph)
        Self.repo("D", project: "Dead", status: .discontinued, in: &graph)
        Self.repo("X", project: "Dead", status: .discontinued, in: &graph)
        // A -> D -> lib; X (discontinued, nothing depends on it) -> lib2.
        graph.addEdges(Self.edges([("A", "D"), ("D", "lib"), ("X", "lib2")]))
        let engine = CriticalityEngine(graph: graph)
        #expect(engine.scores == ["A": 0, "D": 1, "lib": 2, "X": 0, "lib2": 0])
        #expect(!engine.isActive("X") && !engine.isActive("lib2"))
        #expect(engine.projectScore(of: "Dead") == 1)
        #expect(engine.projectScore(of: "Live") == 0)
        Self.expectConsistent(engine)
    }

    @Test func inactiveDependentsDoNotCount() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .live, in: &graph)
        Self.repo("Z", project: "Q", status: .nonResponsive, in: &graph)
        graph.addEdges(Self.edges([("A", "lib"), ("Z", "lib")]))
        let engine = CriticalityEngine(graph: graph)
        // Z reaches lib but is not in the active subgraph.
        #expect(engine.score(of: "lib") == 1)
        Self.expectConsistent(engine)
    }

    @Test func externalPackageNeverSeeds() {
        var graph = DependencyGraph()
        graph.addEdges(Self.edges([("pkg", "dep")]))
        graph.setProject("pkg", "P")
        graph.setProjectStatus("P", .live)
        var engine = CriticalityEngine(graph: graph)
        #expect(!engine.graph.isSeed("pkg"))
        #expect(engine.scores == ["pkg": 0, "dep": 0])
        #expect(engine.projectScore(of: "P") == nil)  // a package is not a repo of the project
        // Once it is known to be a repo, it seeds.
        let changes = engine.setKind("pkg", .repo)
        #expect(changes.nodeScores == ["dep": 1])
        #expect(changes.projectScores == ["P": 0])
        #expect(engine.projectScore(of: "P") == 0)
        // And back.
        let back = engine.setKind("pkg", .externalPackage)
        #expect(back.nodeScores == ["dep": 0])
        #expect(back.projectsWithoutRepos == ["P"])
        #expect(engine.projectScore(of: "P") == nil)
        Self.expectConsistent(engine)
    }

    @Test func repoWithoutProjectOrWithUnknownStatusNeverSeeds() {
        var graph = DependencyGraph()
        graph.addNode("R", kind: .repo)
        graph.addEdges(Self.edges([("R", "dep")]))
        var engine = CriticalityEngine(graph: graph)
        #expect(engine.score(of: "dep") == 0)
        engine.setProject("R", "P")  // status unknown
        #expect(engine.score(of: "dep") == 0)
        let changes = engine.setProjectStatus("P", .live)
        #expect(changes.nodeScores == ["dep": 1])
        #expect(engine.graph.status(ofProject: "P") == .live)
        #expect(ProjectActivityStatus(parsing: "in-dev") == .inDev)
        #expect(ProjectActivityStatus(parsing: "Non-Responsive") == .nonResponsive)
        #expect(ProjectActivityStatus(parsing: "abandoned") == .unknown)
    }

    @Test func projectSums() {
        var graph = DependencyGraph()
        Self.repo("A", project: "P", status: .live, in: &graph)
        Self.repo("B", project: "Q", status: .live, in: &graph)
        Self.repo("C", project: "Q", status: .live, in: &graph)
        graph.setProjectStatus("Empty", .live)
        // A -> B -> C -> lib; B and C are repos of Q depended upon, so they do not seed.
        graph.addEdges(Self.edges([("A", "B"), ("B", "C"), ("C", "lib")]))
        var engine = CriticalityEngine(graph: graph)
        #expect(engine.scores == ["A": 0, "B": 1, "C": 2, "lib": 3])
        #expect(engine.projectScores == ["P": 0, "Q": 3])
        #expect(engine.projectScore(of: "Empty") == nil)
        #expect(engine.projectScore(of: "Nope") == nil)

        // Moving C to P moves its score with it; C's own score does not change.
        let moved = engine.setProject("C", "P")
        #expect(moved.nodeScores.isEmpty)
        #expect(moved.projectScores == ["P": 2, "Q": 1])
        // Removing Q's last repo makes Q's criticality nil.
        let emptied = engine.setProject("B", nil)
        #expect(emptied.projectsWithoutRepos == ["Q"])
        #expect(engine.projectScores == ["P": 2])
        Self.expectConsistent(engine)
    }

    @Test func incrementalChangesReportOnlyWhatChanged() {
        var engine = CriticalityEngine()
        engine.addNode("A", kind: .repo)
        engine.setProject("A", "P")
        var changes = engine.setProjectStatus("P", .live)
        #expect(changes.isEmpty)  // A seeds but has no dependencies
        changes = engine.setOutEdges(of: "A", to: ["B", "C"])
        #expect(changes.nodeScores == ["B": 1, "C": 1])
        #expect(changes.projectScores.isEmpty)  // A's own score stays 0
        changes = engine.setOutEdges(of: "A", to: ["B", "C"])
        #expect(changes.isEmpty && changes.affectedNodeCount == 0)
        changes = engine.addEdges(Self.edges([("B", "C")]))
        #expect(changes.nodeScores == ["C": 2])
        changes = engine.setOutEdges(of: "A", to: ["B"])  // C still reached through B
        #expect(changes.isEmpty)
        changes = engine.setOutEdges(of: "A", to: [])
        #expect(changes.nodeScores == ["B": 0, "C": 0])
        changes = engine.apply([.setOutEdges(of: "A", to: ["B"]), .setOutEdges(of: "A", to: [])])
        #expect(changes.isEmpty)
        Self.expectConsistent(engine)
    }

    // MARK: - Pony factor

    @Test func ponyFactor() {
        #expect(PonyFactor.compute([10]) == 1)
        #expect(PonyFactor.compute([5, 5]) == 1)
        #expect(PonyFactor.compute([3, 3, 3]) == 2)
        #expect(PonyFactor.compute([6, 1, 1, 1, 1]) == 1)
        #expect(PonyFactor.compute([]) == 0)
        #expect(PonyFactor.compute([0, 0]) == 0)
        #expect(PonyFactor.compute([4, 3, 2, 1]) == 2)
        #expect(PonyFactor.compute([1, 2, 3, 4]) == 2)
        #expect(PonyFactor.compute([-3, 0, 2]) == 1)
        #expect(PonyFactor.compute(commitsByContributor: ["a": 1, "b": 1, "c": 1, "d": 1]) == 2)
    }

    // MARK: - Property test

    /// Random event sequences over ~60 nodes (scale 1; 75 by the end, so the bitset rows widen past one
    /// word mid-run) or ~300 (scale 5: rows of several words, where updates recompute only the words that
    /// can change); after every step the incrementally maintained scores and project sums must equal the
    /// from-scratch oracle's, and so must the scores accumulated from the reported changes.
    @Test(arguments: [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 5), (10, 5), (11, 5)] as [(UInt64, Int)])
    func incrementalMatchesFullRecompute(seed: UInt64, scale: Int) {
        var rng = SeededGenerator(seed: seed)
        let steps = scale == 1 ? 400 : 250
        let repos = (0..<(25 * scale)).map { "repo\($0)" }
        let packages = (0..<(35 * scale)).map { "pkg\($0)" }
        let all = repos + packages
        let projects = (0..<(6 * scale)).map { "proj\($0)" }
        // Seeding statuses more often than not, so the active subgraph is rarely empty.
        let statuses: [ProjectActivityStatus] = [.live, .live, .inDev, .discontinued, .nonResponsive, .unknown]
        var engine = CriticalityEngine()
        var setup: [GraphMutation] = []
        for repo in repos {
            setup.append(.setKind(repo, .repo))
            setup.append(.setProject(repo, project: projects.randomElement(using: &rng)!))
        }
        for project in projects { setup.append(.setProjectStatus(project, statuses.randomElement(using: &rng)!)) }

        // Odd seeds keep package -> package edges mostly "downhill" (pkgI -> pkgJ, J > I), so the graph is
        // nearly acyclic with long chains; even seeds draw freely, which soon gives large cycles.
        let layered = seed % 2 == 1
        // 15 (per scale) more packages appear half-way through: at scale 1 the node count passes 64, so
        // the bitset rows widen.
        var packageCount = 35 * scale
        func package(after source: String?, _ rng: inout SeededGenerator) -> String {
            if layered, let source, source.hasPrefix("pkg"), let i = Int(source.dropFirst(3)),
               i + 1 < packageCount, Int.random(in: 0..<20, using: &rng) != 0 {
                return "pkg\(Int.random(in: (i + 1)..<packageCount, using: &rng))"
            }
            return "pkg\(Int.random(in: 0..<packageCount, using: &rng))"
        }
        func randomTargets(of source: String?, upTo maxCount: Int = 5, _ rng: inout SeededGenerator) -> Set<String> {
            let count = Int.random(in: 0...maxCount, using: &rng)
            // Mostly packages, sometimes repos (repo -> repo dependencies), sometimes self.
            return Set((0..<count).map { _ in
                Double.random(in: 0..<1, using: &rng) < 0.85 ? package(after: source, &rng) : all.randomElement(using: &rng)!
            })
        }

        func randomMutation(_ rng: inout SeededGenerator) -> GraphMutation {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let repo = repos.randomElement(using: &rng)!
                return .setOutEdges(of: repo, to: randomTargets(of: repo, &rng))
            case 30..<50:
                let package = package(after: nil, &rng)
                return .setOutEdges(of: package, to: randomTargets(of: package, &rng))
            case 50..<58:
                let edges = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                    let from = Int.random(in: 0..<2, using: &rng) == 0 ? repos.randomElement(using: &rng)! : package(after: nil, &rng)
                    return DependencyEdge(from: from, to: randomTargets(of: from, &rng).first ?? "pkg0")
                }
                return .addEdges(edges)
            case 58..<66:
                // Remove existing edges when there are some.
                let existing = Array(engine.graph.edges)
                guard !existing.isEmpty else { return .addEdges([]) }
                let edges = (0..<Int.random(in: 1...3, using: &rng)).map { _ in existing.randomElement(using: &rng)! }
                return .removeEdges(edges)
            case 66..<76:
                let node = all.randomElement(using: &rng)!
                return .setKind(node, Double.random(in: 0..<1, using: &rng) < 0.8 ? .repo : .externalPackage)
            case 76..<88:
                let node = Double.random(in: 0..<1, using: &rng) < 0.8 ? repos.randomElement(using: &rng)! : all.randomElement(using: &rng)!
                return .setProject(node, project: Double.random(in: 0..<1, using: &rng) < 0.85 ? projects.randomElement(using: &rng)! : nil)
            default:
                return .setProjectStatus(projects.randomElement(using: &rng)!, statuses.randomElement(using: &rng)!)
            }
        }

        // Start from a populated graph: every repo and package gets some dependencies, in one batch.
        for node in repos + packages { setup.append(.setOutEdges(of: node, to: randomTargets(of: node, upTo: 2, &rng))) }
        let initial = engine.apply(setup)
        // Accumulated from the reports; must track the engine too.
        var reportedScores = initial.nodeScores
        var reportedProjects = initial.projectScores
        #expect(engine.scores == engine.fullRecompute())

        var maxScore = 0
        var quietSteps = 0
        var localSteps = 0
        for step in 0..<steps {
            if step == steps / 2 { packageCount = 50 * scale }
            let changes: CriticalityChanges
            if Int.random(in: 0..<10, using: &rng) == 0 {
                let batch = (0..<Int.random(in: 2...6, using: &rng)).map { _ in randomMutation(&rng) }
                changes = engine.apply(batch)
            } else {
                changes = engine.apply([randomMutation(&rng)])
            }
            reportedScores.merge(changes.nodeScores) { $1 }
            reportedProjects.merge(changes.projectScores) { $1 }
            for project in changes.projectsWithoutRepos { reportedProjects[project] = nil }

            let oracle = engine.fullRecompute()
            let oracleProjects = engine.graph.referenceProjectCriticality(nodeScores: oracle)
            #expect(engine.scores == oracle, "seed \(seed) step \(step)")
            #expect(engine.projectScores == oracleProjects, "seed \(seed) step \(step)")
            // The reported deltas, applied to an initially empty view, reproduce the non-zero scores.
            #expect(reportedScores.filter { $0.value != 0 } == oracle.filter { $0.value != 0 }, "seed \(seed) step \(step)")
            #expect(reportedProjects == oracleProjects, "seed \(seed) step \(step)")
            if engine.scores != oracle { break }
            maxScore = max(maxScore, oracle.values.max() ?? 0)
            if changes.nodeScores.isEmpty { quietSteps += 1 }
            if changes.affectedNodeCount > 0 && changes.affectedNodeCount < engine.graph.nodeCount / 2 { localSteps += 1 }
        }
        // The sequence must exercise something: non-trivial scores, and steps that changed scores.
        #expect(maxScore >= 3, "seed \(seed): max score \(maxScore)")
        print("seed \(seed): \(engine.graph.nodeCount) nodes, \(engine.graph.edgeCount) edges, max score \(maxScore); of \(steps) steps \(quietSteps) changed no score, \(localSteps) touched under half the graph")
        #expect(engine.graph.nodeCount > 64)
        #expect(localSteps > 0, "seed \(seed): some updates should stay local")
        #expect(quietSteps < steps * 3 / 4, "seed \(seed): \(quietSteps) steps changed no score")
        // A fresh fast build over the final graph agrees as well.
        let rebuilt = CriticalityEngine(graph: engine.graph)
        #expect(rebuilt.scores == engine.scores)
        #expect(rebuilt.projectScores == engine.projectScores)
        var copy = engine
        #expect(copy.rebuild().isEmpty)
    }

    // MARK: - Determinism

    @Test func sameFinalStateThroughDifferentOrdersGivesSameScores() {
        var rng = SeededGenerator(seed: 42)
        let repos = (0..<30).map { "repo\($0)" }
        let packages = (0..<50).map { "pkg\($0)" }
        let projects = (0..<8).map { "proj\($0)" }
        // The final state: one statement per fact, so any order reaches the same state.
        var final: [GraphMutation] = []
        for repo in repos {
            final.append(.setKind(repo, .repo))
            final.append(.setProject(repo, project: projects.randomElement(using: &rng)!))
        }
        for project in projects {
            final.append(.setProjectStatus(project, ProjectActivityStatus.allCases.randomElement(using: &rng)!))
        }
        for node in repos + packages {
            // Mostly packages, so that many repos have no dependents and seed.
            let targets = Set((0..<Int.random(in: 0...4, using: &rng)).map { _ in
                Int.random(in: 0..<10, using: &rng) == 0 ? repos.randomElement(using: &rng)! : packages.randomElement(using: &rng)!
            })
            final.append(.setOutEdges(of: node, to: targets))
        }

        // Order 1: as listed, one mutation at a time.
        var first = CriticalityEngine()
        for mutation in final { first.apply([mutation]) }

        // Order 2: noise first (edges, kinds, projects and statuses that get overwritten), then the facts
        // shuffled, in batches of varying size.
        var second = CriticalityEngine()
        for _ in 0..<100 {
            let node = (repos + packages).randomElement(using: &rng)!
            second.setOutEdges(of: node, to: Set((0..<3).map { _ in packages.randomElement(using: &rng)! }))
            second.setProjectStatus(projects.randomElement(using: &rng)!, .live)
            second.setProject(repos.randomElement(using: &rng)!, projects.randomElement(using: &rng)!)
        }
        for node in packages { second.setKind(node, .repo) }
        for node in packages { second.setKind(node, .externalPackage) }
        var shuffled = final.shuffled(using: &rng)
        while !shuffled.isEmpty {
            let size = min(shuffled.count, Int.random(in: 1...7, using: &rng))
            second.apply(shuffled.prefix(size))
            shuffled.removeFirst(size)
        }

        #expect(first.graph.edges == second.graph.edges)
        #expect(first.scores.filter { $0.value != 0 } == second.scores.filter { $0.value != 0 })
        #expect(first.scores.count == second.scores.count)
        #expect(first.projectScores == second.projectScores)
        #expect(first.scores == first.fullRecompute())
        #expect(!first.scores.values.allSatisfy { $0 == 0 })
    }

    // MARK: - Performance (prints only)

    /// 10,000 nodes, about 100,000 edges: 2,000 repos in 500 projects of mixed status depending on 8,000
    /// packages in 8 layers (popular packages more often), some repo -> repo edges, and a few back edges
    /// that close cycles. Prints the full build time and p50/p99 of `setOutEdges` of one repo.
    @Test func performance() {
        var rng = SeededGenerator(seed: 7)
        let repoCount = 2_000
        let packageCount = 8_000
        let layers = 8
        let perLayer = packageCount / layers
        let targetEdges = 100_000
        let repos = (0..<repoCount).map { "repo\($0)" }
        let packages = (0..<packageCount).map { "pkg\($0)" }
        let statuses: [ProjectActivityStatus] = [.live, .live, .live, .live, .inDev, .inDev, .discontinued, .discontinued, .nonResponsive, .unknown]

        /// A package in `layer`, skewed towards low indexes (popular packages).
        func package(inLayer layer: Int, _ rng: inout SeededGenerator) -> Int {
            let u = Double.random(in: 0..<1, using: &rng)
            return layer * perLayer + Int(u * u * u * Double(perLayer))
        }
        func repoDependencies(_ rng: inout SeededGenerator) -> Set<String> {
            var result = Set<String>()
            let count = Int.random(in: 8...22, using: &rng)
            while result.count < count {
                let layer = min(layers - 1, Int(Double.random(in: 0..<1, using: &rng) * Double.random(in: 0..<1, using: &rng) * Double(layers)))
                result.insert(packages[package(inLayer: layer, &rng)])
            }
            if Int.random(in: 0..<20, using: &rng) == 0 { result.insert(repos.randomElement(using: &rng)!) }
            return result
        }

        var graph = DependencyGraph()
        for (i, repo) in repos.enumerated() {
            graph.addNode(repo, kind: .repo)
            graph.setProject(repo, "proj\(i / 4)")
        }
        for p in 0..<(repoCount / 4) { graph.setProjectStatus("proj\(p)", statuses.randomElement(using: &rng)!) }
        for repo in repos { graph.setOutEdges(of: repo, to: repoDependencies(&rng)) }
        for package in packages { graph.addNode(package, kind: .externalPackage) }
        var packageEdges: [DependencyEdge] = []
        var edgeCount = graph.edgeCount
        while edgeCount + packageEdges.count < targetEdges {
            let from = Int.random(in: 0..<packageCount, using: &rng)
            let layer = from / perLayer
            let to: Int
            if Int.random(in: 0..<200, using: &rng) == 0 || layer == layers - 1 {
                to = package(inLayer: Int.random(in: 0...layer, using: &rng), &rng)  // same or earlier layer: may close a cycle
            } else {
                to = package(inLayer: Int.random(in: (layer + 1)..<layers, using: &rng), &rng)
            }
            packageEdges.append(DependencyEdge(from: packages[from], to: packages[to]))
            // Flush in chunks (duplicates are dropped, so count after each flush).
            if packageEdges.count == 5_000 || edgeCount + packageEdges.count >= targetEdges {
                graph.addEdges(packageEdges)
                packageEdges.removeAll(keepingCapacity: true)
                edgeCount = graph.edgeCount
            }
        }

        let clock = ContinuousClock()
        var engine = CriticalityEngine()
        let buildTime = clock.measure { engine = CriticalityEngine(graph: graph) }
        let (initialNodes, initialEdges, initialActive) = (graph.nodeCount, graph.edgeCount, engine.activeNodeCount)
        #expect(initialNodes == 10_000 && initialEdges >= 100_000)

        #if DEBUG
        let changeCount = 60
        #else
        let changeCount = 400
        #endif
        var durations: [Duration] = []
        var zoneSizes: [Int] = []
        var changedCounts: [Int] = []
        for _ in 0..<changeCount {
            let repo = repos.randomElement(using: &rng)!
            let dependencies = repoDependencies(&rng)
            var changes = CriticalityChanges()
            durations.append(clock.measure { changes = engine.setOutEdges(of: repo, to: dependencies) })
            zoneSizes.append(changes.affectedNodeCount)
            changedCounts.append(changes.nodeScores.count)
        }
        durations.sort()
        zoneSizes.sort()
        changedCounts.sort()
        func ms(_ d: Duration) -> String {
            let c = d.components
            return String(format: "%.3f ms", Double(c.seconds) * 1_000 + Double(c.attoseconds) / 1e15)
        }
        #if DEBUG
        let mode = "debug"
        #else
        let mode = "release"
        #endif
        print("""
            GraphMetrics performance (\(mode)): \(initialNodes) nodes, \(initialEdges) edges, \
            \(initialActive) active, matrix \(engine.bitsetMemoryBytes / 1_000_000) MB
              full build: \(ms(buildTime))
              setOutEdges of one repo over \(changeCount) changes: p50 \(ms(durations[changeCount / 2])), \
            p99 \(ms(durations[changeCount * 99 / 100])), max \(ms(durations.last!))
              affected zone p50 \(zoneSizes[changeCount / 2]) nodes, max \(zoneSizes.last!); \
            scores changed p50 \(changedCounts[changeCount / 2]), max \(changedCounts.last!)
            """)

        // The maintained scores still match a fresh full build (same fast path, different history).
        let rebuilt = CriticalityEngine(graph: engine.graph)
        #expect(rebuilt.scores == engine.scores)
        #expect(rebuilt.projectScores == engine.projectScores)
    }
}
