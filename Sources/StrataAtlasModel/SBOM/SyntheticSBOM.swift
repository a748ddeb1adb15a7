import StrataCore

/// A minimal SPDX 2.3 document in the shape of GitHub's export: a repository depending directly on
/// some packages. Benchmarks and tests build graphs from it; operators can use it to seed an Atlas.
public enum SyntheticSBOM {
    /// `repository` is OWNER/REPO; `dependencies` are purls without versions (version 1.0.0 is used).
    public static func spdx(repository: String, dependencies: [String]) -> JSONValue {
        var packages: [JSONValue] = [["SPDXID": "SPDXRef-root", "name": .string(repository), "versionInfo": "main",
            "downloadLocation": "NOASSERTION",
            "externalRefs": [["referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": .string("pkg:github/\(repository)@main")]]]]
        var relationships: [JSONValue] = [["spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-root"]]
        for (i, d) in dependencies.enumerated() {
            packages.append(["SPDXID": .string("SPDXRef-p\(i)"), "name": .string(d), "versionInfo": "1.0.0", "downloadLocation": "NOASSERTION",
                "externalRefs": [["referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": .string("\(d)@1.0.0")]]])
            relationships.append(["spdxElementId": "SPDXRef-root", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": .string("SPDXRef-p\(i)")])
        }
        return ["spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": .string("com.github.\(repository)"),
                "documentNamespace": .string("https://spdx.org/spdxdocs/strata/\(repository)"),
                "creationInfo": ["created": "2026-01-01T00:00:00Z", "creators": ["Tool: strata"]],
                "packages": .array(packages), "relationships": .array(relationships)]
    }
}
