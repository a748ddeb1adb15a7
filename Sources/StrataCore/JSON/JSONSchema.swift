import Foundation

/// One reason an instance does not match a schema: where in the instance (a JSON Pointer) and why.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    public var instancePath: String
    public var keyword: String
    public var message: String

    public var description: String {
        "\(instancePath.isEmpty ? "/" : instancePath): \(message)"
    }
}

/// An error in a schema document itself (not in an instance).
public struct SchemaDefinitionError: Error, Sendable, CustomStringConvertible {
    public var location: String
    public var reason: String
    public var description: String { "invalid JSON Schema at \(location): \(reason)" }
}

/// A JSON Schema validator for the keywords of draft-07 and draft 2020-12 that Strata's schemas and
/// the CycloneDX/SPDX schemas use. No validator exists in the package mirror, so this is the subset:
/// type, enum, const, properties, patternProperties, additionalProperties, required, propertyNames,
/// min/maxProperties, dependencies/dependentRequired/dependentSchemas, items (schema or tuple),
/// prefixItems, additionalItems, contains, min/maxItems, uniqueItems, min/maxLength, pattern, format
/// (date-time, date, time, email, idn-email, uri, uri-reference, iri-reference, uuid, ipv4, hostname),
/// minimum, maximum, exclusiveMinimum/Maximum (both drafts' forms), multipleOf, allOf, anyOf, oneOf,
/// not, if/then/else, $ref (JSON Pointer fragments, $id-based and cross-document), $defs/definitions.
public final class SchemaRegistry: Sendable {
    private let nodes: [String: SchemaNode]

    /// Builds a registry from schema documents. Each document is registered under its `$id` (or the
    /// given fallback URI) and every subschema under its JSON Pointer, so `$ref`s resolve in O(1).
    public init(documents: [(uri: String, document: JSONValue)]) throws {
        var table: [String: SchemaNode] = [:]
        for (uri, document) in documents {
            let base = SchemaRegistry.normalize(document["$id"]?.stringValue ?? uri)
            try SchemaCompiler.compile(document, base: base, pointer: "", into: &table)
            if base != SchemaRegistry.normalize(uri) {
                try SchemaCompiler.compile(document, base: SchemaRegistry.normalize(uri), pointer: "", into: &table)
            }
        }
        self.nodes = table
        for node in table.values { node.checkRefs(in: table) }
        if let unresolved = table.values.lazy.compactMap({ $0.unresolvedRef }).first {
            throw SchemaDefinitionError(location: unresolved.location, reason: "unresolvable $ref '\(unresolved.ref)'")
        }
    }

    /// Validates an instance against the schema registered under `uri`; returns at most `limit` violations.
    public func validate(_ instance: JSONValue, against uri: String, limit: Int = 10) -> [SchemaViolation] {
        guard let root = nodes[SchemaRegistry.normalize(uri)] else {
            return [SchemaViolation(instancePath: "", keyword: "$ref", message: "no schema registered as '\(uri)'")]
        }
        var context = ValidationContext(nodes: nodes, limit: limit)
        var path: [String] = []
        _ = context.validate(instance, root, path: &path)
        return context.violations
    }

    public func contains(_ uri: String) -> Bool { nodes[SchemaRegistry.normalize(uri)] != nil }

    /// Drops an empty fragment (`x.json#` -> `x.json`) so both spellings find the same node.
    static func normalize(_ uri: String) -> String {
        uri.hasSuffix("#") ? String(uri.dropLast()) : uri
    }

    /// Resolves a `$ref` against the base URI of the schema it appears in.
    static func resolve(_ ref: String, base: String) -> String {
        if ref.hasPrefix("#") { return normalize(documentPart(base) + ref) }
        if ref.contains("://") || ref.hasPrefix("urn:") { return normalize(ref) }
        // Relative reference: replace the last path segment of the base document.
        let doc = documentPart(base)
        let (refDoc, fragment) = splitFragment(ref)
        let dir = doc.contains("/") ? String(doc[...doc.lastIndex(of: "/")!]) : ""
        return normalize(dir + refDoc + (fragment.isEmpty ? "" : "#" + fragment))
    }

    static func documentPart(_ uri: String) -> String { splitFragment(uri).0 }

    static func splitFragment(_ uri: String) -> (String, String) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, "") }
        return (String(uri[..<hash]), String(uri[uri.index(after: hash)...]))
    }
}

/// A compiled subschema. Immutable after the registry is built; `$ref` targets are looked up by URI at
/// validation time so recursive schemas need no cycles between objects.
final class SchemaNode: Sendable {
    let location: String
    let alwaysValid: Bool?
    let ref: String?
    let types: [String]?
    let enumValues: [JSONValue]?
    let constValue: JSONValue?
    let properties: [String: SchemaNode]
    let patternProperties: [(regex: PatternRegex, schema: SchemaNode)]
    let additionalProperties: SchemaNode?
    let required: [String]
    let propertyNames: SchemaNode?
    let minProperties: Int?
    let maxProperties: Int?
    let dependentRequired: [String: [String]]
    let dependentSchemas: [String: SchemaNode]
    let items: SchemaNode?
    let tupleItems: [SchemaNode]?
    let additionalItems: SchemaNode?
    let contains: SchemaNode?
    let minItems: Int?
    let maxItems: Int?
    let uniqueItems: Bool
    let minLength: Int?
    let maxLength: Int?
    let pattern: PatternRegex?
    let format: String?
    let minimum: Double?
    let maximum: Double?
    let exclusiveMinimum: Double?
    let exclusiveMaximum: Double?
    let multipleOf: Double?
    let allOf: [SchemaNode]
    let anyOf: [SchemaNode]?
    let oneOf: [SchemaNode]?
    let not: SchemaNode?
    let ifSchema: SchemaNode?
    let thenSchema: SchemaNode?
    let elseSchema: SchemaNode?
    // Set once by `checkRefs` before the registry is published; read-only afterwards.
    nonisolated(unsafe) var unresolvedRef: (ref: String, location: String)?

    init(builder b: SchemaCompiler.Builder) {
        location = b.location
        alwaysValid = b.alwaysValid
        ref = b.ref
        types = b.types
        enumValues = b.enumValues
        constValue = b.constValue
        properties = b.properties
        patternProperties = b.patternProperties
        additionalProperties = b.additionalProperties
        required = b.required
        propertyNames = b.propertyNames
        minProperties = b.minProperties
        maxProperties = b.maxProperties
        dependentRequired = b.dependentRequired
        dependentSchemas = b.dependentSchemas
        items = b.items
        tupleItems = b.tupleItems
        additionalItems = b.additionalItems
        contains = b.contains
        minItems = b.minItems
        maxItems = b.maxItems
        uniqueItems = b.uniqueItems
        minLength = b.minLength
        maxLength = b.maxLength
        pattern = b.pattern
        format = b.format
        minimum = b.minimum
        maximum = b.maximum
        exclusiveMinimum = b.exclusiveMinimum
        exclusiveMaximum = b.exclusiveMaximum
        multipleOf = b.multipleOf
        allOf = b.allOf
        anyOf = b.anyOf
        oneOf = b.oneOf
        not = b.not
        ifSchema = b.ifSchema
        thenSchema = b.thenSchema
        elseSchema = b.elseSchema
    }

    func checkRefs(in table: [String: SchemaNode]) {
        if let ref, table[ref] == nil { unresolvedRef = (ref, location) }
    }
}

/// A compiled ECMA-262-ish pattern. NSRegularExpression is thread-safe for matching (Foundation
/// documents it as immutable and safe to share), which is why this box may be Sendable.
struct PatternRegex: @unchecked Sendable {
    let source: String
    let regex: NSRegularExpression

    init(_ source: String) throws {
        self.source = source
        // JSON Schema patterns are unanchored searches; translate the ECMA-only `\p{L}`-free subset as is.
        self.regex = try NSRegularExpression(pattern: source, options: [])
    }

    func matches(_ s: String) -> Bool {
        let range = NSRange(s.startIndex..<s.endIndex, in: s)
        return regex.firstMatch(in: s, options: [], range: range) != nil
    }
}

enum SchemaCompiler {
    struct Builder {
        var location = ""
        var alwaysValid: Bool?
        var ref: String?
        var types: [String]?
        var enumValues: [JSONValue]?
        var constValue: JSONValue?
        var properties: [String: SchemaNode] = [:]
        var patternProperties: [(regex: PatternRegex, schema: SchemaNode)] = []
        var additionalProperties: SchemaNode?
        var required: [String] = []
        var propertyNames: SchemaNode?
        var minProperties: Int?
        var maxProperties: Int?
        var dependentRequired: [String: [String]] = [:]
        var dependentSchemas: [String: SchemaNode] = [:]
        var items: SchemaNode?
        var tupleItems: [SchemaNode]?
        var additionalItems: SchemaNode?
        var contains: SchemaNode?
        var minItems: Int?
        var maxItems: Int?
        var uniqueItems = false
        var minLength: Int?
        var maxLength: Int?
        var pattern: PatternRegex?
        var format: String?
        var minimum: Double?
        var maximum: Double?
        var exclusiveMinimum: Double?
        var exclusiveMaximum: Double?
        var multipleOf: Double?
        var allOf: [SchemaNode] = []
        var anyOf: [SchemaNode]?
        var oneOf: [SchemaNode]?
        var not: SchemaNode?
        var ifSchema: SchemaNode?
        var thenSchema: SchemaNode?
        var elseSchema: SchemaNode?
    }

    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    @discardableResult
    static func compile(_ schema: JSONValue, base: String, pointer: String, into table: inout [String: SchemaNode]) throws -> SchemaNode {
        var b = Builder()
        var base = base
        let here = { (p: String) in base + "#" + p }
        b.location = here(pointer)
        func fail(_ keyword: String, _ reason: String) -> SchemaDefinitionError {
            SchemaDefinitionError(location: here(pointer + "/" + keyword), reason: reason)
        }
        func sub(_ value: JSONValue, _ suffix: String) throws -> SchemaNode {
            try compile(value, base: base, pointer: pointer + "/" + suffix, into: &table)
        }
        func number(_ keyword: String) throws -> Double? {
            guard let v = schema[keyword] else { return nil }
            guard let d = v.doubleValue else { throw fail(keyword, "expected a number") }
            return d
        }
        func count(_ keyword: String) throws -> Int? {
            guard let v = schema[keyword] else { return nil }
            guard let n = v.intValue, n >= 0 else { throw fail(keyword, "expected a non-negative integer") }
            return n
        }

        switch schema {
        case .bool(let flag):
            b.alwaysValid = flag
        case .object(let o):
            if let id = o["$id"]?.stringValue, !id.hasPrefix("#") {
                let resolved = SchemaRegistry.resolve(id, base: base)
                base = SchemaRegistry.documentPart(resolved)
            }
            if let ref = o["$ref"] {
                guard let r = ref.stringValue else { throw fail("$ref", "expected a string") }
                b.ref = SchemaRegistry.resolve(r, base: base)
            }
            if let t = o["type"] {
                switch t {
                case .string(let s): b.types = [s]
                case .array(let a): b.types = a.compactMap(\.stringValue)
                default: throw fail("type", "expected a string or an array of strings")
                }
            }
            if let e = o["enum"] {
                guard let a = e.arrayValue else { throw fail("enum", "expected an array") }
                b.enumValues = a
            }
            b.constValue = o["const"]
            if let p = o["properties"] {
                guard let props = p.objectValue else { throw fail("properties", "expected an object") }
                for (name, s) in props { b.properties[name] = try sub(s, "properties/" + escape(name)) }
            }
            if let p = o["patternProperties"] {
                guard let props = p.objectValue else { throw fail("patternProperties", "expected an object") }
                for (pat, s) in props.sorted(by: { $0.key < $1.key }) {
                    let regex: PatternRegex
                    do { regex = try PatternRegex(pat) } catch { throw fail("patternProperties", "bad pattern '\(pat)'") }
                    b.patternProperties.append((regex, try sub(s, "patternProperties/" + escape(pat))))
                }
            }
            if let a = o["additionalProperties"] { b.additionalProperties = try sub(a, "additionalProperties") }
            if let r = o["required"] {
                guard let a = r.arrayValue else { throw fail("required", "expected an array of strings") }
                b.required = a.compactMap(\.stringValue)
            }
            if let p = o["propertyNames"] { b.propertyNames = try sub(p, "propertyNames") }
            b.minProperties = try count("minProperties")
            b.maxProperties = try count("maxProperties")
            for keyword in ["dependencies", "dependentRequired", "dependentSchemas"] {
                guard let d = o[keyword]?.objectValue else { continue }
                for (name, v) in d {
                    if let a = v.arrayValue {
                        b.dependentRequired[name] = a.compactMap(\.stringValue)
                    } else {
                        b.dependentSchemas[name] = try sub(v, keyword + "/" + escape(name))
                    }
                }
            }
            if let prefix = o["prefixItems"]?.arrayValue {
                b.tupleItems = try prefix.enumerated().map { try sub($0.element, "prefixItems/\($0.offset)") }
                if let items = o["items"] { b.additionalItems = try sub(items, "items") }
            } else if let items = o["items"] {
                if let tuple = items.arrayValue {
                    b.tupleItems = try tuple.enumerated().map { try sub($0.element, "items/\($0.offset)") }
                    if let extra = o["additionalItems"] { b.additionalItems = try sub(extra, "additionalItems") }
                } else {
                    b.items = try sub(items, "items")
                }
            }
            if let c = o["contains"] { b.contains = try sub(c, "contains") }
            b.minItems = try count("minItems")
            b.maxItems = try count("maxItems")
            b.uniqueItems = o["uniqueItems"]?.boolValue ?? false
            b.minLength = try count("minLength")
            b.maxLength = try count("maxLength")
            if let p = o["pattern"] {
                guard let s = p.stringValue else { throw fail("pattern", "expected a string") }
                do { b.pattern = try PatternRegex(s) } catch { throw fail("pattern", "bad regular expression '\(s)'") }
            }
            b.format = o["format"]?.stringValue
            b.minimum = try number("minimum")
            b.maximum = try number("maximum")
            b.multipleOf = try number("multipleOf")
            // draft-04 spelled exclusiveMinimum as a boolean modifier of minimum.
            if case .bool(true) = o["exclusiveMinimum"] {
                b.exclusiveMinimum = b.minimum
                b.minimum = nil
            } else {
                b.exclusiveMinimum = o["exclusiveMinimum"]?.doubleValue
            }
            if case .bool(true) = o["exclusiveMaximum"] {
                b.exclusiveMaximum = b.maximum
                b.maximum = nil
            } else {
                b.exclusiveMaximum = o["exclusiveMaximum"]?.doubleValue
            }
            func list(_ keyword: String) throws -> [SchemaNode]? {
                guard let v = o[keyword] else { return nil }
                guard let a = v.arrayValue, !a.isEmpty else { throw fail(keyword, "expected a non-empty array of schemas") }
                return try a.enumerated().map { try sub($0.element, "\(keyword)/\($0.offset)") }
            }
            b.allOf = try list("allOf") ?? []
            b.anyOf = try list("anyOf")
            b.oneOf = try list("oneOf")
            if let n = o["not"] { b.not = try sub(n, "not") }
            if let i = o["if"] {
                b.ifSchema = try sub(i, "if")
                if let t = o["then"] { b.thenSchema = try sub(t, "then") }
                if let e = o["else"] { b.elseSchema = try sub(e, "else") }
            }
            // Definitions are compiled so that their pointers resolve even when nothing else mentions them.
            for keyword in ["definitions", "$defs"] {
                guard let defs = o[keyword]?.objectValue else { continue }
                for (name, s) in defs { _ = try sub(s, keyword + "/" + escape(name)) }
            }
        default:
            throw SchemaDefinitionError(location: here(pointer), reason: "a schema must be an object or a boolean")
        }
        let node = SchemaNode(builder: b)
        table[SchemaRegistry.normalize(here(pointer))] = node
        if pointer.isEmpty { table[SchemaRegistry.normalize(base)] = node }
        if let anchor = schema["$anchor"]?.stringValue { table[base + "#" + anchor] = node }
        if let id = schema["$id"]?.stringValue, id.hasPrefix("#") { table[base + id] = node }
        return node
    }
}

struct ValidationContext {
    let nodes: [String: SchemaNode]
    let limit: Int
    var violations: [SchemaViolation] = []
    /// While > 0, violations are only counted (inside anyOf/oneOf/not/if branches).
    private var probing = 0
    private var refDepth = 0

    init(nodes: [String: SchemaNode], limit: Int) {
        self.nodes = nodes
        self.limit = limit
    }

    private static func pointer(_ path: [String]) -> String {
        path.isEmpty ? "" : "/" + path.map(SchemaCompiler.escape).joined(separator: "/")
    }

    private mutating func report(_ path: [String], _ keyword: String, _ message: String) {
        if probing == 0, violations.count < limit {
            violations.append(SchemaViolation(instancePath: ValidationContext.pointer(path), keyword: keyword, message: message))
        }
    }

    /// Validates without reporting: used for the branches of anyOf/oneOf/not/if.
    private mutating func probe(_ instance: JSONValue, _ node: SchemaNode, path: inout [String]) -> Bool {
        probing += 1
        defer { probing -= 1 }
        return validate(instance, node, path: &path)
    }

    /// Returns whether the instance is valid. Stops descending once `limit` violations are reported.
    mutating func validate(_ instance: JSONValue, _ node: SchemaNode, path: inout [String]) -> Bool {
        if let flag = node.alwaysValid {
            if !flag { report(path, "false", "no value is allowed here") }
            return flag
        }
        var valid = true
        if let ref = node.ref, let target = nodes[ref] {
            refDepth += 1
            defer { refDepth -= 1 }
            if refDepth > 256 {
                report(path, "$ref", "schema recursion deeper than 256 levels")
                return false
            }
            if !validate(instance, target, path: &path) { valid = false }
        }
        if let types = node.types, !types.contains(where: { ValidationContext.matches(instance, type: $0) }) {
            report(path, "type", "expected \(types.joined(separator: " or ")), found \(instance.typeName)")
            return false
        }
        if let values = node.enumValues, !values.contains(where: { ValidationContext.equal($0, instance) }) {
            let shown = values.prefix(8).map(\.description).joined(separator: ", ")
            report(path, "enum", "value \(ValidationContext.short(instance)) is not one of [\(shown)\(values.count > 8 ? ", ..." : "")]")
            valid = false
        }
        if let c = node.constValue, !ValidationContext.equal(c, instance) {
            report(path, "const", "expected \(c.description), found \(ValidationContext.short(instance))")
            valid = false
        }
        switch instance {
        case .object(let members): valid = validateObject(members, node, path: &path) && valid
        case .array(let elements): valid = validateArray(elements, node, path: &path) && valid
        case .string(let s): valid = validateString(s, node, path: path) && valid
        case .number(let text): valid = validateNumber(text, node, path: path) && valid
        default: break
        }
        for s in node.allOf where !validate(instance, s, path: &path) {
            valid = false
        }
        if let anyOf = node.anyOf {
            if !anyOf.contains(where: { probe(instance, $0, path: &path) }) {
                report(path, "anyOf", "does not match any of the \(anyOf.count) allowed shapes\(closestHint(instance, anyOf, path: &path))")
                valid = false
            }
        }
        if let oneOf = node.oneOf {
            let matching = oneOf.filter { probe(instance, $0, path: &path) }.count
            if matching != 1 {
                report(path, "oneOf", matching == 0
                    ? "does not match any of the \(oneOf.count) allowed shapes\(closestHint(instance, oneOf, path: &path))"
                    : "matches \(matching) of the allowed shapes, but must match exactly one")
                valid = false
            }
        }
        if let n = node.not, probe(instance, n, path: &path) {
            report(path, "not", "matches a shape that is not allowed")
            valid = false
        }
        if let i = node.ifSchema {
            if probe(instance, i, path: &path) {
                if let t = node.thenSchema, !validate(instance, t, path: &path) { valid = false }
            } else if let e = node.elseSchema, !validate(instance, e, path: &path) {
                valid = false
            }
        }
        return valid
    }

    /// For a failed anyOf/oneOf, names the first reason of the branch that got furthest, so the
    /// message says more than "no match".
    private mutating func closestHint(_ instance: JSONValue, _ branches: [SchemaNode], path: inout [String]) -> String {
        guard probing == 0 else { return "" }
        var best: SchemaViolation?
        var bestDepth = -1
        for branch in branches {
            var inner = ValidationContext(nodes: nodes, limit: 1)
            var p = path
            _ = inner.validate(instance, branch, path: &p)
            if let v = inner.violations.first {
                let depth = v.instancePath.split(separator: "/").count
                if depth > bestDepth {
                    best = v
                    bestDepth = depth
                }
            }
        }
        guard let best else { return "" }
        return " (closest: \(best.description))"
    }

    private mutating func validateObject(_ members: [String: JSONValue], _ node: SchemaNode, path: inout [String]) -> Bool {
        var valid = true
        for name in node.required where members[name] == nil {
            report(path, "required", "missing required property '\(name)'")
            valid = false
        }
        if let min = node.minProperties, members.count < min {
            report(path, "minProperties", "has \(members.count) properties, fewer than the minimum \(min)")
            valid = false
        }
        if let max = node.maxProperties, members.count > max {
            report(path, "maxProperties", "has \(members.count) properties, more than the maximum \(max)")
            valid = false
        }
        for (name, deps) in node.dependentRequired where members[name] != nil {
            for d in deps where members[d] == nil {
                report(path, "dependentRequired", "property '\(name)' requires property '\(d)'")
                valid = false
            }
        }
        for (name, s) in node.dependentSchemas where members[name] != nil {
            if !validate(.object(members), s, path: &path) { valid = false }
        }
        // Sorted so that the first violations reported are deterministic.
        for name in members.keys.sorted() {
            if violations.count >= limit && probing == 0 { return false }
            let value = members[name]!
            if let pn = node.propertyNames, !probe(.string(name), pn, path: &path) {
                report(path, "propertyNames", "property name '\(name)' is not allowed")
                valid = false
            }
            path.append(name)
            defer { path.removeLast() }
            var matched = false
            if let s = node.properties[name] {
                matched = true
                if !validate(value, s, path: &path) { valid = false }
            }
            for (regex, s) in node.patternProperties where regex.matches(name) {
                matched = true
                if !validate(value, s, path: &path) { valid = false }
            }
            if !matched, let extra = node.additionalProperties {
                if extra.alwaysValid == false {
                    path.removeLast()
                    report(path, "additionalProperties", "unexpected property '\(name)'")
                    path.append(name)
                    valid = false
                } else if !validate(value, extra, path: &path) {
                    valid = false
                }
            }
        }
        return valid
    }

    private mutating func validateArray(_ elements: [JSONValue], _ node: SchemaNode, path: inout [String]) -> Bool {
        var valid = true
        if let min = node.minItems, elements.count < min {
            report(path, "minItems", "has \(elements.count) items, fewer than the minimum \(min)")
            valid = false
        }
        if let max = node.maxItems, elements.count > max {
            report(path, "maxItems", "has \(elements.count) items, more than the maximum \(max)")
            valid = false
        }
        if node.uniqueItems {
            var seen = Set<JSONValue>()
            for (i, e) in elements.enumerated() where !seen.insert(ValidationContext.canonicalNumbers(e)).inserted {
                report(path, "uniqueItems", "item \(i) duplicates an earlier item")
                valid = false
                break
            }
        }
        for (i, e) in elements.enumerated() {
            if violations.count >= limit && probing == 0 { return false }
            let schema: SchemaNode?
            if let tuple = node.tupleItems {
                schema = i < tuple.count ? tuple[i] : node.additionalItems
            } else {
                schema = node.items
            }
            guard let schema else { continue }
            path.append(String(i))
            if !validate(e, schema, path: &path) { valid = false }
            path.removeLast()
        }
        if let c = node.contains, !elements.contains(where: { probe($0, c, path: &path) }) {
            report(path, "contains", "no item matches the required shape")
            valid = false
        }
        return valid
    }

    private mutating func validateString(_ s: String, _ node: SchemaNode, path: [String]) -> Bool {
        var valid = true
        if node.minLength != nil || node.maxLength != nil {
            let length = s.unicodeScalars.count
            if let min = node.minLength, length < min {
                report(path, "minLength", "string of length \(length) is shorter than \(min)")
                valid = false
            }
            if let max = node.maxLength, length > max {
                report(path, "maxLength", "string of length \(length) is longer than \(max)")
                valid = false
            }
        }
        if let p = node.pattern, !p.matches(s) {
            report(path, "pattern", "\(ValidationContext.short(.string(s))) does not match the pattern \(p.source)")
            valid = false
        }
        if let f = node.format, !FormatChecker.check(s, format: f) {
            report(path, "format", "\(ValidationContext.short(.string(s))) is not a valid \(f)")
            valid = false
        }
        return valid
    }

    private mutating func validateNumber(_ text: String, _ node: SchemaNode, path: [String]) -> Bool {
        guard let d = Double(text) else { return true }
        var valid = true
        if let m = node.minimum, d < m {
            report(path, "minimum", "\(text) is less than the minimum \(JSONValue.double(m))")
            valid = false
        }
        if let m = node.maximum, d > m {
            report(path, "maximum", "\(text) is greater than the maximum \(JSONValue.double(m))")
            valid = false
        }
        if let m = node.exclusiveMinimum, d <= m {
            report(path, "exclusiveMinimum", "\(text) must be greater than \(JSONValue.double(m))")
            valid = false
        }
        if let m = node.exclusiveMaximum, d >= m {
            report(path, "exclusiveMaximum", "\(text) must be less than \(JSONValue.double(m))")
            valid = false
        }
        if let m = node.multipleOf, m > 0 {
            let q = d / m
            if abs(q - q.rounded()) > 1e-9 {
                report(path, "multipleOf", "\(text) is not a multiple of \(JSONValue.double(m))")
                valid = false
            }
        }
        return valid
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .number):
            return true
        case ("integer", .number(let text)): return JSONValue.isIntegerLiteral(text)
        default: return false
        }
    }

    /// JSON Schema equality: numbers compare by value (1 == 1.0), everything else structurally.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        canonicalNumbers(a) == canonicalNumbers(b)
    }

    static func canonicalNumbers(_ v: JSONValue) -> JSONValue {
        switch v {
        case .number(let text):
            if let i = Int64(text) { return .number(String(i)) }
            if let d = Double(text) { return JSONValue.double(d) }
            return v
        case .array(let a): return .array(a.map(canonicalNumbers))
        case .object(let o): return .object(o.mapValues(canonicalNumbers))
        default: return v
        }
    }

    static func short(_ v: JSONValue) -> String {
        let text = v.description
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }
}

/// The `format` checks that matter for the schemas in use. Unknown formats are annotations and pass.
enum FormatChecker {
    static func check(_ s: String, format: String) -> Bool {
        switch format {
        case "date-time": return RFC3339.parse(s) != nil
        case "date": return RFC3339.parseDate(s) != nil
        case "time": return RFC3339.parse("1970-01-01T" + s) != nil
        case "email", "idn-email":
            guard let at = s.firstIndex(of: "@") else { return false }
            return at != s.startIndex && s.index(after: at) != s.endIndex && !s.contains(" ")
        case "uri", "iri":
            guard let colon = s.firstIndex(of: ":"), colon != s.startIndex else { return false }
            let scheme = s[..<colon]
            return scheme.first!.isLetter && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
                && !s.contains(" ")
        case "uri-reference", "iri-reference": return !s.contains(where: \.isWhitespace)
        case "uuid":
            let hexes = s.split(separator: "-", omittingEmptySubsequences: false)
            return hexes.map(\.count) == [8, 4, 4, 4, 12] && hexes.allSatisfy { $0.allSatisfy(\.isHexDigit) }
        case "ipv4":
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts.allSatisfy { p in
                p.count <= 3 && !p.isEmpty && p.allSatisfy(\.isNumber) && Int(p).map { $0 <= 255 } == true
                    && (p.count == 1 || p.first != "0")
            }
        case "hostname":
            return !s.isEmpty && s.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
        default: return true
        }
    }
}
