import Foundation
import StrataCore

/// The package dependency graph of an SPDX 2.2/2.3 document (the JSON form, or tag-value converted
/// to it), after schema validation.
///
/// What counts: packages (with their purl), the packages the document describes (`DESCRIBES` from
/// `SPDXRef-DOCUMENT`, `DESCRIBED_BY` to it, or `documentDescribes`), and relationships that say one
/// package depends on another (`DEPENDS_ON` and the `*DEPENDENCY_OF` family). Everything else a
/// real SBOM carries — files, snippets, `CONTAINS`, `GENERATED_FROM`, relationships to `NONE` or
/// `NOASSERTION`, elements of other documents (`DocumentRef-...`) — is read and left out of the
/// graph. What is rejected: an element id defined twice, and a relationship naming an id this
/// document does not define (the specification requires every `SPDXRef-` to be defined in it).
enum SPDXGraph {
    /// Relationship types where `spdxElementId` depends on `relatedSpdxElement`.
    static let dependsOn: Set<String> = ["DEPENDS_ON"]
    /// Relationship types where `relatedSpdxElement` depends on `spdxElementId`.
    static let dependencyOf: Set<String> = [
        "DEPENDENCY_OF", "BUILD_DEPENDENCY_OF", "DEV_DEPENDENCY_OF", "OPTIONAL_DEPENDENCY_OF", "PROVIDED_DEPENDENCY_OF",
        "TEST_DEPENDENCY_OF", "RUNTIME_DEPENDENCY_OF",
    ]

    static func build(_ doc: JSONValue, format: SBOMDocument.Format) throws(SBOMError) -> SBOMDocument {
        var problems: [String] = []
        if doc["SPDXID"]?.stringValue != "SPDXRef-DOCUMENT" { problems.append("/SPDXID: expected \"SPDXRef-DOCUMENT\"") }
        // Every element the document defines, by kind.
        var defined: [String: String] = ["SPDXRef-DOCUMENT": "document"]
        func define(_ id: String, _ kind: String, at path: String) {
            if let previous = defined[id] {
                problems.append("\(path)/SPDXID: \(id) is already the id of a \(previous)")
            } else {
                defined[id] = kind
            }
        }
        var packages: [SBOMDocument.Package] = []
        for (i, p) in (doc["packages"]?.arrayValue ?? []).enumerated() {
            let path = "/packages/\(i)"
            guard let ref = p["SPDXID"]?.stringValue, ref.hasPrefix("SPDXRef-") else {
                problems.append("\(path)/SPDXID: missing or not an SPDXRef- identifier")
                continue
            }
            guard let name = p["name"]?.stringValue, !name.isEmpty else {
                problems.append("\(path)/name: missing required field")
                continue
            }
            define(ref, "package", at: path)
            let purl = (p["externalRefs"]?.arrayValue ?? []).first {
                ($0["referenceType"]?.stringValue ?? "").lowercased() == "purl"
            }?["referenceLocator"]?.stringValue
            let location = p["downloadLocation"]?.stringValue
            packages.append(SBOMDocument.Package(
                ref: ref, id: purl.map(SBOMDocument.stripVersion) ?? name.lowercased(), name: name,
                version: p["versionInfo"]?.stringValue, purl: purl,
                repositoryURL: location.flatMap { $0.hasPrefix("http") || $0.hasPrefix("git+") ? $0 : nil }))
        }
        for (field, kind) in [("files", "file"), ("snippets", "snippet")] {
            for (i, element) in (doc[field]?.arrayValue ?? []).enumerated() {
                guard let ref = element["SPDXID"]?.stringValue else {
                    problems.append("/\(field)/\(i)/SPDXID: missing required field")
                    continue
                }
                define(ref, kind, at: "/\(field)/\(i)")
            }
        }
        /// An element a relationship may name: defined here, another document's, or NONE/NOASSERTION.
        func known(_ ref: String) -> Bool {
            defined[ref] != nil || ref.hasPrefix("DocumentRef-") || ref == "NONE" || ref == "NOASSERTION"
        }
        func isPackage(_ ref: String) -> Bool { defined[ref] == "package" }

        var roots: [String] = []
        var dependencies: [SBOMDocument.Dependency] = []
        for (i, r) in (doc["relationships"]?.arrayValue ?? []).enumerated() {
            guard let from = r["spdxElementId"]?.stringValue, let type = r["relationshipType"]?.stringValue,
                let to = r["relatedSpdxElement"]?.stringValue
            else {
                problems.append("/relationships/\(i): needs string spdxElementId, relationshipType and relatedSpdxElement")
                continue
            }
            var dangling = false
            for (field, ref) in [("spdxElementId", from), ("relatedSpdxElement", to)] where !known(ref) {
                problems.append("/relationships/\(i)/\(field): \(ref) is not an element of this document (nor NONE, NOASSERTION or a DocumentRef-)")
                dangling = true
            }
            if dangling { continue }
            if type == "DESCRIBES", from == "SPDXRef-DOCUMENT", isPackage(to) {
                if !roots.contains(to) { roots.append(to) }
            } else if type == "DESCRIBED_BY", to == "SPDXRef-DOCUMENT", isPackage(from) {
                if !roots.contains(from) { roots.append(from) }
            } else if isPackage(from), isPackage(to) {
                if dependsOn.contains(type) { dependencies.append(.init(from: from, to: to)) }
                if dependencyOf.contains(type) { dependencies.append(.init(from: to, to: from)) }
            }
        }
        for (i, ref) in (doc["documentDescribes"]?.arrayValue ?? []).enumerated() {
            guard let ref = ref.stringValue else { continue }
            if !known(ref) {
                problems.append("/documentDescribes/\(i): \(ref) is not an element of this document")
            } else if isPackage(ref), !roots.contains(ref) {
                roots.append(ref)
            }
        }
        if !problems.isEmpty {
            let shown = Array(problems.prefix(10))
            throw SBOMError(problems.count > shown.count ? shown + ["(\(problems.count - shown.count) more problems)"] : shown)
        }
        // The semantic hash: name, packages by SPDXID, relationships sorted; nothing else.
        let sortedPackages = (doc["packages"]?.arrayValue ?? []).sorted { ($0["SPDXID"]?.stringValue ?? "") < ($1["SPDXID"]?.stringValue ?? "") }
        let sortedRelationships = (doc["relationships"]?.arrayValue ?? []).sorted {
            let a = [$0["spdxElementId"], $0["relatedSpdxElement"], $0["relationshipType"]].map { $0?.stringValue ?? "" }
            let b = [$1["spdxElementId"], $1["relatedSpdxElement"], $1["relationshipType"]].map { $0?.stringValue ?? "" }
            return a.lexicographicallyPrecedes(b)
        }
        let hash = SBOMDocument.sha256(["name": doc["name"] ?? .null, "packages": .array(sortedPackages), "relationships": .array(sortedRelationships)])
        return SBOMDocument(format: format, name: doc["name"]?.stringValue, packages: packages, roots: roots, dependencies: dependencies, semanticHash: hash)
    }
}
