// Value types shared by the dependency graph and the criticality engine.
import Foundation

/// What a graph node stands for.
public enum GraphNodeKind: String, Sendable, Hashable, CaseIterable {
    /// A source repository tracked by the Atlas; it may belong to a project and may seed the active subgraph.
    case repo
    /// A package from a registry that is not (yet) known to be one of our repos. Never seeds.
    case externalPackage
}

/// A project's activity status, as PG Atlas records it.
public enum ProjectActivityStatus: String, Sendable, Hashable, CaseIterable {
    case live
    case inDev = "in-dev"
    case discontinued
    case nonResponsive = "non-responsive"
    case unknown

    /// Parses the stored spelling; anything unrecognised is `.unknown`.
    public init(parsing text: String) {
        self = ProjectActivityStatus(rawValue: text.lowercased()) ?? .unknown
    }

    /// Whether a repo of a project with this status, that nothing depends on, seeds the active subgraph.
    public var seedsActiveSubgraph: Bool {
        switch self {
        case .live, .inDev: true
        case .discontinued, .nonResponsive, .unknown: false
        }
    }
}

/// One dependency: `from` depends on `to` (edges run dependent -> dependency).
public struct DependencyEdge: Sendable, Hashable {
    public var from: String
    public var to: String

    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }
}

/// One mutation of a `DependencyGraph`, for batching through `CriticalityEngine.apply(_:)`.
public enum GraphMutation: Sendable, Hashable {
    /// Creates the node if unknown, then sets its kind.
    case addNode(String, kind: GraphNodeKind)
    /// Replaces the node's dependencies (creating unknown nodes as external packages).
    case setOutEdges(of: String, to: Set<String>)
    case addEdges([DependencyEdge])
    case removeEdges([DependencyEdge])
    case setKind(String, GraphNodeKind)
    case setProject(String, project: String?)
    case setProjectStatus(String, ProjectActivityStatus)
}

/// What one mutation (or batch) changed in the maintained metrics.
public struct CriticalityChanges: Sendable, Equatable {
    /// Nodes whose criticality changed, with their new score.
    public var nodeScores: [String: Int] = [:]
    /// Projects that have repos and whose summed criticality changed (or that just gained their first repo), with the new sum.
    public var projectScores: [String: Int] = [:]
    /// Projects that had repos before and have none now (their criticality is now nil).
    public var projectsWithoutRepos: Set<String> = []
    /// How many nodes the incremental update had to look at (the affected zone); diagnostics only.
    public var affectedNodeCount: Int = 0

    public init() {}

    /// True when no score changed.
    public var isEmpty: Bool {
        nodeScores.isEmpty && projectScores.isEmpty && projectsWithoutRepos.isEmpty
    }
}
