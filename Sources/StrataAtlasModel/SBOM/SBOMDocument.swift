import Crypto
import Foundation
import StrataCore

/// An SBOM reduced to what the dependency graph needs: packages with their ids, the root
/// package(s) the document describes, and dependency relationships.
public struct SBOMDocument: Sendable, Equatable {
    public enum Format: String, Sendable, Codable {
        case spdx22 = "spdx-2.2"
        case spdx23 = "spdx-2.3"
        case spdx22TagValue = "spdx-2.2-tag-value"
        case spdx23TagValue = "spdx-2.3-tag-value"
        case cyclonedx12 = "cyclonedx-1.2"
        case cyclonedx13 = "cyclonedx-1.3"
        case cyclonedx14 = "cyclonedx-1.4"
        case cyclonedx15 = "cyclonedx-1.5"
        case cyclonedx16 = "cyclonedx-1.6"
    }

    public struct Package: Sendable, Equatable {
        /// The document-local reference (SPDXID or bom-ref).
        public var ref: String
        /// The graph id: the package URL without its version (PG Atlas's rule), else the lowercased name.
        public var id: String
        public var name: String
        public var version: String?
        public var purl: String?
        public var repositoryURL: String?
    }

    public var format: Format
    public var name: String?
    public var packages: [Package]
    /// References of the packages the document describes (its subject).
    public var roots: [String]
    /// (dependent ref, dependency ref) pairs.
    public var dependencies: [Dependency]
    /// SHA-256 over the content that matters: two exports of the same dependency graph that differ
    /// only in document namespace, serial number or creation time hash the same.
    public var semanticHash: String

    public struct Dependency: Sendable, Equatable, Hashable {
        public var from: String
        public var to: String
        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// The depends-on edges of the submitting repository, as PG Atlas derives them: every
    /// dependency relationship whose dependent is a root becomes an edge from the repository to the
    /// dependency (one per distinct dependency id and version); nested relationships become edges
    /// between packages. Without any relationship, every non-root package is a direct dependency.
    public func edges(repository: String) -> [Edge] {
        let byRef = Dictionary(packages.map { ($0.ref, $0) }, uniquingKeysWith: { _, last in last })
        let rootSet = Set(roots)
        func vertex(_ ref: String) -> String? {
            if rootSet.contains(ref) { return repository }
            guard let p = byRef[ref] else { return nil }
            return p.id == repository ? repository : p.id
        }
        var result = Set<Edge>()
        let relationships = dependencies.isEmpty
            ? packages.filter { !rootSet.contains($0.ref) }.map { Dependency(from: roots.first ?? "", to: $0.ref) }
            : dependencies
        for d in relationships {
            guard let from = dependencies.isEmpty ? repository : vertex(d.from), let to = vertex(d.to), from != to else { continue }
            let version = byRef[d.to]?.version.flatMap { ["NOASSERTION", "NONE", ""].contains($0) ? nil : $0 }
            result.insert(Edge(from: from, to: to, versionRange: version))
        }
        return result.sorted { ($0.from, $0.to, $0.versionRange ?? "") < ($1.from, $1.to, $1.versionRange ?? "") }
    }

    public struct Edge: Sendable, Hashable {
        public var from: String
        public var to: String
        public var versionRange: String?
    }

    /// `pkg:npm/x@1.2.3?arch=y` -> `pkg:npm/x` (everything from the last `@` is the version).
    public static func stripVersion(_ purl: String) -> String {
        guard let at = purl.lastIndex(of: "@"), purl[..<at].contains("/") else { return purl }
        return String(purl[..<at])
    }

    static func sha256(_ value: JSONValue) -> String {
        SHA256.hash(data: JSONWriter.bytes(value)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Why an SBOM was rejected: the reason and where in the document (a JSON Pointer).
public struct SBOMError: Error, Sendable, CustomStringConvertible {
    public var reasons: [String]
    public var description: String { reasons.joined(separator: "; ") }
    init(_ reasons: [String]) { self.reasons = reasons }
    init(_ reason: String) { self.reasons = [reason] }
}
