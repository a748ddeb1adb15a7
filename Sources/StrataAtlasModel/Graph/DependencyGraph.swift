// An in-memory dependency graph: repos and external packages, their dependency edges, and the projects repos belong to.
import Foundation

/// A directed dependency graph (edges run dependent -> dependency), with node kinds, repo -> project
/// membership and project activity statuses.
///
/// A value type (a struct of arrays, copy-on-write): it is `Sendable` without locks, a copy is a
/// consistent snapshot that can be handed to another task, and the one owner (usually a
/// `CriticalityEngine`, itself kept inside an actor or a projection) mutates it in place. Node ids are
/// interned to dense `Int` indexes that never change; nodes are never deleted (a node with no edges is
/// harmless: it scores 0 unless it is an active seed, and then it scores 0 too).
///
/// The graph is a set of `(from, to)` pairs: adding an existing edge does nothing and self-loops are
/// ignored. Nodes the graph has not seen are created as `.externalPackage` by every mutation except
/// `addNode` and `setKind`, which set the kind given. A project matters only for `.repo` nodes: a
/// package may be assigned a project, but it neither seeds nor counts towards the project's sum until
/// it becomes a repo.
public struct DependencyGraph: Sendable {
    // Nodes.
    var ids: [String] = []
    var indexByID: [String: Int] = [:]
    var kinds: [GraphNodeKind] = []
    /// Dependencies of each node (no duplicates, no self).
    var outAdjacency: [[Int]] = []
    /// Dependents of each node (no duplicates, no self).
    var inAdjacency: [[Int]] = []
    /// Project index of each node, -1 when none.
    var projectOfNode: [Int] = []

    // Projects.
    var projectIDs: [String] = []
    var projectIndexByID: [String: Int] = [:]
    var projectStatuses: [ProjectActivityStatus] = []
    /// Nodes assigned to each project (any kind; only repos count).
    var projectMembers: [Set<Int>] = []

    public init() {}

    // MARK: - Reading

    public var nodeCount: Int { ids.count }
    /// Number of distinct dependency edges (self-loops excluded).
    public var edgeCount: Int { outAdjacency.reduce(0) { $0 + $1.count } }
    /// Every node id, in creation order.
    public var nodeIDs: [String] { ids }
    /// Every project id that has been mentioned (by a status or a membership), in creation order.
    public var projects: [String] { projectIDs }

    public func contains(_ node: String) -> Bool { indexByID[node] != nil }

    public func kind(of node: String) -> GraphNodeKind? {
        indexByID[node].map { kinds[$0] }
    }

    public func project(of node: String) -> String? {
        guard let index = indexByID[node], projectOfNode[index] >= 0 else { return nil }
        return projectIDs[projectOfNode[index]]
    }

    /// The status of a project; `.unknown` for a project never given one.
    public func status(ofProject project: String) -> ProjectActivityStatus {
        projectIndexByID[project].map { projectStatuses[$0] } ?? .unknown
    }

    /// Repo nodes currently in the project.
    public func repos(ofProject project: String) -> Set<String> {
        guard let p = projectIndexByID[project] else { return [] }
        return Set(projectMembers[p].lazy.filter { kinds[$0] == .repo }.map { ids[$0] })
    }

    public func dependencies(of node: String) -> Set<String> {
        guard let index = indexByID[node] else { return [] }
        return Set(outAdjacency[index].map { ids[$0] })
    }

    public func dependents(of node: String) -> Set<String> {
        guard let index = indexByID[node] else { return [] }
        return Set(inAdjacency[index].map { ids[$0] })
    }

    /// Every edge, as a set.
    public var edges: Set<DependencyEdge> {
        var result = Set<DependencyEdge>()
        for (from, targets) in outAdjacency.enumerated() {
            for to in targets { result.insert(DependencyEdge(from: ids[from], to: ids[to])) }
        }
        return result
    }

    /// Whether the node seeds the active subgraph: a repo of a `live` or `in-dev` project that nothing depends on.
    public func isSeed(_ node: String) -> Bool {
        indexByID[node].map(isSeed(index:)) ?? false
    }

    func isSeed(index v: Int) -> Bool {
        guard kinds[v] == .repo, inAdjacency[v].isEmpty else { return false }
        let p = projectOfNode[v]
        return p >= 0 && projectStatuses[p].seedsActiveSubgraph
    }

    // MARK: - Public mutations (the engine uses the journaled forms below)

    /// Creates the node if unknown and sets its kind.
    public mutating func addNode(_ node: String, kind: GraphNodeKind) {
        var journal = GraphChangeJournal()
        setKind(node, kind, journal: &journal)
    }

    /// Replaces the node's dependencies with `dependencies` (self-loops dropped), creating unknown nodes as external packages.
    public mutating func setOutEdges(of node: String, to dependencies: Set<String>) {
        var journal = GraphChangeJournal()
        setOutEdges(of: node, to: dependencies, journal: &journal)
    }

    public mutating func addEdges(_ edges: some Sequence<DependencyEdge>) {
        var journal = GraphChangeJournal()
        addEdges(edges, journal: &journal)
    }

    /// Removes the given edges; unknown nodes and absent edges are ignored.
    public mutating func removeEdges(_ edges: some Sequence<DependencyEdge>) {
        var journal = GraphChangeJournal()
        removeEdges(edges, journal: &journal)
    }

    public mutating func setKind(_ node: String, _ kind: GraphNodeKind) {
        var journal = GraphChangeJournal()
        setKind(node, kind, journal: &journal)
    }

    /// Assigns the node to a project (nil: to none), creating the node as an external package if unknown.
    public mutating func setProject(_ node: String, _ project: String?) {
        var journal = GraphChangeJournal()
        setProject(node, project, journal: &journal)
    }

    public mutating func setProjectStatus(_ project: String, _ status: ProjectActivityStatus) {
        var journal = GraphChangeJournal()
        setProjectStatus(project, status, journal: &journal)
    }

    public mutating func apply(_ mutation: GraphMutation) {
        var journal = GraphChangeJournal()
        apply(mutation, journal: &journal)
    }

    // MARK: - Journaled mutations

    mutating func apply(_ mutation: GraphMutation, journal: inout GraphChangeJournal) {
        switch mutation {
        case .addNode(let node, let kind): setKind(node, kind, journal: &journal)
        case .setOutEdges(let node, let targets): setOutEdges(of: node, to: targets, journal: &journal)
        case .addEdges(let edges): addEdges(edges, journal: &journal)
        case .removeEdges(let edges): removeEdges(edges, journal: &journal)
        case .setKind(let node, let kind): setKind(node, kind, journal: &journal)
        case .setProject(let node, let project): setProject(node, project, journal: &journal)
        case .setProjectStatus(let project, let status): setProjectStatus(project, status, journal: &journal)
        }
    }

    mutating func intern(_ node: String, kind: GraphNodeKind = .externalPackage) -> Int {
        if let index = indexByID[node] { return index }
        let index = ids.count
        ids.append(node)
        indexByID[node] = index
        kinds.append(kind)
        outAdjacency.append([])
        inAdjacency.append([])
        projectOfNode.append(-1)
        return index
    }

    mutating func internProject(_ project: String) -> Int {
        if let index = projectIndexByID[project] { return index }
        let index = projectIDs.count
        projectIDs.append(project)
        projectIndexByID[project] = index
        projectStatuses.append(.unknown)
        projectMembers.append([])
        return index
    }

    mutating func setOutEdges(of node: String, to dependencies: Set<String>, journal: inout GraphChangeJournal) {
        let u = intern(node)
        var wanted = Set<Int>(minimumCapacity: dependencies.count)
        for dependency in dependencies {
            let v = intern(dependency)
            if v != u { wanted.insert(v) }
        }
        let current = Set(outAdjacency[u])
        if current == wanted { return }
        let removed = current.subtracting(wanted)
        let added = wanted.subtracting(current).sorted()
        if !removed.isEmpty {
            outAdjacency[u].removeAll { removed.contains($0) }
            for v in removed {
                Self.swapRemove(u, from: &inAdjacency[v])
                journal.noteEdge(from: u, to: v, removed: true)
            }
        }
        for v in added {
            outAdjacency[u].append(v)
            inAdjacency[v].append(u)
            journal.noteEdge(from: u, to: v, removed: false)
        }
    }

    mutating func addEdges(_ edges: some Sequence<DependencyEdge>, journal: inout GraphChangeJournal) {
        for edge in edges {
            let u = intern(edge.from)
            let v = intern(edge.to)
            if u == v || outAdjacency[u].contains(v) { continue }
            outAdjacency[u].append(v)
            inAdjacency[v].append(u)
            journal.noteEdge(from: u, to: v, removed: false)
        }
    }

    mutating func removeEdges(_ edges: some Sequence<DependencyEdge>, journal: inout GraphChangeJournal) {
        for edge in edges {
            guard let u = indexByID[edge.from], let v = indexByID[edge.to], u != v else { continue }
            guard let position = outAdjacency[u].firstIndex(of: v) else { continue }
            outAdjacency[u].remove(at: position)
            Self.swapRemove(u, from: &inAdjacency[v])
            journal.noteEdge(from: u, to: v, removed: true)
        }
    }

    mutating func setKind(_ node: String, _ kind: GraphNodeKind, journal: inout GraphChangeJournal) {
        let v = intern(node, kind: kind)
        if kinds[v] != kind {
            kinds[v] = kind
        }
        // Cheap to over-report: the engine compares seed flags and project sums before acting.
        journal.seedCandidates.insert(v)
        if projectOfNode[v] >= 0 { journal.dirtyProjects.insert(projectOfNode[v]) }
    }

    mutating func setProject(_ node: String, _ project: String?, journal: inout GraphChangeJournal) {
        let v = intern(node)
        let old = projectOfNode[v]
        let new = project.map { internProject($0) } ?? -1
        guard old != new else { return }
        if old >= 0 {
            projectMembers[old].remove(v)
            journal.dirtyProjects.insert(old)
        }
        if new >= 0 {
            projectMembers[new].insert(v)
            journal.dirtyProjects.insert(new)
        }
        projectOfNode[v] = new
        journal.seedCandidates.insert(v)
    }

    mutating func setProjectStatus(_ project: String, _ status: ProjectActivityStatus, journal: inout GraphChangeJournal) {
        let p = internProject(project)
        guard projectStatuses[p] != status else { return }
        projectStatuses[p] = status
        journal.seedCandidates.formUnion(projectMembers[p])
    }

    private static func swapRemove(_ value: Int, from array: inout [Int]) {
        guard let position = array.firstIndex(of: value) else { return }
        array.swapAt(position, array.count - 1)
        array.removeLast()
    }

    // MARK: - Reference computation

    /// Criticality of every node, computed from scratch with a deliberately simple algorithm, independent of
    /// `CriticalityEngine`'s bitsets: a BFS from the seeds finds the active subgraph, then for each active
    /// node a BFS over its dependents counts the active nodes that reach it. O(V * E): a test oracle, not for
    /// large graphs.
    public func referenceCriticality() -> [String: Int] {
        let n = ids.count
        // Rebuild the edge set from the public view so the oracle shares nothing with the engine's bookkeeping.
        var dependencies = [Set<Int>](repeating: [], count: n)
        var dependents = [Set<Int>](repeating: [], count: n)
        for (from, targets) in outAdjacency.enumerated() {
            for to in targets where to != from {
                dependencies[from].insert(to)
                dependents[to].insert(from)
            }
        }
        var active = [Bool](repeating: false, count: n)
        var queue: [Int] = []
        for v in 0..<n {
            let p = projectOfNode[v]
            let seeds = kinds[v] == .repo && p >= 0
                && (projectStatuses[p] == .live || projectStatuses[p] == .inDev)
                && dependents[v].isEmpty
            if seeds {
                active[v] = true
                queue.append(v)
            }
        }
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for w in dependencies[v] where !active[w] {
                active[w] = true
                queue.append(w)
            }
        }
        var result = [String: Int](minimumCapacity: n)
        for v in 0..<n {
            guard active[v] else {
                result[ids[v]] = 0
                continue
            }
            var seen: Set<Int> = [v]
            var stack = [v]
            var count = 0
            while let x = stack.popLast() {
                for u in dependents[x] where !seen.contains(u) {
                    seen.insert(u)
                    stack.append(u)
                    if active[u] { count += 1 }
                }
            }
            result[ids[v]] = count
        }
        return result
    }

    /// Project criticality from `referenceCriticality()`: for every project with at least one repo, the sum of its repos' scores.
    public func referenceProjectCriticality(nodeScores: [String: Int]? = nil) -> [String: Int] {
        let scores = nodeScores ?? referenceCriticality()
        var result: [String: Int] = [:]
        for v in 0..<ids.count where kinds[v] == .repo && projectOfNode[v] >= 0 {
            result[projectIDs[projectOfNode[v]], default: 0] += scores[ids[v]] ?? 0
        }
        return result
    }
}

/// What a batch of journaled mutations touched; the engine's input for an incremental update.
/// Over-reporting is always safe (it only widens the recomputed zone); under-reporting is not.
struct GraphChangeJournal {
    /// Sources of added or removed edges.
    var edgeSources: Set<Int> = []
    /// Targets of removed edges (what the sources reached in the old graph).
    var removedTargets: Set<Int> = []
    /// Targets of added or removed edges: their parent sets (and in-degree) changed.
    var inEdgeChanged: Set<Int> = []
    /// Nodes whose seed flag may have changed (kind, project, project status or in-degree changed).
    var seedCandidates: Set<Int> = []
    /// Projects whose membership, or whose members' kinds, changed.
    var dirtyProjects: Set<Int> = []

    mutating func noteEdge(from u: Int, to v: Int, removed: Bool) {
        edgeSources.insert(u)
        inEdgeChanged.insert(v)
        seedCandidates.insert(v)
        if removed { removedTargets.insert(v) }
    }

    var isEmpty: Bool {
        edgeSources.isEmpty && seedCandidates.isEmpty && dirtyProjects.isEmpty
    }
}
