import Foundation
import Testing

@testable import StrataCore

@Suite struct JSONSchemaTests {
    func registry(_ schema: String) throws -> SchemaRegistry {
        try SchemaRegistry(documents: [(uri: "test:s.json", document: try JSONParser.parse(schema))])
    }

    func violations(_ schema: String, _ instance: String) throws -> [SchemaViolation] {
        try registry(schema).validate(try JSONParser.parse(instance), against: "test:s.json")
    }

    @Test func typesAndRequired() throws {
        let schema = #"{"type":"object","required":["a"],"properties":{"a":{"type":"integer"},"b":{"type":["string","null"]}}}"#
        #expect(try violations(schema, #"{"a":1,"b":null}"#).isEmpty)
        #expect(try violations(schema, #"{"a":1.0}"#).isEmpty)
        let missing = try violations(schema, #"{"b":"x"}"#)
        #expect(missing.map(\.message) == ["missing required property 'a'"])
        let wrong = try violations(schema, #"{"a":1.5,"b":3}"#)
        #expect(wrong.map(\.instancePath) == ["/a", "/b"])
        #expect(wrong[0].message == "expected integer, found number")
    }

    @Test func stringsNumbersArrays() throws {
        let schema = #"""
            {"type":"object","additionalProperties":false,"properties":{
              "s":{"type":"string","minLength":2,"maxLength":3,"pattern":"^[a-z]+$"},
              "n":{"type":"number","minimum":0,"exclusiveMaximum":10,"multipleOf":0.5},
              "a":{"type":"array","items":{"type":"integer"},"minItems":1,"uniqueItems":true},
              "e":{"enum":["x",1]},"c":{"const":{"k":[1]}},
              "t":{"type":"string","format":"date-time"}}}
            """#
        #expect(try violations(schema, #"{"s":"ab","n":9.5,"a":[1,2],"e":1,"c":{"k":[1.0]},"t":"2020-01-01T00:00:00Z"}"#).isEmpty)
        let v = try violations(schema, #"{"s":"ABCD","n":10,"a":[1,1],"e":"y","c":{"k":[]},"t":"yesterday","z":0}"#)
        #expect(Set(v.map(\.keyword)) == ["maxLength", "pattern", "exclusiveMaximum", "uniqueItems", "enum", "const", "format", "additionalProperties"])
    }

    @Test func combinatorsAndRefs() throws {
        let schema = ##"""
            {"definitions":{"pos":{"type":"integer","minimum":1},
                            "node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/definitions/node"}},
                                                                  "v":{"$ref":"#/definitions/pos"}}}},
             "type":"object","properties":{
               "one":{"oneOf":[{"type":"string"},{"type":"integer"}]},
               "any":{"anyOf":[{"const":1},{"const":2}]},
               "not":{"not":{"type":"null"}},
               "cond":{"if":{"properties":{"kind":{"const":"a"}}},"then":{"required":["x"]},"else":{"required":["y"]}},
               "tree":{"$ref":"#/definitions/node"}}}
            """##
        #expect(try violations(schema, #"{"one":"s","any":2,"not":1,"cond":{"kind":"a","x":1},"tree":{"kids":[{"v":3,"kids":[]}]}}"#).isEmpty)
        let v = try violations(schema, #"{"one":1.5,"any":3,"not":null,"cond":{"kind":"b"},"tree":{"kids":[{"v":0}]}}"#)
        #expect(v.map(\.instancePath).sorted() == ["/any", "/cond", "/not", "/one", "/tree/kids/0/v"])
    }

    @Test func crossDocumentRefsResolveByID() throws {
        let spdx = #"{"$id":"http://example.com/spdx.schema.json","enum":["MIT","Apache-2.0"]}"#
        let bom = #"{"$id":"http://example.com/bom.schema.json","properties":{"license":{"$ref":"spdx.schema.json"}}}"#
        let r = try SchemaRegistry(documents: [(uri: "a", document: try JSONParser.parse(spdx)), (uri: "b", document: try JSONParser.parse(bom))])
        #expect(r.validate(try JSONParser.parse(#"{"license":"MIT"}"#), against: "http://example.com/bom.schema.json").isEmpty)
        #expect(r.validate(try JSONParser.parse(#"{"license":"GPL"}"#), against: "b").count == 1)
    }

    @Test func unresolvableRefIsASchemaError() {
        #expect(throws: SchemaDefinitionError.self) { try registry(##"{"$ref":"#/definitions/missing"}"##) }
    }

    /// The CycloneDX 1.6 conformance set: every valid-* accepted, every invalid-* rejected.
    @Test func cycloneDXConformance() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var dir = root.deletingLastPathComponent().appendingPathComponent("shared/data/atlas/sbom/cyclonedx-1.6")
        if !FileManager.default.fileExists(atPath: dir.path) {
            dir = root.appendingPathComponent("Tests/Fixtures/shared-data/atlas/sbom/cyclonedx-1.6")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        var documents: [(uri: String, document: JSONValue)] = []
        for f in files where f.hasSuffix(".schema.json") {
            documents.append((uri: f, document: try JSONParser.parse(Array(try Data(contentsOf: dir.appendingPathComponent(f))))))
        }
        let registry = try SchemaRegistry(documents: documents)
        var checked = 0
        for f in files where f.hasPrefix("valid-") || f.hasPrefix("invalid-") {
            let doc = try JSONParser.parse(Array(try Data(contentsOf: dir.appendingPathComponent(f))))
            let v = registry.validate(doc, against: "http://cyclonedx.org/schema/bom-1.6.schema.json")
            if f.hasPrefix("valid-") {
                #expect(v.isEmpty, "\(f): \(v)")
            } else {
                #expect(!v.isEmpty, "\(f) was accepted")
            }
            checked += 1
        }
        #expect(checked == 70)
    }
}

@Suite struct TopologyTests {
    @Test func parsesTopics() throws {
        let t = try Topology.parse("""
            topics:
              ledger:
                partitions: 8
                types: [stellar.ledger.closed]
                max_payload_bytes: 1000
              sbom: {partitions: 2}
            """, source: "t.yaml")
        #expect(t.topics["ledger"] == TopicSpec(name: "ledger", partitions: 8, eventTypes: ["stellar.ledger.closed"], maxPayloadBytes: 1000))
        #expect(t.topics["sbom"]?.partitions == 2)
    }

    @Test(arguments: [
        ("topics:\n  a:\n    partitions: 0\n", 3, "partitions must be an integer from 1 to 1024"),
        ("topics:\n  a:\n    partitions: 2\n    partitons: 3\n", 4, "unknown key 'partitons'"),
        ("topics:\n  a:\n    types: []\n", 3, "missing 'partitions'"),
        ("topicz:\n  a: {partitions: 1}\n", 1, "unknown key 'topicz'"),
        ("topics:\n  Bad Name:\n    partitions: 1\n", 2, "invalid topic name"),
        ("topics:\n  a:\n    partitions: [1\n", 4, "not valid YAML"),
        ("topics:\n  a:\n    partitions: many\n", 3, "got 'many'"),
    ])
    func errorsNameTheLine(text: String, line: Int, reason: String) {
        do {
            _ = try Topology.parse(text, source: "t.yaml")
            Issue.record("accepted: \(text)")
        } catch let error as StrataError {
            #expect(error.code == .invalidTopology)
            #expect(error.location?.line == line, "\(error)")
            #expect(error.message.contains(reason), "\(error)")
            #expect(error.description.hasPrefix("t.yaml:\(line)"), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func repositoryTopologyAndSchemasAgree() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let topology = try Topology.load(from: root.appendingPathComponent("topology/topics.yaml"))
        let schemas = try SchemaCatalog.load(from: root.appendingPathComponent("schemas"))
        for topic in topology.sortedTopics {
            for type in topic.eventTypes { #expect(schemas.versions[type] != nil, "\(topic.name): \(type) has no schema") }
        }
    }
}

@Suite struct PartitionerTests {
    /// Kafka's UtilsTest.testMurmur2 vectors: keys land where Kafka's Java client puts them.
    @Test(arguments: [
        ("21", Int32(-973_932_308)), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func murmur2MatchesKafka(key: String, hash: Int32) {
        #expect(Partitioner.murmur2(Array(key.utf8)) == hash)
    }

    /// Kafka's default partitioner: `toPositive(murmur2(key)) % partitions`, computed here from the
    /// hash (checked against Kafka's vectors above), so a topic moves between backends unre-keyed;
    /// and every partition gets keys.
    @Test func partitionsFollowKafkasFormulaAndSpread() {
        var used = Set<Int>()
        for i in 0..<1000 {
            let key = "key-\(i)"
            let p = Partitioner.partition(forKey: key, partitions: 7)
            #expect((0..<7).contains(p))
            let hash: Int32 = Partitioner.murmur2(Array(key.utf8))
            let positive = Int(hash & 0x7fff_ffff)
            #expect(p == positive % 7, "\(key)")
            used.insert(p)
        }
        #expect(used.count == 7)
    }
}

@Suite struct PayloadCodecTests {
    @Test func compressesLargePayloadsOnly() throws {
        let small = Array(#"{"a":1}"#.utf8)
        #expect(PayloadCodec.encode(small).1 == .none)
        let large = Array(("[" + Array(repeating: #"{"amount":12345,"note":"hello"}"#, count: 500).joined(separator: ",") + "]").utf8)
        let (stored, compression) = PayloadCodec.encode(large)
        #expect(compression == .zstd)
        #expect(stored.count < large.count / 10)
        #expect(try PayloadCodec.decode(stored, compression) == large)
    }

    @Test func corruptFramesAreErrors() {
        #expect(throws: StrataError.self) { try PayloadCodec.decode([1, 2, 3, 4, 5, 6, 7, 8, 9], .zstd) }
    }
}
