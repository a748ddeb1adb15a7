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
        // A structurally broken SPDX document: each problem is named with its place.
        var broken = try Self.load("spdx-2.3/github_dep_graph.spdx.json").objectValue!
        broken["spdxVersion"] = "SPDX-2.1"
        broken["relationships"] = [["spdxElementId": "SPDXRef-nope", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-DOCUMENT"]]
        do {
            _ = try parser.parse(.object(broken))
            Issue.record("accepted a broken document")
        } catch {
            #expect(error.description.contains("/spdxVersion"))
            #expect(error.description.contains("/relationships/0/spdxElementId: SPDXRef-nope is not a package of this document"))
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
}
