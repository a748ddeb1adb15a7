import Foundation
import StrataSeededRandom
import Testing

@testable import StrataCore

@Suite struct JSONParserTests {
    @Test func parsesAllValueKinds() throws {
        let value = try JSONParser.parse(#"{"a":[1,-2.5e3,true,false,null],"b":"x\u00e9\n","c":{}}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("xé\n"))
        #expect(value["c"] == .object([:]))
    }

    @Test func keepsLargeIntegersExact() throws {
        let value = try JSONParser.parse(#"{"amount": 9223372036854775807}"#)
        #expect(value["amount"]?.int64Value == Int64.max)
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test(arguments: [
        (#"{"a":1,}"#, 1, 8, "expected a string key"),
        ("{\n  \"a\": tru\n}", 2, 8, "invalid literal"),
        (#"[1, 2"#, 1, 6, "unexpected end of input"),
        (#"{"a":1} x"#, 1, 9, "after the end of the document"),
        (#"{"a":01}"#, 1, 7, "leading zero"),
        (#"{"a":1,"a":2}"#, 1, 8, "duplicate object key"),
        ("\"a\tb\"", 1, 3, "control character"),
        (#""\x""#, 1, 2, "invalid escape"),
        (#""\ud83d""#, 1, 8, "unpaired UTF-16 surrogate"),
    ])
    func reportsLineColumnAndReason(input: String, line: Int, column: Int, reason: String) {
        do {
            _ = try JSONParser.parse(input)
            Issue.record("expected an error for \(input)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.column == column, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
    }
}

@Suite struct JSONWriterTests {
    @Test func writesCanonicalSortedCompactJSON() throws {
        let value = try JSONParser.parse(#"{ "b": 1, "a": [ "x\"y", null ], "é": "\u0001" }"#)
        #expect(JSONWriter.string(value) == #"{"a":["x\"y",null],"b":1,"é":"\u0001"}"#)
    }

    /// Property: parse(write(v)) == v, and write is a fixed point, for random documents.
    @Test func roundTripsRandomDocuments() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<500 {
            let value = randomJSON(depth: 0, rng: &rng)
            let text = JSONWriter.bytes(value)
            let reparsed = try JSONParser.parse(text)
            #expect(reparsed == value)
            #expect(JSONWriter.bytes(reparsed) == text)
        }
    }

    /// Property: reading members by scanning gives what a full parse gives, for every top-level
    /// key and some absent ones, on random documents (strings with quotes, backslashes and
    /// brackets; nested objects and arrays) written compactly and with whitespace.
    @Test func membersMatchAFullParse() throws {
        var rng = SeededGenerator(seed: 7)
        for round in 0..<500 {
            var object: [String: JSONValue] = [:]
            for i in 0..<Int.random(in: 0..<6, using: &rng) { object["k\(i)"] = randomJSON(depth: 1, rng: &rng) }
            object["s"] = .string("}] \"{[\\")
            var text = JSONWriter.bytes(.object(object))
            if round % 2 == 1 {
                // The same document spread out: whitespace around every structural character.
                text = Array(String(decoding: text, as: UTF8.self)
                    .replacingOccurrences(of: ",\"", with: " ,\n \"").replacingOccurrences(of: "\":", with: "\" : ").utf8)
            }
            let names = ["k0", "k3", "s", "absent", "k1"]
            let scanned = try JSONParser.members(names, of: text)
            let parsed = try JSONParser.parse(text)
            #expect(scanned == names.map { parsed[$0] }, "\(String(decoding: text, as: UTF8.self))")
        }
    }

    @Test func membersOfNonObjectsAreNilAndMalformedObjectsThrow() throws {
        #expect(try JSONParser.members(["a"], of: Array("[1,2]".utf8)) == [nil])
        #expect(try JSONParser.members(["a", "b"], of: Array(#"{"b":2,"a":1}"#.utf8)) == [.number("1"), .number("2")])
        #expect(try JSONParser.members(["a", "b", "a"], of: Array(#"{"b":2,"a":1}"#.utf8)) == [.number("1"), .number("2"), .number("1")])
        // Canonically equivalent keys match, as in the parsed dictionary: decomposed é asked for as precomposed.
        #expect(try JSONParser.members(["\u{E9}"], of: Array("{\"e\u{301}\":7}".utf8)) == [.number("7")])
        #expect(throws: JSONSyntaxError.self) { try JSONParser.members(["a"], of: Array(#"{"x":,"a":1}"#.utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.members(["a"], of: Array(#"{"x":[1,"a":1}"#.utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.members(["a"], of: Array(#"{"x":"open}"#.utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.members(["a"], of: Array("[1,".utf8)) }
    }

    func randomJSON(depth: Int, rng: inout SeededGenerator) -> JSONValue {
        let kind = depth > 3 ? Int.random(in: 0..<4, using: &rng) : Int.random(in: 0..<6, using: &rng)
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(String(Int64.random(in: Int64.min...Int64.max, using: &rng)))
        case 3:
            let scalars = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in
                Character(Unicode.Scalar([0x01, 0x22, 0x5C, 0x41, 0xE9, 0x4E2D, 0x1F600, 0x0A].randomElement(using: &rng)!)!)
            }
            return .string(String(scalars))
        case 4: return .array((0..<Int.random(in: 0..<5, using: &rng)).map { _ in randomJSON(depth: depth + 1, rng: &rng) })
        default:
            var o: [String: JSONValue] = [:]
            for i in 0..<Int.random(in: 0..<5, using: &rng) { o["k\(i)\(Int.random(in: 0..<3, using: &rng))"] = randomJSON(depth: depth + 1, rng: &rng) }
            return .object(o)
        }
    }
}

@Suite struct RFC3339Tests {
    @Test func parsesAndFormats() throws {
        let d = try #require(RFC3339.parse("2026-11-23T18:45:33.25+01:00"))
        #expect(RFC3339.format(d) == "2026-11-23T17:45:33.250000Z")
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2023-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("2023-01-01 00:00:00") == nil)
        #expect(RFC3339.parse("2023-13-01T00:00:00Z") == nil)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }

    /// The caching writer gives `format`'s text for runs within a second, across second, day and
    /// year boundaries, and before 1970.
    @Test func cachingWriterMatchesFormat() {
        var writer = RFC3339.Writer()
        var rng = SeededGenerator(seed: 3)
        var instants: [Double] = [-1.5, -0.000001, 0, 0.25, 1_735_689_599.999999, 1_735_689_600, 1_735_689_600.000001]
        var t = 1_764_000_000.0
        for _ in 0..<2000 {
            t += Double(Int.random(in: 0..<400_000, using: &rng)) / 1_000_000
            instants.append(t)
        }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            var bytes: [UInt8] = []
            writer.write(date, into: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == RFC3339.format(date))
        }
    }
}
