/// Why XDR bytes could not be decoded: the XDR type being read and the byte offset where it failed.
public struct XDRDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The XDR type being decoded, e.g. `LedgerEntry` or `SCVal`.
    public var type: String
    /// The byte offset into the input at which decoding failed.
    public var offset: Int
    public var reason: String

    public init(type: String, offset: Int, reason: String) {
        self.type = type
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "cannot decode XDR \(type) at byte \(offset): \(reason)" }
}

/// A cursor over XDR (RFC 4506) bytes: big-endian, every item padded to a multiple of 4 bytes.
///
/// Lengths read from the input are checked against the bytes that remain before anything is
/// allocated, so a hostile length prefix costs an error, not memory.
public struct XDRReader: Sendable {
    /// Recursive types (SCVal, ClaimPredicate) nest at most this deep; deeper input is rejected
    /// rather than risking the stack. Soroban values on the network stay far below it.
    public static let maximumDepth = 128

    public let bytes: [UInt8]
    public private(set) var offset = 0
    private var depth = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public func error(_ type: String, _ reason: String, at position: Int? = nil) -> XDRDecodingError {
        XDRDecodingError(type: type, offset: position ?? offset, reason: reason)
    }

    /// Throws unless every byte was consumed: trailing bytes mean the input is not the type we think.
    public func expectEnd(_ type: String) throws {
        guard isAtEnd else { throw error(type, "\(remaining) unexpected trailing bytes") }
    }

    private mutating func take(_ count: Int, _ type: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw error(type, "needs \(count) bytes, only \(remaining) remain")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    // MARK: Integers

    public mutating func readUInt32(_ type: String = "uint32") throws -> UInt32 {
        let s = try take(4, type)
        return s.reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readInt32(_ type: String = "int32") throws -> Int32 {
        Int32(bitPattern: try readUInt32(type))
    }

    public mutating func readUInt64(_ type: String = "uint64") throws -> UInt64 {
        let s = try take(8, type)
        return s.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func readInt64(_ type: String = "int64") throws -> Int64 {
        Int64(bitPattern: try readUInt64(type))
    }

    public mutating func readBool(_ type: String = "bool") throws -> Bool {
        let start = offset
        switch try readUInt32(type) {
        case 0: return false
        case 1: return true
        case let v: throw error(type, "boolean must be 0 or 1, got \(v)", at: start)
        }
    }

    /// An `ExtensionPoint` or any reserved `union switch (int v) { case 0: void; }`.
    public mutating func readEmptyExtension(_ type: String) throws {
        let start = offset
        let v = try readInt32(type)
        guard v == 0 else { throw error(type, "unknown extension version \(v)", at: start) }
    }

    // MARK: Opaque data and strings

    public mutating func readFixedOpaque(_ count: Int, _ type: String = "opaque") throws -> [UInt8] {
        let data = Array(try take(count, type))
        try skipPadding(count, type)
        return data
    }

    public mutating func readVariableOpaque(maximum: Int = Int(UInt32.max), _ type: String = "opaque<>") throws -> [UInt8] {
        let count = try readLength(maximum: maximum, elementSize: 1, type)
        return try readFixedOpaque(count, type)
    }

    /// An XDR string as its raw bytes: XDR does not promise UTF-8.
    public mutating func readStringBytes(maximum: Int = Int(UInt32.max), _ type: String = "string<>") throws -> [UInt8] {
        try readVariableOpaque(maximum: maximum, type)
    }

    /// An XDR string decoded as UTF-8, invalid sequences replaced (for display fields like home domains).
    public mutating func readString(maximum: Int = Int(UInt32.max), _ type: String = "string<>") throws -> String {
        String(decoding: try readStringBytes(maximum: maximum, type), as: UTF8.self)
    }

    private mutating func skipPadding(_ count: Int, _ type: String) throws {
        let padding = (4 - count % 4) % 4
        let start = offset
        let pad = try take(padding, type)
        // Canonical XDR pads with zeros; anything else means we are misaligned.
        guard pad.allSatisfy({ $0 == 0 }) else { throw error(type, "non-zero padding", at: start) }
    }

    /// A length prefix, checked against the declared maximum and against what the remaining
    /// bytes could possibly hold (each element takes at least `elementSize` bytes).
    public mutating func readLength(maximum: Int, elementSize: Int, _ type: String) throws -> Int {
        let start = offset
        let length = Int(try readUInt32(type))
        guard length <= maximum else {
            throw error(type, "length \(length) exceeds the maximum \(maximum)", at: start)
        }
        guard length <= remaining / max(elementSize, 1) else {
            throw error(type, "length \(length) is more than the \(remaining) remaining bytes can hold", at: start)
        }
        return length
    }

    // MARK: Composites

    /// A variable-length array `T<maximum>`. Every Stellar XDR element encodes to at least 4 bytes.
    public mutating func readArray<T>(
        maximum: Int = Int(UInt32.max), _ type: String, _ element: (inout XDRReader) throws -> T
    ) throws -> [T] {
        let count = try readLength(maximum: maximum, elementSize: 4, type)
        var items: [T] = []
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(try element(&self)) }
        return items
    }

    /// An optional `T*`: a boolean, then the value when it is true.
    public mutating func readOptional<T>(_ type: String, _ value: (inout XDRReader) throws -> T) throws -> T? {
        try readBool(type) ? try value(&self) : nil
    }

    /// Runs `body` one nesting level deeper, failing once `maximumDepth` is exceeded.
    public mutating func nested<T>(_ type: String, _ body: (inout XDRReader) throws -> T) throws -> T {
        guard depth < Self.maximumDepth else {
            throw error(type, "nested deeper than \(Self.maximumDepth) levels")
        }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    /// Skips `count` bytes of opaque data and their zero padding.
    public mutating func skip(_ count: Int, _ type: String) throws {
        _ = try take(count, type)
        try skipPadding(count, type)
    }

    /// Reads an enum and fails unless its value is one of `values`.
    public mutating func enumValue(_ type: String, in values: ClosedRange<Int64>) throws {
        let start = offset
        let v = Int64(try readInt32(type))
        guard values.contains(v) else { throw error(type, "unknown enum value \(v)", at: start) }
    }

    public mutating func enumValue(_ type: String, in values: Set<Int64>) throws {
        let start = offset
        let v = Int64(try readInt32(type))
        guard values.contains(v) else { throw error(type, "unknown enum value \(v)", at: start) }
    }

    /// Reads a union discriminant and fails on arms this decoder does not know.
    public mutating func readDiscriminant(_ type: String, allowed: ClosedRange<Int32>) throws -> Int32 {
        let start = offset
        let d = try readInt32(type)
        guard allowed.contains(d) else { throw error(type, "unknown union arm \(d)", at: start) }
        return d
    }
}
