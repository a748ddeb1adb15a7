import Foundation
import StrataAtlasModel
import StrataCore
import Testing

/// Public SBOMs as a new user would bring them (spdx/spdx-examples, spdx/tools-python, SBOMs written
/// by syft and trivy, CycloneDX's own 1.2/1.3 test documents; Tests/Fixtures/sbom-conformance,
/// SOURCES.md says where each comes from). `expected.json` was written by `summarize.py`, which
/// reads the documents independently of Strata: which are valid, how many packages each has, and
/// how many package-to-package dependency relationships.
@Suite struct SBOMConformanceTests {
    static var folder: URL { Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/sbom-conformance") }

    struct Expectation {
        var file: String
        var valid: Bool
        var format: String?
        var packages: Int?
        var dependencies: Int?
        /// For an invalid document: the places of its problems (JSON pointers, or "line" for tag-value).
        var reasons: [String]
    }

    static func expectations() throws -> [Expectation] {
        let value = try JSONParser.parse(Array(try Data(contentsOf: folder.appendingPathComponent("expected.json"))))
        return (value.objectValue ?? [:]).sorted { $0.key < $1.key }.map { file, e in
            Expectation(file: file, valid: e["valid"]?.boolValue ?? false, format: e["format"]?.stringValue,
                packages: e["packages"]?.intValue, dependencies: e["dependencies"]?.intValue,
                reasons: e["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
    }

    static func parse(_ file: String, parser: SBOMParser) throws -> SBOMDocument {
        let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(file)))
        switch SBOMParser.sniff(bytes) {
        case .tagValue(let text):
            return try SPDXTagValue.parse(text).sbom
        case .json(let json):
            return try parser.parse(try JSONParser.parse(json)).sbom
        }
    }

    @Test func everyPublicDocumentIsReadOrRejectedWithItsReason() throws {
        let parser = SBOMParser(schemas: try Fixtures.schemas())
        let expectations = try Self.expectations()
        #expect(expectations.count >= 20)
        var accepted = 0
        for e in expectations {
            do {
                let sbom = try Self.parse(e.file, parser: parser)
                if !e.valid {
                    Issue.record("\(e.file) was accepted; expected a rejection naming one of \(e.reasons)")
                    continue
                }
                accepted += 1
                #expect(sbom.format.rawValue == e.format, "\(e.file)")
                if let packages = e.packages { #expect(sbom.packages.count == packages, "\(e.file): packages") }
                if let dependencies = e.dependencies {
                    #expect(Set(sbom.dependencies).count == dependencies, "\(e.file): dependencies")
                }
            } catch let error as SBOMError {
                if e.valid {
                    Issue.record("\(e.file) was rejected: \(error)")
                } else {
                    // Each reason names its place: a JSON pointer before ": ", or a tag-value line.
                    #expect(error.reasons.allSatisfy { $0.contains(": ") }, "\(e.file): \(error)")
                    #expect(e.reasons.contains { place in error.reasons.contains { $0.hasPrefix(place == "/" ? "/:" : place) } }, "\(e.file): \(error)")
                }
            }
        }
        #expect(accepted >= 15)
    }
}
