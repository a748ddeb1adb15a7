import Foundation
import StrataCore

/// Parses and validates SBOMs: SPDX 2.3 JSON (as GitHub's dependency-graph export returns it, with
/// or without the `{"sbom": ...}` wrapper) and CycloneDX 1.4–1.6 JSON (validated against the
/// official schemas in `schemas/external/cyclonedx`).
public struct SBOMParser: Sendable {
    /// The catalog holding the CycloneDX schemas; nil skips schema validation (for documents that
    /// were validated before they reached the log).
    public let schemas: SchemaCatalog?

    public init(schemas: SchemaCatalog?) { self.schemas = schemas }

    /// The document itself (unwrapped) and its parsed form.
    public func parse(_ value: JSONValue) throws(SBOMError) -> (document: JSONValue, sbom: SBOMDocument) {
        var document = value
        if let inner = value["sbom"], inner.objectValue != nil { document = inner }
        guard let object = document.objectValue else { throw SBOMError("an SBOM must be a JSON object") }
        if object["bomFormat"] != nil || object["specVersion"] != nil && object["spdxVersion"] == nil {
            return (document, try parseCycloneDX(document))
        }
        if object["spdxVersion"] != nil {
            return (document, try parseSPDX(document))
        }
        throw SBOMError("not an SBOM: expected SPDX 2.3 (\"spdxVersion\") or CycloneDX (\"bomFormat\": \"CycloneDX\") at the top level, found fields \(object.keys.sorted().prefix(6).joined(separator: ", "))")
    }

    // MARK: - SPDX 2.3

    func parseSPDX(_ doc: JSONValue) throws(SBOMError) -> SBOMDocument {
        var problems: [String] = []
        func require(_ path: String, _ value: JSONValue?, _ type: String) {
            guard let value else { problems.append("\(path): missing required field"); return }
            let ok: Bool
            switch type {
            case "string": ok = value.stringValue != nil
            case "array": ok = value.arrayValue != nil
            case "object": ok = value.objectValue != nil
            default: ok = true
            }
            if !ok { problems.append("\(path): expected \(type), found \(value.typeName)") }
        }
        if doc["spdxVersion"]?.stringValue != "SPDX-2.3" {
            problems.append("/spdxVersion: expected \"SPDX-2.3\", found \(doc["spdxVersion"].map { "\($0)" } ?? "nothing")")
        }
        if doc["SPDXID"]?.stringValue != "SPDXRef-DOCUMENT" { problems.append("/SPDXID: expected \"SPDXRef-DOCUMENT\"") }
        require("/name", doc["name"], "string")
        require("/dataLicense", doc["dataLicense"], "string")
        require("/documentNamespace", doc["documentNamespace"], "string")
        require("/creationInfo", doc["creationInfo"], "object")
        if let info = doc["creationInfo"], info.objectValue != nil {
            require("/creationInfo/created", info["created"], "string")
            if let created = info["created"]?.stringValue, RFC3339.parse(created) == nil {
                problems.append("/creationInfo/created: \"\(created)\" is not a date-time")
            }
            require("/creationInfo/creators", info["creators"], "array")
        }
        let packageValues = doc["packages"]?.arrayValue ?? []
        if let p = doc["packages"], p.arrayValue == nil { problems.append("/packages: expected array, found \(p.typeName)") }
        var packages: [SBOMDocument.Package] = []
        var refs = Set<String>(["SPDXRef-DOCUMENT"])
        for (i, p) in packageValues.enumerated() {
            guard let ref = p["SPDXID"]?.stringValue, ref.hasPrefix("SPDXRef-") else {
                problems.append("/packages/\(i)/SPDXID: missing or not an SPDXRef- identifier")
                continue
            }
            guard let name = p["name"]?.stringValue, !name.isEmpty else {
                problems.append("/packages/\(i)/name: missing required field")
                continue
            }
            if !refs.insert(ref).inserted { problems.append("/packages/\(i)/SPDXID: \(ref) is used twice") }
            let purl = (p["externalRefs"]?.arrayValue ?? []).first {
                ($0["referenceType"]?.stringValue ?? "").lowercased().contains("purl")
            }?["referenceLocator"]?.stringValue
            let location = p["downloadLocation"]?.stringValue
            packages.append(SBOMDocument.Package(
                ref: ref, id: purl.map(SBOMDocument.stripVersion) ?? name.lowercased(), name: name,
                version: p["versionInfo"]?.stringValue, purl: purl,
                repositoryURL: location.flatMap { $0.hasPrefix("http") || $0.hasPrefix("git+") ? $0 : nil }))
        }
        var roots: [String] = []
        var dependencies: [SBOMDocument.Dependency] = []
        for (i, r) in (doc["relationships"]?.arrayValue ?? []).enumerated() {
            guard let from = r["spdxElementId"]?.stringValue, let type = r["relationshipType"]?.stringValue,
                let to = r["relatedSpdxElement"]?.stringValue
            else {
                problems.append("/relationships/\(i): needs string spdxElementId, relationshipType and relatedSpdxElement")
                continue
            }
            for (field, ref) in [("spdxElementId", from), ("relatedSpdxElement", to)] where !refs.contains(ref) && !ref.hasPrefix("DocumentRef-") {
                problems.append("/relationships/\(i)/\(field): \(ref) is not a package of this document")
            }
            switch type {
            case "DESCRIBES" where from == "SPDXRef-DOCUMENT": roots.append(to)
            case "DEPENDS_ON": dependencies.append(.init(from: from, to: to))
            case "DEPENDENCY_OF": dependencies.append(.init(from: to, to: from))
            default: break
            }
        }
        for ref in doc["documentDescribes"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !roots.contains(ref) { roots.append(ref) }
        if !problems.isEmpty { throw SBOMError(Array(problems.prefix(10))) }
        // The semantic hash: name, packages by SPDXID, relationships sorted; nothing else.
        let sortedPackages = packageValues.sorted { ($0["SPDXID"]?.stringValue ?? "") < ($1["SPDXID"]?.stringValue ?? "") }
        let sortedRelationships = (doc["relationships"]?.arrayValue ?? []).sorted {
            let a = [$0["spdxElementId"], $0["relatedSpdxElement"], $0["relationshipType"]].map { $0?.stringValue ?? "" }
            let b = [$1["spdxElementId"], $1["relatedSpdxElement"], $1["relationshipType"]].map { $0?.stringValue ?? "" }
            return a.lexicographicallyPrecedes(b)
        }
        let hash = SBOMDocument.sha256(["name": doc["name"] ?? .null, "packages": .array(sortedPackages), "relationships": .array(sortedRelationships)])
        return SBOMDocument(format: .spdx23, name: doc["name"]?.stringValue, packages: packages, roots: roots, dependencies: dependencies, semanticHash: hash)
    }

    // MARK: - CycloneDX

    func parseCycloneDX(_ doc: JSONValue) throws(SBOMError) -> SBOMDocument {
        let version = doc["specVersion"]?.stringValue ?? ""
        let format: SBOMDocument.Format
        switch version {
        case "1.4": format = .cyclonedx14
        case "1.5": format = .cyclonedx15
        case "1.6": format = .cyclonedx16
        default: throw SBOMError("/specVersion: CycloneDX \(version.isEmpty ? "without a specVersion" : version) is not supported (1.4, 1.5 and 1.6 are)")
        }
        if let schemas {
            let uri = "http://cyclonedx.org/schema/bom-\(version).schema.json"
            guard schemas.registry.contains(uri) else { throw SBOMError("the CycloneDX \(version) schema is not installed (schemas/external/cyclonedx)") }
            let violations = schemas.registry.validate(doc, against: uri, limit: 5)
            if !violations.isEmpty { throw SBOMError(violations.map(\.description)) }
        }

        var packages: [SBOMDocument.Package] = []
        func collect(_ components: [JSONValue]?) {
            for c in components ?? [] {
                let name = c["name"]?.stringValue ?? ""
                let purl = c["purl"]?.stringValue
                let ref = c["bom-ref"]?.stringValue ?? purl ?? name
                let vcs = (c["externalReferences"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "vcs" }?["url"]?.stringValue
                packages.append(SBOMDocument.Package(
                    ref: ref, id: purl.map(SBOMDocument.stripVersion) ?? name.lowercased(), name: name, version: c["version"]?.stringValue,
                    purl: purl, repositoryURL: vcs))
                collect(c["components"]?.arrayValue)
            }
        }
        var roots: [String] = []
        if let root = doc["metadata"]?["component"], root.objectValue != nil {
            collect([root])
            roots.append(packages[0].ref)
        }
        collect(doc["components"]?.arrayValue)
        var dependencies: [SBOMDocument.Dependency] = []
        for d in doc["dependencies"]?.arrayValue ?? [] {
            guard let from = d["ref"]?.stringValue else { continue }
            for to in d["dependsOn"]?.arrayValue?.compactMap(\.stringValue) ?? [] { dependencies.append(.init(from: from, to: to)) }
        }
        // The semantic hash leaves out serialNumber, version, metadata timestamps and tools.
        func sortedByRef(_ items: JSONValue?) -> JSONValue {
            .array((items?.arrayValue ?? []).sorted { JSONWriter.string($0) < JSONWriter.string($1) })
        }
        let hash = SBOMDocument.sha256([
            "component": doc["metadata"]?["component"] ?? .null, "components": sortedByRef(doc["components"]),
            "dependencies": sortedByRef(doc["dependencies"]),
        ])
        return SBOMDocument(format: format, name: doc["metadata"]?["component"]?["name"]?.stringValue, packages: packages, roots: roots,
            dependencies: dependencies, semanticHash: hash)
    }

    /// The repository an SBOM belongs to, when it says so: GitHub's export names itself
    /// `com.github.OWNER/REPO`; CycloneDX may carry a `pkg:github/OWNER/REPO` purl on its subject.
    public static func repository(of sbom: SBOMDocument) -> String? {
        if let name = sbom.name, name.hasPrefix("com.github.") {
            let rest = String(name.dropFirst("com.github.".count))
            if rest.split(separator: "/").count == 2 { return rest }
        }
        for p in sbom.packages where sbom.roots.contains(p.ref) {
            if let purl = p.purl, purl.hasPrefix("pkg:github/") {
                let path = SBOMDocument.stripVersion(purl).dropFirst("pkg:github/".count)
                if path.split(separator: "/").count == 2 { return String(path) }
            }
        }
        return nil
    }
}
