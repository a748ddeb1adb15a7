import Foundation
import StrataCore

/// The atproto data model's JSON form: CIDs as `{"$link": "..."}`, bytes as `{"$bytes": "base64"}`
/// (standard alphabet, no padding), no floats; `$type` a non-empty string where present; blobs
/// `{"$type": "blob", "ref": {"$link"}, "mimeType", "size"}`.
public enum DataModelJSON {
    /// CBOR to JSON (a record as Strata stores it). Floats, which atproto records may not hold,
    /// are an error.
    public static func json(_ value: CBORValue) throws(ATProtoError) -> JSONValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .integer(let i): return .int(i)
        case .float: throw ATProtoError("floats are not allowed in the atproto data model")
        case .string(let s): return .string(s)
        case .bytes(let b): return .object(["$bytes": .string(base64(b))])
        case .link(let cid): return .object(["$link": .string(cid.string)])
        case .array(let items):
            var out: [JSONValue] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try json(item)) }
            return .array(out)
        case .map(let map):
            var out: [String: JSONValue] = [:]
            out.reserveCapacity(map.count)
            for (k, v) in map { out[k] = try json(v) }
            return .object(out)
        }
    }

    /// JSON to CBOR, validating the data model: the top level must be an object.
    public static func cbor(_ value: JSONValue) throws(ATProtoError) -> CBORValue {
        guard case .object = value else { throw ATProtoError("the top level of a record must be an object") }
        return try convert(value, path: "$", depth: 0)
    }

    static func convert(_ value: JSONValue, path: String, depth: Int) throws(ATProtoError) -> CBORValue {
        guard depth <= DagCBOR.maxDepth else { throw ATProtoError("\(path): nested deeper than \(DagCBOR.maxDepth)") }
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .number(let text):
            if let i = Int64(text) { return .integer(i) }
            guard let d = Double(text), d.isFinite, d.rounded() == d, abs(d) < 9.007_199_254_740_992e15 else {
                throw ATProtoError("\(path): \(text) is not an integer (the atproto data model has no floats)")
            }
            return .integer(Int64(d))
        case .array(let items):
            var out: [CBORValue] = []
            for (i, item) in items.enumerated() { out.append(try convert(item, path: "\(path)[\(i)]", depth: depth + 1)) }
            return .array(out)
        case .object(let map):
            if let link = map["$link"] {
                guard map.count == 1, case .string(let s) = link else { throw ATProtoError("\(path): a $link object must be exactly {\"$link\": \"<cid>\"}") }
                do { return .link(try CID(string: s)) } catch { throw ATProtoError("\(path).$link: \(error.message)") }
            }
            if let bytes = map["$bytes"] {
                guard map.count == 1, case .string(let s) = bytes else { throw ATProtoError("\(path): a $bytes object must be exactly {\"$bytes\": \"<base64>\"}") }
                guard let raw = unbase64(s) else { throw ATProtoError("\(path).$bytes: not base64") }
                return .bytes(raw)
            }
            if let type = map["$type"] {
                guard case .string(let t) = type, !t.isEmpty else { throw ATProtoError("\(path).$type must be a non-empty string") }
                if t == "blob" {
                    guard case .object(let ref)? = map["ref"], ref["$link"] != nil else { throw ATProtoError("\(path): a blob needs a ref {\"$link\"}") }
                    guard case .string? = map["mimeType"] else { throw ATProtoError("\(path): a blob needs a mimeType string") }
                    guard case .number(let size)? = map["size"], Int64(size) != nil else { throw ATProtoError("\(path): a blob needs an integer size") }
                }
            }
            var out: [String: CBORValue] = [:]
            for (k, v) in map { out[k] = try convert(v, path: "\(path).\(k)", depth: depth + 1) }
            return .map(out)
        }
    }

    public static func base64(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    public static func unbase64(_ text: String) -> [UInt8]? {
        var s = text
        guard !s.contains("=") || s.hasSuffix("=") else { return nil }
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }
}
