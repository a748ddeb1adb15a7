/// Why text does not name a valid Stellar asset (an invalid issuer throws `StrKeyError`).
public struct StellarAssetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A classic Stellar asset (the XDR `Asset` union): native, or a credit asset named by code and issuer.
///
/// Only valid assets can be constructed, so encoding one (e.g. for its contract id) cannot fail.
public struct StellarAsset: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case native
        case creditAlphanum4 = "credit_alphanum4"
        case creditAlphanum12 = "credit_alphanum12"
    }

    public let kind: Kind
    /// The code without padding; nil for native.
    public let code: String?
    /// The issuer's `G...` account; nil for native.
    public let issuer: String?
    /// The code as XDR holds it: 4 or 12 bytes, zero-padded (empty for native).
    let codeBytes: [UInt8]
    let issuerKey: [UInt8]

    public static let native = StellarAsset(kind: .native, codeBytes: [], issuerKey: [])

    /// A credit asset; codes of 1-4 characters are alphanum4, 5-12 alphanum12 (as stellar-core requires).
    public init(code: String, issuer: String) throws {
        let chars = Array(code.utf8)
        guard (1...12).contains(chars.count), chars.allSatisfy(Self.isAlphanumericASCII) else {
            throw StellarAssetError("asset code '\(code)' must be 1-12 ASCII letters or digits")
        }
        let key = try StrKey.decode(issuer, as: .accountID)
        let width = chars.count <= 4 ? 4 : 12
        self.init(kind: width == 4 ? .creditAlphanum4 : .creditAlphanum12,
                  codeBytes: chars + [UInt8](repeating: 0, count: width - chars.count), issuerKey: key)
    }

    private static func isAlphanumericASCII(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
    }

    /// Parses `native`, `CODE:ISSUER` (SEP-11) or stellar-etl's `credit_alphanum4:CODE:ISSUER`.
    public init(parsing text: String) throws {
        if text == "native" { self = .native; return }
        var parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 3, parts[0] == Kind.creditAlphanum4.rawValue || parts[0] == Kind.creditAlphanum12.rawValue {
            parts.removeFirst()
        }
        guard parts.count == 2 else { throw StellarAssetError("asset '\(text)' is not 'native' or CODE:ISSUER") }
        try self.init(code: parts[0], issuer: parts[1])
    }

    /// From decoded XDR, trusting the arm the network chose.
    init(kind: Kind, codeBytes: [UInt8], issuerKey: [UInt8]) {
        self.kind = kind
        self.codeBytes = codeBytes
        self.issuerKey = issuerKey
        if kind == .native {
            code = nil
            issuer = nil
        } else {
            var trimmed = codeBytes[...]
            while trimmed.last == 0 { trimmed = trimmed.dropLast() }
            code = String(decoding: trimmed, as: UTF8.self)
            issuer = StrKey.encode(.accountID, issuerKey)
        }
    }

    /// `native` or `CODE:ISSUER`.
    public var description: String {
        guard let code, let issuer else { return "native" }
        return "\(code):\(issuer)"
    }

    /// stellar-etl's spelling: `native` or `credit_alphanum4:CODE:ISSUER`.
    public var canonicalName: String {
        guard let code, let issuer else { return "native" }
        return "\(kind.rawValue):\(code):\(issuer)"
    }

    func encode(into writer: inout XDRWriter) {
        switch kind {
        case .native: writer.writeInt32(0)
        case .creditAlphanum4: writer.writeInt32(1)
        case .creditAlphanum12: writer.writeInt32(2)
        }
        guard kind != .native else { return }
        writer.writeFixedOpaque(codeBytes)
        writer.writeInt32(0)  // PUBLIC_KEY_TYPE_ED25519
        writer.writeFixedOpaque(issuerKey)
    }
}
