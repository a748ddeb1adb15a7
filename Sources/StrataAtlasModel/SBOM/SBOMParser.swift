import Foundation
import StrataCore

/// Parses and validates SBOMs: SPDX 2.2 and 2.3 JSON (GitHub's dependency-graph export with or
/// without its `{"sbom": ...}` wrapper, syft, trivy, ...) validated against the official SPDX
/// schemas in `schemas/external/spdx`; SPDX 2.2/2.3 tag-value (`SPDXTagValue.parse`); and CycloneDX
/// 1.2–1.6 JSON validated against the official schemas in `schemas/external/cyclonedx`.
public struct SBOMParser: Sendable {
    /// The catalog holding the SPDX and CycloneDX schemas; nil skips schema validation (for documents that
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
        if let context = object["@context"], JSONWriter.string(context).contains("spdx.org/rdf/3") {
            throw SBOMError("/@context: this is an SPDX 3 (JSON-LD) document; Strata reads SPDX 2.2 and 2.3 (JSON or tag-value) and CycloneDX 1.2-1.6")
        }
        throw SBOMError("not an SBOM: expected SPDX 2.2/2.3 JSON (\"spdxVersion\") or CycloneDX (\"bomFormat\": \"CycloneDX\") at the top level, found fields \(object.keys.sorted().prefix(6).joined(separator: ", "))")
    }

    public enum Input: Sendable {
        /// JSON text (UTF-8; a byte-order mark removed, UTF-16 converted).
        case json([UInt8])
        /// SPDX tag-value text.
        case tagValue(String)
    }

    /// What kind of document `bytes` hold: JSON when the first non-blank character is `{` (or the
    /// text is not tag-value), tag-value when its first line that is not blank or a comment is
    /// `SPDXVersion: ...`.
    public static func sniff(_ bytes: [UInt8]) -> Input {
        let byteOrderMark = bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF])
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        guard byteOrderMark || first != UInt8(ascii: "{"), let text = SPDXTagValue.decode(bytes) else { return .json(bytes) }
        return SPDXTagValue.looks(like: text) ? .tagValue(text) : .json(byteOrderMark ? Array(text.utf8) : bytes)
    }

    /// The graph of an `sbom.submitted` payload: its JSON `document`, or its tag-value
    /// `document_tag_value` text.
    public func parse(payload: JSONValue) throws(SBOMError) -> SBOMDocument {
        if let text = payload["document_tag_value"]?.stringValue { return try SPDXTagValue.parse(text).sbom }
        guard let document = payload["document"] else { throw SBOMError("the event has neither a document nor a document_tag_value") }
        return try parse(document).sbom
    }

    // MARK: - SPDX 2.2 / 2.3 JSON

    /// The official JSON schema of each SPDX 2.x version Strata reads (`$id`s of the files in
    /// `schemas/external/spdx`).
    static let spdxSchemas: [String: (format: SBOMDocument.Format, uri: String)] = [
        "SPDX-2.2": (.spdx22, "http://spdx.org/rdf/terms"),
        "SPDX-2.3": (.spdx23, "http://spdx.org/rdf/terms/2.3"),
    ]

    func parseSPDX(_ doc: JSONValue) throws(SBOMError) -> SBOMDocument {
        let version = doc["spdxVersion"]?.stringValue ?? ""
        guard let (format, uri) = Self.spdxSchemas[version] else {
            throw SBOMError("/spdxVersion: \(version.isEmpty ? "not a string" : "\"\(version)\"") is not supported (SPDX-2.2 and SPDX-2.3 are)")
        }
        if let schemas {
            guard schemas.registry.contains(uri) else { throw SBOMError("the \(version) JSON schema is not installed (schemas/external/spdx)") }
            let violations = schemas.registry.validate(doc, against: uri, limit: 5)
            if !violations.isEmpty { throw SBOMError(violations.map(\.description)) }
        }
        return try SPDXGraph.build(doc, format: format)
    }

    // MARK: - CycloneDX

    func parseCycloneDX(_ doc: JSONValue) throws(SBOMError) -> SBOMDocument {
        let version = doc["specVersion"]?.stringValue ?? ""
        let format: SBOMDocument.Format
        // The `$id`s of the official schemas (1.2 and 1.3 carry a revision letter).
        let schemaFile: String
        switch version {
        case "1.2": (format, schemaFile) = (.cyclonedx12, "bom-1.2b")
        case "1.3": (format, schemaFile) = (.cyclonedx13, "bom-1.3a")
        case "1.4": (format, schemaFile) = (.cyclonedx14, "bom-1.4")
        case "1.5": (format, schemaFile) = (.cyclonedx15, "bom-1.5")
        case "1.6": (format, schemaFile) = (.cyclonedx16, "bom-1.6")
        default: throw SBOMError("/specVersion: CycloneDX \(version.isEmpty ? "without a specVersion" : version) is not supported (1.2 to 1.6 are)")
        }
        if let schemas {
            let uri = "http://cyclonedx.org/schema/\(schemaFile).schema.json"
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
