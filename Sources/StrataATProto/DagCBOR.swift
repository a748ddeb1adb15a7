/// A value of the IPLD data model as DAG-CBOR carries it.
public indirect enum CBORValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// Integers in the signed 64-bit range (atproto's data model; larger CBOR integers are refused).
    case integer(Int64)
    /// A 64-bit float (DAG-CBOR's only float; atproto records may not contain them).
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case array([CBORValue])
    case map([String: CBORValue])
    /// Tag 42: a CID.
    case link(CID)

    public subscript(key: String) -> CBORValue? {
        if case .map(let m) = self { return m[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var integerValue: Int64? { if case .integer(let i) = self { return i } else { return nil } }
    public var bytesValue: [UInt8]? { if case .bytes(let b) = self { return b } else { return nil } }
    public var linkValue: CID? { if case .link(let c) = self { return c } else { return nil } }
    public var arrayValue: [CBORValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var mapValue: [String: CBORValue]? { if case .map(let m) = self { return m } else { return nil } }
    public var isNull: Bool { self == .null }
}

/// DAG-CBOR: strict decoding (only the canonical form is accepted) and canonical encoding.
///
/// Refused on decode, each naming the byte offset: indefinite lengths, integers or lengths not in
/// their shortest form, map keys that are not strings, out of order (DAG-CBOR orders keys by length,
/// then bytewise) or repeated, tags other than 42, undefined and other simple values, half and single
/// floats, NaN and infinities, text that is not UTF-8, a CID tag whose bytes lack the 0x00 prefix,
/// integers outside Int64, nesting deeper than `maxDepth`, and bytes after the value.
public enum DagCBOR {
    public static let maxDepth = 128

    public static func decode(_ bytes: [UInt8]) throws(ATProtoError) -> CBORValue {
        var decoder = Decoder(bytes: bytes)
        let value = try decoder.value(depth: 0)
        guard decoder.offset == bytes.count else { throw ATProtoError("\(bytes.count - decoder.offset) bytes after the value", at: decoder.offset) }
        return value
    }

    /// Decodes one value at `offset` and advances past it (a CAR header is followed by blocks).
    public static func decode(_ bytes: [UInt8], at offset: inout Int) throws(ATProtoError) -> CBORValue {
        var decoder = Decoder(bytes: bytes, offset: offset)
        let value = try decoder.value(depth: 0)
        offset = decoder.offset
        return value
    }

    public static func encode(_ value: CBORValue) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    /// Map keys in DAG-CBOR order: shorter first, then bytewise.
    public static func keyOrder(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        if x.count != y.count { return x.count < y.count }
        return x.lexicographicallyPrecedes(y)
    }

    static func head(_ major: UInt8, _ value: UInt64, to out: inout [UInt8]) {
        let m = major << 5
        switch value {
        case 0..<24: out.append(m | UInt8(value))
        case 24..<0x100: out += [m | 24, UInt8(value)]
        case 0x100..<0x10000: out += [m | 25, UInt8(value >> 8), UInt8(value & 0xff)]
        case 0x10000..<0x1_0000_0000:
            out.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((value >> UInt64(shift)) & 0xff)) }
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((value >> UInt64(shift)) & 0xff)) }
        }
    }

    static func append(_ value: CBORValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(0xf6)
        case .bool(let b): out.append(b ? 0xf5 : 0xf4)
        case .integer(let i):
            if i >= 0 { head(0, UInt64(i), to: &out) } else { head(1, UInt64(-(i + 1)), to: &out) }
        case .float(let d):
            out.append(0xfb)
            let bits = d.bitPattern
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((bits >> UInt64(shift)) & 0xff)) }
        case .string(let s):
            head(3, UInt64(s.utf8.count), to: &out)
            out += s.utf8
        case .bytes(let b):
            head(2, UInt64(b.count), to: &out)
            out += b
        case .array(let items):
            head(4, UInt64(items.count), to: &out)
            for item in items { append(item, to: &out) }
        case .map(let map):
            head(5, UInt64(map.count), to: &out)
            for key in map.keys.sorted(by: keyOrder) {
                head(3, UInt64(key.utf8.count), to: &out)
                out += key.utf8
                append(map[key]!, to: &out)  // the key comes from the map itself
            }
        case .link(let cid):
            head(6, 42, to: &out)
            let raw = cid.bytes
            head(2, UInt64(raw.count + 1), to: &out)
            out.append(0)
            out += raw
        }
    }

    struct Decoder {
        let bytes: [UInt8]
        var offset = 0

        init(bytes: [UInt8], offset: Int = 0) {
            self.bytes = bytes
            self.offset = offset
        }

        mutating func byte() throws(ATProtoError) -> UInt8 {
            guard offset < bytes.count else { throw ATProtoError("unexpected end of CBOR", at: offset) }
            defer { offset += 1 }
            return bytes[offset]
        }

        /// The argument of a head whose additional information is `info`, checked to be minimal.
        mutating func argument(_ info: UInt8, at start: Int) throws(ATProtoError) -> UInt64 {
            switch info {
            case 0..<24: return UInt64(info)
            case 24...27:
                let n = 1 << Int(info - 24)
                guard bytes.count - offset >= n else { throw ATProtoError("unexpected end of CBOR", at: offset) }
                var v: UInt64 = 0
                for _ in 0..<n { v = (v << 8) | UInt64(bytes[offset]); offset += 1 }
                let minimum: UInt64 = [24, 0x100, 0x10000, 0x1_0000_0000][Int(info - 24)]
                guard v >= minimum else { throw ATProtoError("CBOR integer or length not in its shortest form", at: start) }
                return v
            case 31: throw ATProtoError("indefinite-length CBOR is not allowed in DAG-CBOR", at: start)
            default: throw ATProtoError("reserved CBOR additional information \(info)", at: start)
            }
        }

        mutating func length(_ info: UInt8, at start: Int) throws(ATProtoError) -> Int {
            let n = try argument(info, at: start)
            // Every item takes at least one byte: a length past the input is a lie, not an allocation.
            guard n <= UInt64(bytes.count - offset) else { throw ATProtoError("CBOR length \(n) runs past the end", at: start) }
            return Int(n)
        }

        mutating func text(at start: Int, count: Int) throws(ATProtoError) -> String {
            let slice = bytes[offset..<(offset + count)]
            offset += count
            guard let s = String(validating: slice, as: UTF8.self) else { throw ATProtoError("CBOR text is not valid UTF-8", at: start) }
            return s
        }

        mutating func value(depth: Int) throws(ATProtoError) -> CBORValue {
            guard depth <= DagCBOR.maxDepth else { throw ATProtoError("CBOR nested deeper than \(DagCBOR.maxDepth)", at: offset) }
            let start = offset
            let initial = try byte()
            let major = initial >> 5
            let info = initial & 0x1f
            switch major {
            case 0:
                let v = try argument(info, at: start)
                guard v <= UInt64(Int64.max) else { throw ATProtoError("integer \(v) is outside the signed 64-bit range", at: start) }
                return .integer(Int64(v))
            case 1:
                let v = try argument(info, at: start)
                guard v <= UInt64(Int64.max) else { throw ATProtoError("integer -1-\(v) is outside the signed 64-bit range", at: start) }
                return .integer(-1 - Int64(v))
            case 2:
                let n = try length(info, at: start)
                defer { offset += n }
                return .bytes(Array(bytes[offset..<(offset + n)]))
            case 3:
                let n = try length(info, at: start)
                return .string(try text(at: start, count: n))
            case 4:
                let n = try length(info, at: start)
                var items: [CBORValue] = []
                items.reserveCapacity(n)
                for _ in 0..<n { items.append(try value(depth: depth + 1)) }
                return .array(items)
            case 5:
                let n = try length(info, at: start)
                var map: [String: CBORValue] = [:]
                map.reserveCapacity(n)
                var previous: String?
                for _ in 0..<n {
                    let keyStart = offset
                    let keyHead = try byte()
                    guard keyHead >> 5 == 3 else { throw ATProtoError("DAG-CBOR map keys must be strings", at: keyStart) }
                    let key = try text(at: keyStart, count: try length(keyHead & 0x1f, at: keyStart))
                    if let previous {
                        guard previous != key else { throw ATProtoError("map key '\(key)' appears twice", at: keyStart) }
                        guard DagCBOR.keyOrder(previous, key) else { throw ATProtoError("map key '\(key)' is out of DAG-CBOR order", at: keyStart) }
                    }
                    previous = key
                    map[key] = try value(depth: depth + 1)
                }
                return .map(map)
            case 6:
                let tag = try argument(info, at: start)
                guard tag == 42 else { throw ATProtoError("CBOR tag \(tag) is not allowed in DAG-CBOR (only 42, a CID)", at: start) }
                let inner = offset
                guard case .bytes(let raw) = try value(depth: depth + 1) else { throw ATProtoError("tag 42 must hold bytes", at: inner) }
                guard raw.first == 0 else { throw ATProtoError("a CID in tag 42 must start with the 0x00 multibase prefix", at: inner) }
                do {
                    return .link(try CID(bytes: Array(raw.dropFirst())))
                } catch {
                    throw ATProtoError("tag 42 holds no valid CID: \(error.message)", at: inner)
                }
            default:
                switch info {
                case 20: return .bool(false)
                case 21: return .bool(true)
                case 22: return .null
                case 27:
                    guard bytes.count - offset >= 8 else { throw ATProtoError("unexpected end of CBOR", at: offset) }
                    var bits: UInt64 = 0
                    for _ in 0..<8 { bits = (bits << 8) | UInt64(bytes[offset]); offset += 1 }
                    let d = Double(bitPattern: bits)
                    guard d.isFinite else { throw ATProtoError("NaN and infinities are not allowed in DAG-CBOR", at: start) }
                    return .float(d)
                case 25, 26: throw ATProtoError("DAG-CBOR floats must be 64-bit", at: start)
                case 23: throw ATProtoError("CBOR undefined is not allowed in DAG-CBOR", at: start)
                default: throw ATProtoError("CBOR simple value \(info) is not allowed in DAG-CBOR", at: start)
                }
            }
        }
    }
}

extension CBORValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByArrayLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// Later duplicates of a key win (a map has each key once).
    public init(dictionaryLiteral elements: (String, CBORValue)...) { self = .map(Dictionary(elements, uniquingKeysWith: { $1 })) }
    public init(arrayLiteral elements: CBORValue...) { self = .array(elements) }
}
