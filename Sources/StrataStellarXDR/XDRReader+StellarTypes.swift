/// Readers for the small shared types of Stellar-types.x and the Asset unions.
extension XDRReader {
    public mutating func readHash(_ type: String = "Hash") throws -> [UInt8] {
        try readFixedOpaque(32, type)
    }

    /// `AccountID` (a `PublicKey` union with its single ed25519 arm) as a `G...` strkey.
    public mutating func readAccountID(_ type: String = "AccountID") throws -> String {
        _ = try readDiscriminant(type, allowed: 0...0)
        return StrKey.encode(.accountID, try readHash(type))
    }

    /// `ClaimableBalanceID` as its strkey payload: the id type byte, then the hash.
    public mutating func readClaimableBalanceID() throws -> [UInt8] {
        let idType = try readDiscriminant("ClaimableBalanceID", allowed: 0...0)
        return [UInt8(idType)] + (try readHash("ClaimableBalanceID"))
    }

    public mutating func readAsset(_ type: String = "Asset") throws -> StellarAsset {
        switch try readDiscriminant(type, allowed: 0...2) {
        case 0: return .native
        case 1: return try readCreditAsset(.creditAlphanum4, codeSize: 4, type)
        default: return try readCreditAsset(.creditAlphanum12, codeSize: 12, type)
        }
    }

    /// `TrustLineAsset`: an `Asset`, or a pool share (returned as the pool id bytes).
    public mutating func readTrustLineAsset() throws -> TrustLineAsset {
        let type = "TrustLineAsset"
        switch try readDiscriminant(type, allowed: 0...3) {
        case 0: return .asset(.native)
        case 1: return .asset(try readCreditAsset(.creditAlphanum4, codeSize: 4, type))
        case 2: return .asset(try readCreditAsset(.creditAlphanum12, codeSize: 12, type))
        default: return .poolShare(try readHash("PoolID"))
        }
    }

    private mutating func readCreditAsset(_ kind: StellarAsset.Kind, codeSize: Int, _ type: String) throws -> StellarAsset {
        let code = try readFixedOpaque(codeSize, type)
        _ = try readDiscriminant("AccountID", allowed: 0...0)
        return StellarAsset(kind: kind, codeBytes: code, issuerKey: try readHash("AccountID"))
    }

    /// `SignerKey`, skipped: its content is not surfaced.
    mutating func skipSignerKey() throws {
        switch try readDiscriminant("SignerKey", allowed: 0...3) {
        case 0, 1, 2: _ = try readHash("SignerKey")
        default:
            _ = try readHash("SignerKey")
            _ = try readVariableOpaque(maximum: 64, "SignerKey.payload")
        }
    }
}

/// What a trustline holds: a classic asset or shares of a liquidity pool.
public enum TrustLineAsset: Sendable, Hashable, CustomStringConvertible {
    case asset(StellarAsset)
    case poolShare([UInt8])

    /// `native`, `CODE:ISSUER`, or the pool id in lowercase hex (as Horizon shows it).
    public var description: String {
        switch self {
        case .asset(let asset): asset.description
        case .poolShare(let id): StellarXDR.hex(id)
        }
    }
}
