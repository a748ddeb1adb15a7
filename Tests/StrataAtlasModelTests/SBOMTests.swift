import Foundation
import StrataAtlasModel
import StrataCore
import Testing

@Suite struct SBOMTests {
    static var sboms: URL { Fixtures.sharedData.appendingPathComponent("atlas/sbom") }
    static func load(_ path: String) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: sboms.appendingPathComponent(path))))
    }

    /// The CycloneDX 1.6 conformance set: every valid-* is accepted, every invalid-* rejected with a reason.
    @Test func cycloneDXConformanceSet() throws {
        let parser = SBOMParser(schemas: try Fixtures.schemas())
        let dir = Self.sboms.appendingPathComponent("cyclonedx-1.6")
        var valid = 0
        var invalid = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasPrefix("valid-") || file.hasPrefix("invalid-") {
            let doc = try Self.load("cyclonedx-1.6/\(file)")
            if file.hasPrefix("valid-") {
                #expect(throws: Never.self, "\(file)") { _ = try parser.parse(doc) }
                valid += 1
            } else {
                do {
                    _ = try parser.parse(doc)
                    Issue.record("\(file) was accepted")
                } catch {
                    #expect(!error.reasons.isEmpty && error.reasons.allSatisfy { $0.contains(": ") }, "\(file): \(error)")
                }
                invalid += 1
            }
        }
        #expect(valid == 45 && invalid == 25)
    }

    @Test func invalidBOMFormatNamesTheField() throws {
        let parser = SBOMParser(schemas: try Fixtures.schemas())
        let doc = try Self.load("cyclonedx-1.6/invalid-bomformat-1.6.json")
        do {
            _ = try parser.parse(doc)
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("/bomFormat"), "\(error)")
        }
    }

    @Test func spdxValidationAndGraph() throws {
        let parser = SBOMParser(schemas: nil)
        let invalid = try Self.load("spdx-2.3/invalid.spdx.json")
        do {
            _ = try parser.parse(invalid)
            Issue.record("accepted invalid.spdx.json")
        } catch {
            #expect(error.description.contains("not an SBOM"))
        }
        // An unsupported version is named; so is a relationship to an element defined nowhere.
        var broken = try Self.load("spdx-2.3/github_dep_graph.spdx.json").objectValue!
        broken["spdxVersion"] = "SPDX-2.1"
        do {
            _ = try parser.parse(.object(broken))
            Issue.record("accepted SPDX-2.1")
        } catch {
            #expect(error.description.contains("/spdxVersion: \"SPDX-2.1\" is not supported"), "\(error)")
        }
        broken["spdxVersion"] = "SPDX-2.3"
        broken["relationships"] = [["spdxElementId": "SPDXRef-nope", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-DOCUMENT"]]
        do {
            _ = try parser.parse(.object(broken))
            Issue.record("accepted a dangling relationship")
        } catch {
            #expect(error.description.contains("/relationships/0/spdxElementId: SPDXRef-nope is not an element of this document"), "\(error)")
        }

        let (_, sbom) = try parser.parse(try Self.load("spdx-2.3/py-stellar-sdk-a9b110.spdx.json"))
        #expect(sbom.packages.count == 109)
        #expect(SBOMParser.repository(of: sbom) == "StellarCN/py-stellar-base")
        let edges = sbom.edges(repository: "pkg:github/StellarCN/py-stellar-base")
        #expect(edges.count == 108)
        #expect(Set(edges.map(\.to)).count == 105)  // three packages appear in two versions
        #expect(edges.allSatisfy { $0.from == "pkg:github/StellarCN/py-stellar-base" })
        #expect(edges.contains { $0.to == "pkg:pypi/sphinx" && $0.versionRange == "8.2.3" })
        #expect(edges.contains { $0.to == "pkg:pypi/sphinx" && $0.versionRange == "8.1.3" })
    }

    @Test func semanticHashIgnoresNamespaceTimeAndOrder() throws {
        let parser = SBOMParser(schemas: nil)
        let run1 = try parser.parse(try Self.load("spdx-2.3/pg_atlas_backend_v381_run1.spdx.json")).sbom
        let run2 = try parser.parse(try Self.load("spdx-2.3/pg_atlas_backend_v381_run2.spdx.json")).sbom
        let v372 = try parser.parse(try Self.load("spdx-2.3/pg_atlas_backend_v372.spdx.json")).sbom
        #expect(run1.semanticHash == run2.semanticHash)
        #expect(run1.semanticHash != v372.semanticHash)
        // The {"sbom": ...} envelope is unwrapped: wrapped and bare documents hash the same.
        let wrapped = try Self.load("spdx-2.3/nebu_v381.spdx.json")
        let bare = try parser.parse(wrapped["sbom"]!).sbom
        #expect(try parser.parse(wrapped).sbom.semanticHash == bare.semanticHash)
        // Nested relationships become package-to-package edges.
        let nested = try parser.parse(try Self.load("spdx-2.3/graph_relationships.spdx.json")).sbom
        let edges = nested.edges(repository: "pkg:github/test-org/test-repo")
        #expect(edges.count == 2)
        #expect(edges.contains { $0.from != "pkg:github/test-org/test-repo" })
    }

    /// Relationships that are not package dependencies are read and left out of the graph: files,
    /// snippets, NONE/NOASSERTION, other documents' elements. The dependency family counts.
    @Test func spdxKeepsOnlyPackageDependencies() throws {
        let parser = SBOMParser(schemas: try Fixtures.schemas())
        func package(_ id: String, _ name: String) -> JSONValue {
            ["SPDXID": .string(id), "name": .string(name), "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT",
             "licenseDeclared": "MIT", "copyrightText": "NOASSERTION",
             "externalRefs": [["referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl", "referenceLocator": .string("pkg:npm/\(name)@1.0.0")]]]
        }
        func rel(_ a: String, _ type: String, _ b: String) -> JSONValue {
            ["spdxElementId": .string(a), "relationshipType": .string(type), "relatedSpdxElement": .string(b)]
        }
        let doc: JSONValue = [
            "spdxVersion": "SPDX-2.2", "SPDXID": "SPDXRef-DOCUMENT", "name": "app", "dataLicense": "CC0-1.0",
            "documentNamespace": "https://example.com/app-1",
            "creationInfo": ["created": "2024-01-02T03:04:05Z", "creators": ["Tool: test"]],
            "packages": [package("SPDXRef-app", "app"), package("SPDXRef-a", "a"), package("SPDXRef-b", "b"), package("SPDXRef-c", "c")],
            "files": [["SPDXID": "SPDXRef-file", "fileName": "./index.js", "checksums": [["algorithm": "SHA1", "checksumValue": "da39a3ee5e6b4b0d3255bfef95601890afd80709"]],
                       "licenseConcluded": "NOASSERTION", "copyrightText": "NOASSERTION"]],
            "relationships": [
                rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-app"),
                rel("SPDXRef-app", "DEPENDS_ON", "SPDXRef-a"),
                rel("SPDXRef-b", "DEV_DEPENDENCY_OF", "SPDXRef-app"),
                rel("SPDXRef-app", "CONTAINS", "SPDXRef-file"),
                rel("SPDXRef-file", "DEPENDS_ON", "SPDXRef-c"),
                rel("SPDXRef-app", "DEPENDS_ON", "NOASSERTION"),
                rel("SPDXRef-c", "DEPENDS_ON", "NONE"),
                rel("SPDXRef-app", "DEPENDS_ON", "DocumentRef-other:SPDXRef-x"),
            ],
        ]
        let (_, sbom) = try parser.parse(doc)
        #expect(sbom.format == .spdx22)
        #expect(sbom.roots == ["SPDXRef-app"])
        #expect(Set(sbom.dependencies) == [.init(from: "SPDXRef-app", to: "SPDXRef-a"), .init(from: "SPDXRef-app", to: "SPDXRef-b")])
        let edges = sbom.edges(repository: "pkg:github/o/app")
        #expect(Set(edges.map(\.to)) == ["pkg:npm/a", "pkg:npm/b"])

        // The schema still rules: an SPDX 2.2 package without licenseConcluded is invalid, and said so.
        var invalid = doc.objectValue!
        invalid["packages"] = [["SPDXID": "SPDXRef-app", "name": "app", "downloadLocation": "NOASSERTION"]]
        do {
            _ = try parser.parse(.object(invalid))
            Issue.record("accepted an SPDX 2.2 package without its required fields")
        } catch {
            #expect(error.description.contains("/packages/0: missing required property 'licenseConcluded'"), "\(error)")
        }
        // An id used twice is named.
        var twice = doc.objectValue!
        twice["files"] = [["SPDXID": "SPDXRef-a", "fileName": "./a", "checksums": [["algorithm": "SHA1", "checksumValue": "da39a3ee5e6b4b0d3255bfef95601890afd80709"]],
                           "licenseConcluded": "NOASSERTION", "copyrightText": "NOASSERTION"]]
        do {
            _ = try parser.parse(.object(twice))
            Issue.record("accepted an id defined twice")
        } catch {
            #expect(error.description.contains("/files/0/SPDXID: SPDXRef-a is already the id of a package"), "\(error)")
        }
        // SPDX 3 (JSON-LD) is named as such.
        do {
            _ = try parser.parse(["@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []])
            Issue.record("accepted SPDX 3")
        } catch {
            #expect(error.description.contains("SPDX 3"), "\(error)")
        }
    }

    @Test func spdxTagValue() throws {
        let text = """
            SPDXVersion: SPDX-2.3
            DataLicense: CC0-1.0
            SPDXID: SPDXRef-DOCUMENT
            DocumentName: app
            DocumentNamespace: https://example.com/app-1
            Creator: Tool: test
            Created: 2024-01-02T03:04:05Z
            DocumentComment: <text>two
            lines: with a colon</text>

            ## the application
            PackageName: app
            SPDXID: SPDXRef-app
            PackageVersion: 2.0.0
            PackageDownloadLocation: git+https://github.com/o/app.git
            ExternalRef: PACKAGE-MANAGER purl pkg:npm/app@2.0.0

            PackageName: left-pad
            SPDXID: SPDXRef-lp
            PackageVersion: 1.3.0
            PackageDownloadLocation: NOASSERTION
            ExternalRef: PACKAGE-MANAGER purl pkg:npm/left-pad@1.3.0

            FileName: ./index.js
            SPDXID: SPDXRef-file

            Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-app
            Relationship: SPDXRef-app DEPENDS_ON SPDXRef-lp
            Relationship: SPDXRef-app CONTAINS SPDXRef-file
            """
        guard case .tagValue(let sniffed) = SBOMParser.sniff(Array(text.utf8)) else {
            Issue.record("tag-value not recognised")
            return
        }
        let (document, sbom) = try SPDXTagValue.parse(sniffed)
        #expect(sbom.format == .spdx23TagValue)
        #expect(sbom.packages.map(\.id) == ["pkg:npm/app", "pkg:npm/left-pad"])
        #expect(sbom.packages.first?.repositoryURL == "git+https://github.com/o/app.git")
        #expect(sbom.roots == ["SPDXRef-app"])
        #expect(sbom.dependencies == [.init(from: "SPDXRef-app", to: "SPDXRef-lp")])
        #expect(document["creationInfo"]?["creators"]?.arrayValue?.count == 1)
        // The same graph as payload text, as the projection reads it back.
        let payload: JSONValue = ["repository": "o/app", "format": "spdx-2.3-tag-value", "semantic_hash": .string(sbom.semanticHash),
                                  "document_tag_value": .string(text)]
        #expect(try SBOMParser(schemas: nil).parse(payload: payload) == sbom)
        // UTF-16 with a byte-order mark reads the same.
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        guard case .tagValue(let decoded) = SBOMParser.sniff(utf16) else {
            Issue.record("UTF-16 tag-value not recognised")
            return
        }
        #expect(try SPDXTagValue.parse(decoded).sbom == sbom)

        // Problems name their lines.
        let broken = text.replacingOccurrences(of: "PackageDownloadLocation: NOASSERTION\n", with: "")
            .replacingOccurrences(of: "SPDXRef-app DEPENDS_ON SPDXRef-lp", with: "SPDXRef-app DEPENDS_ON SPDXRef-missing")
            .replacingOccurrences(of: "Created: 2024-01-02T03:04:05Z", with: "Created: yesterday")
        do {
            _ = try SPDXTagValue.parse(broken)
            Issue.record("accepted a broken tag-value document")
        } catch {
            #expect(error.description.contains("Created: \"yesterday\" is not a date-time"), "\(error)")
            #expect(error.description.contains("line 18 (package left-pad): PackageDownloadLocation missing"), "\(error)")
        }
        let dangling = text.replacingOccurrences(of: "SPDXRef-app DEPENDS_ON SPDXRef-lp", with: "SPDXRef-app DEPENDS_ON SPDXRef-missing")
        do {
            _ = try SPDXTagValue.parse(dangling)
            Issue.record("accepted a dangling relationship")
        } catch {
            #expect(error.description.contains("line 28: SPDXRef-missing is not an element of this document"), "\(error)")
        }
        do {
            _ = try SPDXTagValue.parse(text + "\nPackageComment: <text>never closed\n")
            Issue.record("accepted an unterminated text block")
        } catch {
            #expect(error.description.contains("line 30: the <text> block of PackageComment has no </text>"), "\(error)")
        }
    }
}
