// Incrementally maintained criticality (PG Atlas's metric) over a DependencyGraph.
import Foundation

/// Maintains the criticality of every node and project of a `DependencyGraph` under mutations.
///
/// ## The metric
/// Seeds are repos of `live`/`in-dev` projects that nothing depends on. The active subgraph is every node
/// reachable from a seed (following dependent -> dependency edges). The criticality of an active node `v` is
/// the number of active nodes `u != v` that reach `v`; inactive nodes score 0. A project's criticality is the
/// sum of its repos' scores (nil when it has no repos).
///
/// ## Representation
/// For every node `v` the engine keeps `R(v)`, the set of nodes that reach `v` *including `v` itself*, as a
/// row of a bit matrix, plus the set of active nodes as one bit row. Then, for active `v`,
/// `score(v) = popcount(R(v) & active) - 1`. Every node of a strongly connected component has the same `R`.
/// `R` satisfies `R(v) = {v} ∪ ⋃ R(p)` over the parents (dependents) `p` of `v`, so it is computed component
/// by component in topological order, dependents first: for a component `S`,
/// `R(S) = S ∪ ⋃ R(p)` over edges `p -> s` with `s ∈ S`, `p ∉ S`. Likewise a component is active iff it holds
/// a seed or has an active parent outside it.
///
/// Memory: `n * ceil(n / 64) * 8` bytes, about `n² / 8` (12.5 MB for 10,000 nodes, 50 MB for 20,000,
/// 312 MB for 50,000), so this representation is meant for graphs up to a few tens of thousands of nodes.
/// Past that, keep per-component rows only, or switch to a sampling estimate.
///
/// ## Incremental updates, and why they are exact
/// A mutation (or batch) is reduced to a set `C` of changed nodes: the sources of added or removed edges,
/// and the nodes whose seed flag changed (a kind, project, project status or in-degree change that flipped
/// it). Scores depend only on the edges and the seed flags, so nothing else can matter. The affected zone is
/// `Z = reach_old(C) ∪ reach_new(C)` (nodes reachable from `C`, `C` included, in the old or the new graph).
///
/// *Claim: for every `v ∉ Z`, `R(v)`, `active(v)` and `score(v)` are unchanged.* Take `v ∉ Z` and any node
/// `w` that reaches `v` in either graph (including `w = v`). Then `w ∉ Z` (otherwise some `c ∈ C` reaches
/// `w`, hence `v`, in that graph). (1) Every edge on a path ending at `v` has a source that reaches `v`, so a
/// source outside `C` (one in `C` would put `v` in `Z`), and edges whose source is outside `C` did not change;
/// so every old path into `v` is a new path and vice versa: `R_old(v) = R_new(v)`, and likewise for every
/// such `w`. (2) `seed(w)` is unchanged for every such `w`, since `w ∉ C`. (The engine re-evaluates the seed
/// flag of every node whose inputs may have changed, including the targets of changed edges, whose in-degree
/// moved, so every flip is in `C`.) (3) `active(w)` means
/// `R(w)` holds a seed; by (1) and (2) that is unchanged. (4) `score(v) = [active(v)] · |{u ∈ R(v) \ {v} :
/// active(u)}|` uses only `R(v)` and the activity of its members, all unchanged. ∎
///
/// `Z` is computed as the nodes reachable *in the new graph* from `C` plus the targets of removed edges:
/// an old path from `c ∈ C` only uses unchanged edges until it next meets a node of `C`, so every old-graph
/// node it visits is reachable in the new graph from `C` or from an old successor of a `C` node (and the old
/// successors that are not new successors are exactly the removed targets); conversely, nodes reachable in
/// the new graph from a removed target are reachable from `C` in the old graph or from `C` in the new one by
/// the same argument. `Z` is closed under (new) successors, so parents of zone nodes that lie outside `Z`
/// keep valid rows and activity, and zone nodes are processed in topological order of the zone's SCCs
/// (Tarjan, iterative) reading those outside rows.
///
/// Inside the zone three cut-offs keep the cost close to the zone's size rather than `edges × n / 64`:
/// - work is pushed: a component is revisited only when a member gained or lost an in-edge, flipped its
///   seed flag, or has a parent whose row changed or whose activity flipped (otherwise both its row and its
///   activity are given by the same formulas over the same unchanged parents, see `propagate`);
/// - rows are recomputed only on the words holding bits that can change at all, the bits of
///   `⋃ R_old(c)` over the sources `c` of changed edges (see `changeableWords`): for a repo that nothing
///   depends on, its own bit, one word; and the scan over a node's parents stops once all those bits are set;
/// - a score is recounted with a popcount only when its row changed or its activity flipped; otherwise it
///   is adjusted by the few nodes whose activity flipped.
/// Finding the zone (BFS) and its SCCs (Tarjan) stay linear in the zone's edges.
///
/// A value type, like `DependencyGraph`: `Sendable` without locks; keep it in the actor or projection that
/// owns it. Copying it copies the matrix lazily (copy-on-write) on the next mutation of either copy.
public struct CriticalityEngine: Sendable {
    public private(set) var graph: DependencyGraph

    /// Row `v`: the nodes that reach `v`, `v` included.
    var reach = BitMatrix()
    /// The active nodes as one bit row (`reach.stride` words).
    var activeWords: [UInt64] = []
    var active: [Bool] = []
    var seed: [Bool] = []
    var score: [Int] = []
    var projectSum: [Int] = []
    var projectHasRepos: [Bool] = []
    var scratch = Scratch()

    /// Builds the engine over `graph` with a fast full build (the same SCC/bitset pass over the whole graph).
    public init(graph: DependencyGraph = DependencyGraph()) {
        self.graph = graph
        _ = update(journal: GraphChangeJournal(), forceAll: true)
    }

    // MARK: - Reading

    /// Criticality of a node (0 for an unknown or inactive node).
    public func score(of node: String) -> Int {
        graph.indexByID[node].map { score[$0] } ?? 0
    }

    /// Criticality of every node.
    public var scores: [String: Int] {
        var result = [String: Int](minimumCapacity: graph.nodeCount)
        for (v, id) in graph.ids.enumerated() { result[id] = score[v] }
        return result
    }

    /// Whether the node is in the active subgraph.
    public func isActive(_ node: String) -> Bool {
        graph.indexByID[node].map { active[$0] } ?? false
    }

    public var activeNodeCount: Int { active.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Sum of the project's repos' scores; nil for an unknown project or one without repos.
    public func projectScore(of project: String) -> Int? {
        guard let p = graph.projectIndexByID[project], projectHasRepos[p] else { return nil }
        return projectSum[p]
    }

    /// Criticality of every project that has at least one repo.
    public var projectScores: [String: Int] {
        var result: [String: Int] = [:]
        for (p, id) in graph.projectIDs.enumerated() where projectHasRepos[p] { result[id] = projectSum[p] }
        return result
    }

    /// Bytes held by the reachability matrix (about nodes² / 8).
    public var bitsetMemoryBytes: Int { reach.byteCount }

    /// Every node's criticality recomputed from scratch by the independent reference algorithm
    /// (`DependencyGraph.referenceCriticality()`: BFS from the seeds, then a BFS over each active node's
    /// dependents). O(V · E): a test oracle.
    public func fullRecompute() -> [String: Int] {
        graph.referenceCriticality()
    }

    /// Project criticality from `fullRecompute()`.
    public func fullRecomputeProjectScores() -> [String: Int] {
        graph.referenceProjectCriticality()
    }

    // MARK: - Mutations

    @discardableResult
    public mutating func addNode(_ node: String, kind: GraphNodeKind) -> CriticalityChanges {
        apply(CollectionOfOne(.addNode(node, kind: kind)))
    }

    /// Replaces the node's dependencies, creating unknown nodes as external packages.
    @discardableResult
    public mutating func setOutEdges(of node: String, to dependencies: Set<String>) -> CriticalityChanges {
        apply(CollectionOfOne(.setOutEdges(of: node, to: dependencies)))
    }

    @discardableResult
    public mutating func addEdges(_ edges: [DependencyEdge]) -> CriticalityChanges {
        apply(CollectionOfOne(.addEdges(edges)))
    }

    @discardableResult
    public mutating func removeEdges(_ edges: [DependencyEdge]) -> CriticalityChanges {
        apply(CollectionOfOne(.removeEdges(edges)))
    }

    @discardableResult
    public mutating func setKind(_ node: String, _ kind: GraphNodeKind) -> CriticalityChanges {
        apply(CollectionOfOne(.setKind(node, kind)))
    }

    @discardableResult
    public mutating func setProject(_ node: String, _ project: String?) -> CriticalityChanges {
        apply(CollectionOfOne(.setProject(node, project: project)))
    }

    @discardableResult
    public mutating func setProjectStatus(_ project: String, _ status: ProjectActivityStatus) -> CriticalityChanges {
        apply(CollectionOfOne(.setProjectStatus(project, status)))
    }

    /// Applies a batch of mutations, then updates the scores once. The result compares the state before
    /// the batch with the state after it (a score that changes and changes back is not reported).
    @discardableResult
    public mutating func apply(_ mutations: some Sequence<GraphMutation>) -> CriticalityChanges {
        var journal = GraphChangeJournal()
        for mutation in mutations { graph.apply(mutation, journal: &journal) }
        return update(journal: journal, forceAll: false)
    }

    /// Recomputes everything with the fast full build (the start-up path) and reports what differed.
    @discardableResult
    public mutating func rebuild() -> CriticalityChanges {
        update(journal: GraphChangeJournal(), forceAll: true)
    }

    // MARK: - The update

    /// Per-update scratch arrays, indexed by node; entries are valid only when their stamp equals `epoch`,
    /// so nothing is cleared between updates.
    struct Scratch: Sendable {
        var epoch: UInt32 = 0
        var zoneStamp: [UInt32] = []
        var rowChangedStamp: [UInt32] = []
        /// Set on a node whose parent row changed or whose in-edges changed: its row must be recomputed.
        var rowDirtyStamp: [UInt32] = []
        /// Set on a node whose parent flipped activity, whose in-edges changed or whose seed flag flipped.
        var activityDirtyStamp: [UInt32] = []
        var flippedStamp: [UInt32] = []
        var visitStamp: [UInt32] = []
        var component: [Int32] = []
        var tarjanIndex: [Int32] = []
        var lowLink: [Int32] = []
        var onStack: [Bool] = []

        mutating func grow(to n: Int) {
            let extra = n - zoneStamp.count
            guard extra > 0 else { return }
            zoneStamp.append(contentsOf: repeatElement(0, count: extra))
            rowChangedStamp.append(contentsOf: repeatElement(0, count: extra))
            rowDirtyStamp.append(contentsOf: repeatElement(0, count: extra))
            activityDirtyStamp.append(contentsOf: repeatElement(0, count: extra))
            flippedStamp.append(contentsOf: repeatElement(0, count: extra))
            visitStamp.append(contentsOf: repeatElement(0, count: extra))
            component.append(contentsOf: repeatElement(0, count: extra))
            tarjanIndex.append(contentsOf: repeatElement(0, count: extra))
            lowLink.append(contentsOf: repeatElement(0, count: extra))
            onStack.append(contentsOf: repeatElement(false, count: extra))
        }

        mutating func nextEpoch() {
            if epoch == UInt32.max {
                epoch = 0
                for i in zoneStamp.indices {
                    zoneStamp[i] = 0
                    rowChangedStamp[i] = 0
                    rowDirtyStamp[i] = 0
                    activityDirtyStamp[i] = 0
                    flippedStamp[i] = 0
                    visitStamp[i] = 0
                }
            }
            epoch += 1
        }
    }

    /// Makes room for nodes and projects the graph created since the last update. A new node starts as an
    /// isolated, non-seed node (`R = {v}`, inactive, score 0), which is exactly its state in the old graph,
    /// so the incremental argument covers it unchanged.
    private mutating func growStorage() {
        let n = graph.nodeCount
        let old = score.count
        if n > old {
            reach.grow(toRows: n)
            for v in old..<n { reach.insert(row: v, column: v) }
            if activeWords.count < reach.stride {
                activeWords.append(contentsOf: repeatElement(0, count: reach.stride - activeWords.count))
            }
            active.append(contentsOf: repeatElement(false, count: n - old))
            seed.append(contentsOf: repeatElement(false, count: n - old))
            score.append(contentsOf: repeatElement(0, count: n - old))
            scratch.grow(to: n)
        }
        let projects = graph.projectIDs.count
        if projects > projectSum.count {
            projectSum.append(contentsOf: repeatElement(0, count: projects - projectSum.count))
            projectHasRepos.append(contentsOf: repeatElement(false, count: projects - projectHasRepos.count))
        }
    }

    private mutating func update(journal: GraphChangeJournal, forceAll: Bool) -> CriticalityChanges {
        growStorage()
        scratch.nextEpoch()
        let epoch = scratch.epoch
        let n = graph.nodeCount
        var changes = CriticalityChanges()

        // 1. Seed flags, and the changed set C.
        var roots: [Int] = []
        if forceAll {
            for v in 0..<n { seed[v] = graph.isSeed(index: v) }
        } else {
            for v in journal.seedCandidates {
                let isSeed = graph.isSeed(index: v)
                if isSeed != seed[v] {
                    seed[v] = isSeed
                    roots.append(v)
                    scratch.activityDirtyStamp[v] = epoch
                }
            }
            roots.append(contentsOf: journal.edgeSources)
            roots.append(contentsOf: journal.removedTargets)
            for v in journal.inEdgeChanged {
                scratch.rowDirtyStamp[v] = epoch
                scratch.activityDirtyStamp[v] = epoch
            }
        }

        // 2. The affected zone: everything reachable (new graph) from C and the removed targets.
        var zone: [Int] = []
        if forceAll {
            zone = Array(0..<n)
            for v in 0..<n { scratch.zoneStamp[v] = epoch }
        } else {
            zone.reserveCapacity(roots.count * 4)
            for r in roots where scratch.zoneStamp[r] != epoch {
                scratch.zoneStamp[r] = epoch
                zone.append(r)
            }
            var head = 0
            while head < zone.count {
                let v = zone[head]
                head += 1
                for w in graph.outAdjacency[v] where scratch.zoneStamp[w] != epoch {
                    scratch.zoneStamp[w] = epoch
                    zone.append(w)
                }
            }
        }
        changes.affectedNodeCount = zone.count

        var changedNodes: [Int] = []
        if !zone.isEmpty {
            // 3. SCCs of the zone, then rows and activity in topological order, then scores.
            let components = Self.stronglyConnectedComponents(
                zone: zone, outAdjacency: graph.outAdjacency, scratch: &scratch)
            let changeable = forceAll ? nil : Self.changeableWords(journal: journal, reach: reach)
            let flipped = Self.propagate(
                components: components, words: changeable, inAdjacency: graph.inAdjacency,
                outAdjacency: graph.outAdjacency, seed: seed, forceAll: forceAll,
                reach: &reach, active: &active, activeWords: &activeWords, scratch: &scratch)
            changedNodes = Self.rescore(
                zone: zone, flipped: flipped, forceAll: forceAll, reach: reach, active: active,
                activeWords: activeWords, scratch: scratch, score: &score)
            for v in changedNodes { changes.nodeScores[graph.ids[v]] = score[v] }
        }

        // 4. Project sums: projects whose membership changed, and projects of nodes whose score changed.
        var dirtyProjects = journal.dirtyProjects
        if forceAll {
            dirtyProjects.formUnion(0..<graph.projectIDs.count)
        }
        for v in changedNodes where graph.projectOfNode[v] >= 0 { dirtyProjects.insert(graph.projectOfNode[v]) }
        for p in dirtyProjects {
            var sum = 0
            var hasRepos = false
            for v in graph.projectMembers[p] where graph.kinds[v] == .repo {
                hasRepos = true
                sum += score[v]
            }
            let id = graph.projectIDs[p]
            if hasRepos {
                if !projectHasRepos[p] || projectSum[p] != sum { changes.projectScores[id] = sum }
            } else if projectHasRepos[p] {
                changes.projectsWithoutRepos.insert(id)
            }
            projectSum[p] = hasRepos ? sum : 0
            projectHasRepos[p] = hasRepos
        }
        return changes
    }

    /// The zone's strongly connected components (iterative Tarjan over out-edges; the zone is closed under
    /// successors). Components come out in reverse topological order: a component is emitted after every
    /// component it reaches, so dependencies first. `scratch.component[v]` receives each node's component.
    private static func stronglyConnectedComponents(
        zone: [Int], outAdjacency: [[Int]], scratch: inout Scratch
    ) -> (nodes: [Int], starts: [Int]) {
        let epoch = scratch.epoch
        var nodes: [Int] = []
        nodes.reserveCapacity(zone.count)
        var starts: [Int] = [0]
        var stack: [Int] = []
        var callStack: [(node: Int, edge: Int)] = []
        var counter: Int32 = 0
        var componentCount: Int32 = 0

        // Tarjan's "visit": number the node, push it on both stacks.
        func visit(_ v: Int) {
            scratch.visitStamp[v] = epoch
            scratch.tarjanIndex[v] = counter
            scratch.lowLink[v] = counter
            counter += 1
            stack.append(v)
            scratch.onStack[v] = true
            callStack.append((v, 0))
        }

        for root in zone where scratch.visitStamp[root] != epoch {
            visit(root)

            while let top = callStack.last {
                let v = top.node
                // Scan v's remaining successors until one is unvisited (descend into it) or none are left.
                var descendInto = -1
                var edge = top.edge
                let successors = outAdjacency[v]
                while edge < successors.count {
                    let w = successors[edge]
                    edge += 1
                    if scratch.visitStamp[w] != epoch {
                        descendInto = w
                        break
                    } else if scratch.onStack[w] {
                        scratch.lowLink[v] = min(scratch.lowLink[v], scratch.tarjanIndex[w])
                    }
                }
                if descendInto >= 0 {
                    callStack[callStack.count - 1].edge = edge
                    visit(descendInto)
                } else {
                    callStack.removeLast()
                    if let parent = callStack.last {
                        scratch.lowLink[parent.node] = min(scratch.lowLink[parent.node], scratch.lowLink[v])
                    }
                    if scratch.lowLink[v] == scratch.tarjanIndex[v] {
                        while true {
                            let w = stack.removeLast()
                            scratch.onStack[w] = false
                            scratch.component[w] = componentCount
                            nodes.append(w)
                            if w == v { break }
                        }
                        starts.append(nodes.count)
                        componentCount += 1
                    }
                }
            }
        }
        return (nodes, starts)
    }

    /// The words of a row that can change in this update, or nil for all of them.
    ///
    /// Only bits of nodes in `B = ⋃ R_old(c)` over the sources `c` of changed edges can change in any row:
    /// if `u ∉ B`, an old path from `u` cannot use a changed edge (its prefix would put `u` in `R_old(c)`),
    /// so it is a new path too; and a new path from `u` that used a changed edge `c -> w` would reach `c`
    /// through unchanged edges first, i.e. through an old path, again putting `u` in `R_old(c)`. So rows
    /// are only recomputed on the words where `B` has bits: for a repo that nothing depends on, one word.
    private static func changeableWords(journal: GraphChangeJournal, reach: BitMatrix) -> ChangeableWords? {
        let wordsPerRow = reach.stride
        guard !journal.edgeSources.isEmpty else { return ChangeableWords(indexes: [], masks: []) }
        var mask = [UInt64](repeating: 0, count: wordsPerRow)
        reach.words.withUnsafeBufferPointer { rows in
            for c in journal.edgeSources {
                let row = rows.baseAddress! + c * wordsPerRow
                for i in 0..<wordsPerRow { mask[i] |= row[i] }
            }
        }
        var result = ChangeableWords(indexes: [], masks: [])
        for i in 0..<wordsPerRow where mask[i] != 0 {
            result.indexes.append(i)
            result.masks.append(mask[i])
        }
        // Past a quarter of the row, contiguous full-width loops are cheaper than indexed ones.
        return result.indexes.count * 4 > wordsPerRow ? nil : result
    }

    /// The row words that can change in an update, and in each the bits (of `B`) that can.
    struct ChangeableWords {
        var indexes: [Int]
        var masks: [UInt64]
    }

    /// Recomputes reach rows and activity for the zone, components in topological order (dependents first).
    /// `changeable` are the row words that can change (nil: all). Returns the nodes whose activity flipped.
    ///
    /// Work is pushed, not pulled: a component is looked at only when it is marked dirty, by a changed
    /// in-edge, a flipped seed flag, or a parent whose row changed or whose activity flipped; it then marks
    /// its own children when its row or activity changes. An unmarked component keeps its row and activity:
    /// its members' in-edges are unchanged, so it was strongly connected in the old graph as well, and both
    /// `R(S) = S ∪ ⋃ R(p)` and `active(S) = seed in S ∨ ⋁ active(p)` (over parents `p ∉ S`) held there over
    /// the same parents with the same rows and activity.
    private static func propagate(
        components: (nodes: [Int], starts: [Int]),
        words changeable: ChangeableWords?,
        inAdjacency: [[Int]],
        outAdjacency: [[Int]],
        seed: [Bool],
        forceAll: Bool,
        reach: inout BitMatrix,
        active: inout [Bool],
        activeWords: inout [UInt64],
        scratch: inout Scratch
    ) -> [Int] {
        let epoch = scratch.epoch
        let wordsPerRow = reach.stride
        let nodes = components.nodes
        let starts = components.starts
        var flipped: [Int] = []
        var temp = [UInt64](repeating: 0, count: wordsPerRow)
        let changeable = forceAll ? nil : changeable

        reach.words.withUnsafeMutableBufferPointer { rows in
            temp.withUnsafeMutableBufferPointer { unionBuffer in
                let rowsBase = rows.baseAddress!
                let union = unionBuffer.baseAddress!
                for c in stride(from: starts.count - 2, through: 0, by: -1) {
                    let members = nodes[starts[c]..<starts[c + 1]]
                    let componentID = Int32(c)
                    var needsRow = forceAll
                    var needsActivity = forceAll
                    for s in members {
                        if scratch.rowDirtyStamp[s] == epoch { needsRow = true }
                        if scratch.activityDirtyStamp[s] == epoch { needsActivity = true }
                    }
                    if !needsRow && !needsActivity { continue }

                    var rowChanged = false
                    if needsRow, let changeable {
                        // Only the changeable bits: all other bits are equal in every old and new row. The
                        // scan over parents stops once every changeable bit is set (typical when one repo's
                        // dependencies change: one bit, found at the first parent that has it).
                        let indexes = changeable.indexes
                        let masks = changeable.masks
                        let count = indexes.count
                        for j in 0..<count { union[indexes[j]] = 0 }
                        scan: for s in members {
                            union[s >> 6] |= 1 << UInt64(s & 63)
                            for p in inAdjacency[s] {
                                if scratch.zoneStamp[p] == epoch && scratch.component[p] == componentID { continue }
                                let row = rowsBase + p * wordsPerRow
                                var complete = true
                                for j in 0..<count {
                                    let i = indexes[j]
                                    union[i] |= row[i]
                                    if union[i] & masks[j] != masks[j] { complete = false }
                                }
                                if complete { break scan }
                            }
                        }
                        for s in members {
                            let row = rowsBase + s * wordsPerRow
                            var differs = false
                            for j in 0..<count {
                                let i = indexes[j]
                                let word = (row[i] & ~masks[j]) | (union[i] & masks[j])
                                if word != row[i] {
                                    row[i] = word
                                    differs = true
                                }
                            }
                            if differs {
                                scratch.rowChangedStamp[s] = epoch
                                rowChanged = true
                            }
                        }
                    } else if needsRow {
                        union.update(repeating: 0, count: wordsPerRow)
                        for s in members {
                            union[s >> 6] |= 1 << UInt64(s & 63)
                            for p in inAdjacency[s] {
                                if scratch.zoneStamp[p] == epoch && scratch.component[p] == componentID { continue }
                                let row = rowsBase + p * wordsPerRow
                                for i in 0..<wordsPerRow { union[i] |= row[i] }
                            }
                        }
                        for s in members {
                            let row = rowsBase + s * wordsPerRow
                            var differs = false
                            for i in 0..<wordsPerRow where row[i] != union[i] {
                                differs = true
                                break
                            }
                            if differs {
                                row.update(from: union, count: wordsPerRow)
                                scratch.rowChangedStamp[s] = epoch
                                rowChanged = true
                            }
                        }
                    }

                    var activityFlipped = false
                    if needsActivity {
                        var isActive = false
                        search: for s in members {
                            if seed[s] {
                                isActive = true
                                break search
                            }
                            for p in inAdjacency[s] where active[p] {
                                if scratch.zoneStamp[p] == epoch && scratch.component[p] == componentID { continue }
                                isActive = true
                                break search
                            }
                        }
                        for s in members where active[s] != isActive {
                            active[s] = isActive
                            activeWords[s >> 6] ^= 1 << UInt64(s & 63)
                            scratch.flippedStamp[s] = epoch
                            flipped.append(s)
                            activityFlipped = true
                        }
                    }

                    // Mark the children outside the component (all in the zone: it is closed under successors).
                    if rowChanged || activityFlipped {
                        for s in members {
                            let pushRow = scratch.rowChangedStamp[s] == epoch
                            for w in outAdjacency[s] {
                                if pushRow { scratch.rowDirtyStamp[w] = epoch }
                                if activityFlipped { scratch.activityDirtyStamp[w] = epoch }
                            }
                        }
                    }
                }
            }
        }
        return flipped
    }

    /// New scores for the zone (all activity final). Returns the nodes whose score changed.
    private static func rescore(
        zone: [Int],
        flipped: [Int],
        forceAll: Bool,
        reach: BitMatrix,
        active: [Bool],
        activeWords: [UInt64],
        scratch: Scratch,
        score: inout [Int]
    ) -> [Int] {
        let epoch = scratch.epoch
        let stride = reach.stride
        // Testing each flipped node's bit costs a random load; a popcount costs `stride` sequential ones.
        let recountAll = forceAll || flipped.count > max(8, stride / 4)
        var changed: [Int] = []
        reach.words.withUnsafeBufferPointer { rows in
            activeWords.withUnsafeBufferPointer { activeBits in
                for v in zone {
                    let base = v * stride
                    let newScore: Int
                    if !active[v] {
                        newScore = 0
                    } else if recountAll || scratch.rowChangedStamp[v] == epoch || scratch.flippedStamp[v] == epoch {
                        var count = 0
                        for i in 0..<stride { count &+= (rows[base + i] & activeBits[i]).nonzeroBitCount }
                        newScore = count - 1
                    } else {
                        // Same row, v active before and after: only the flipped members of R(v) move the count.
                        var adjusted = score[v]
                        for f in flipped where rows[base + (f >> 6)] & (1 << UInt64(f & 63)) != 0 {
                            adjusted += active[f] ? 1 : -1
                        }
                        newScore = adjusted
                    }
                    if newScore != score[v] {
                        score[v] = newScore
                        changed.append(v)
                    }
                }
            }
        }
        return changed
    }
}
