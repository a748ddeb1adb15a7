import Crypto

/// The contract ids of Stellar Asset Contracts (the SAC wrapping each classic asset).
public enum StellarAssetContract {
    public static let mainnetPassphrase = "Public Global Stellar Network ; September 2015"
    public static let testnetPassphrase = "Test SDF Network ; September 2015"

    /// The `C...` id: SHA256 of the XDR `HashIDPreimage` ENVELOPE_TYPE_CONTRACT_ID
    /// `{ networkID = SHA256(passphrase), CONTRACT_ID_PREIMAGE_FROM_ASSET(asset) }`.
    public static func contractID(asset: StellarAsset, networkPassphrase: String) -> String {
        StrKey.encode(.contract, contractIDBytes(asset: asset, networkPassphrase: networkPassphrase))
    }

    public static func contractIDBytes(asset: StellarAsset, networkPassphrase: String) -> [UInt8] {
        var writer = XDRWriter()
        writer.writeInt32(8)  // ENVELOPE_TYPE_CONTRACT_ID
        writer.writeFixedOpaque(Array(SHA256.hash(data: Array(networkPassphrase.utf8))))
        writer.writeInt32(1)  // CONTRACT_ID_PREIMAGE_FROM_ASSET
        asset.encode(into: &writer)
        return Array(SHA256.hash(data: writer.bytes))
    }
}
