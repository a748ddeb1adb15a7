import Crypto

/// An error in ATProto data (CBOR, CIDs, CARs, MST nodes, syntax), naming what was wrong and the
/// byte offset where it was found.
public struct ATProtoError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    /// Byte offset into the input, when the input is bytes.
    public var offset: Int?

    public init(_ message: String, at offset: Int? = nil) {
        self.message = message
        self.offset = offset
    }

    public var description: String { offset.map { "\(message) (at byte \($0))" } ?? message }
}

/// A content identifier: CIDv1 (any codec, sha-256 or other multihash) or CIDv0 (dag-pb, sha-256).
public struct CID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public static let dagCBORCodec: UInt64 = 0x71
    public static let rawCodec: UInt64 = 0x55
    public static let dagPBCodec: UInt64 = 0x70
    public static let sha256Code: UInt64 = 0x12

    public var version: Int
    public var codec: UInt64
    public var hashCode: UInt64
    public var digest: [UInt8]

    public init(version: Int = 1, codec: UInt64, hashCode: UInt64 = CID.sha256Code, digest: [UInt8]) {
        self.version = version
        self.codec = codec
        self.hashCode = hashCode
        self.digest = digest
    }

    /// The CIDv1 (sha-256) of `bytes` under `codec` (dag-cbor for records and nodes, raw for blobs).
    public static func compute(_ bytes: some Sequence<UInt8>, codec: UInt64 = CID.dagCBORCodec) -> CID {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return CID(codec: codec, digest: Array(hasher.finalize()))
    }

    /// Whether `bytes` hash to this CID (sha-256 only: another hash function cannot be checked here).
    public func matches(_ bytes: [UInt8]) -> Bool {
        guard hashCode == Self.sha256Code else { return false }
        return Array(SHA256.hash(data: bytes)) == digest
    }

    /// The binary form.
    public var bytes: [UInt8] {
        if version == 0 { return [0x12, 0x20] + digest }
        var out: [UInt8] = []
        Varint.append(UInt64(version), to: &out)
        Varint.append(codec, to: &out)
        Varint.append(hashCode, to: &out)
        Varint.append(UInt64(digest.count), to: &out)
        return out + digest
    }

    /// Reads a binary CID at `offset` of `buffer`, advancing `offset` past it.
    public static func read(_ buffer: [UInt8], at offset: inout Int) throws(ATProtoError) -> CID {
        let start = offset
        if buffer.count - offset >= 34, buffer[offset] == 0x12, buffer[offset + 1] == 0x20 {
            offset += 34
            return CID(version: 0, codec: dagPBCodec, hashCode: sha256Code, digest: Array(buffer[(start + 2)..<offset]))
        }
        let version = try Varint.read(buffer, at: &offset)
        guard version == 1 else { throw ATProtoError("unsupported CID version \(version)", at: start) }
        let codec = try Varint.read(buffer, at: &offset)
        let hashCode = try Varint.read(buffer, at: &offset)
        let length = try Varint.read(buffer, at: &offset)
        guard length <= 64, Int(length) <= buffer.count - offset else {
            throw ATProtoError("CID digest of \(length) bytes runs past the end", at: start)
        }
        let digest = Array(buffer[offset..<(offset + Int(length))])
        offset += Int(length)
        return CID(codec: codec, hashCode: hashCode, digest: digest)
    }

    /// Parses exactly one binary CID.
    public init(bytes: [UInt8]) throws(ATProtoError) {
        var offset = 0
        self = try Self.read(bytes, at: &offset)
        guard offset == bytes.count else { throw ATProtoError("\(bytes.count - offset) bytes after the CID", at: offset) }
    }

    /// Parses the string form: multibase base32 (`b...`, CIDv1) or base58btc CIDv0 (`Qm...`).
    public init(string: String) throws(ATProtoError) {
        if string.count == 46, string.hasPrefix("Qm") {
            guard let raw = Base58.decode(string) else { throw ATProtoError("'\(string)' is not base58btc") }
            try self.init(bytes: raw)
            return
        }
        guard string.first == "b", let raw = Base32.decode(string.dropFirst()) else {
            throw ATProtoError("'\(string.prefix(80))' is not a base32 (b...) CID")
        }
        try self.init(bytes: raw)
    }

    /// The canonical string form: base32 with the `b` multibase prefix (CIDv1), base58btc (CIDv0).
    public var string: String {
        version == 0 ? Base58.encode(bytes) : "b" + Base32.encode(bytes)
    }

    public var description: String { string }

    public static func < (a: CID, b: CID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Unsigned LEB128, as multiformats use it (at most 9 bytes, minimal).
public enum Varint {
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    public static func read(_ buffer: [UInt8], at offset: inout Int) throws(ATProtoError) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < buffer.count else { throw ATProtoError("varint runs past the end", at: start) }
            let byte = buffer[offset]
            offset += 1
            guard shift < 63 || (shift == 63 && byte <= 1) else { throw ATProtoError("varint longer than 64 bits", at: start) }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && offset - start > 1 { throw ATProtoError("varint not minimally encoded", at: start) }
                return value
            }
            shift += 7
        }
    }
}

/// RFC 4648 base32, lowercase, no padding (multibase `b`).
public enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): v = UInt32(c - UInt8(ascii: "2") + 26)
            default: return nil
            }
            buffer = (buffer << 5) | v
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        return out
    }
}

/// Bitcoin's base58 (multibase `z`, CIDv0 strings, did:key).
public enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [UInt8] = []  // base 58, little-endian
        for byte in bytes.dropFirst(zeros) {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let text = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: text, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count <= 512 else { return nil }
        let zeros = chars.prefix { $0 == alphabet[0] }.count
        var bytes: [UInt8] = []  // base 256, little-endian
        for c in chars.dropFirst(zeros) {
            guard let value = alphabet.firstIndex(of: c) else { return nil }
            var carry = value
            for i in bytes.indices {
                carry += Int(bytes[i]) * 58
                bytes[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}
