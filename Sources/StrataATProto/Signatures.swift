import CSecp256k1
import Crypto

/// An atproto signing key: P-256 (`ES256`) or secp256k1 (`ES256K`), as a `did:key` or a DID
/// document's `publicKeyMultibase` names it.
public struct ATProtoPublicKey: Sendable, Equatable {
    public enum Curve: String, Sendable {
        case p256 = "ES256"
        case k256 = "ES256K"
    }

    public var curve: Curve
    /// SEC1 encoding: 33 bytes compressed or 65 uncompressed.
    public var bytes: [UInt8]

    public init(curve: Curve, bytes: [UInt8]) throws(ATProtoError) {
        guard bytes.count == 33 || bytes.count == 65 else { throw ATProtoError("a \(curve.rawValue) public key is 33 or 65 bytes, not \(bytes.count)") }
        self.curve = curve
        self.bytes = bytes
    }

    /// `did:key:z...`: base58btc of the multicodec (0x1200 p256-pub, 0xe7 secp256k1-pub) and the
    /// compressed key.
    public init(didKey: String) throws(ATProtoError) {
        guard didKey.hasPrefix("did:key:") else { throw ATProtoError("'\(didKey.prefix(80))' is not a did:key") }
        try self.init(multikey: String(didKey.dropFirst("did:key:".count)))
    }

    /// A `Multikey` `publicKeyMultibase` (`z` + base58btc of multicodec + key).
    public init(multikey: String) throws(ATProtoError) {
        guard multikey.first == "z", let raw = Base58.decode(multikey.dropFirst()), raw.count > 2 else {
            throw ATProtoError("'\(multikey.prefix(80))' is not a base58btc multikey")
        }
        var offset = 0
        let codec = try Varint.read(raw, at: &offset)
        switch codec {
        case 0x1200: try self.init(curve: .p256, bytes: Array(raw[offset...]))
        case 0xe7: try self.init(curve: .k256, bytes: Array(raw[offset...]))
        default: throw ATProtoError("multicodec 0x\(String(codec, radix: 16)) is not a P-256 or secp256k1 public key")
        }
    }

    /// A DID document's verification method: `Multikey`, or the legacy suites
    /// `EcdsaSecp256r1VerificationKey2019` / `EcdsaSecp256k1VerificationKey2019` (the multibase
    /// holds the bare key).
    public init(type: String, publicKeyMultibase: String) throws(ATProtoError) {
        switch type {
        case "Multikey": try self.init(multikey: publicKeyMultibase)
        case "EcdsaSecp256r1VerificationKey2019", "EcdsaSecp256k1VerificationKey2019":
            guard publicKeyMultibase.first == "z", let raw = Base58.decode(publicKeyMultibase.dropFirst()) else {
                throw ATProtoError("'\(publicKeyMultibase.prefix(80))' is not base58btc")
            }
            try self.init(curve: type.contains("256r1") ? .p256 : .k256, bytes: raw)
        default: throw ATProtoError("verification method type '\(type)' is not an atproto signing key")
        }
    }

    /// The key as a `did:key` (compressed).
    public var didKey: String {
        var raw: [UInt8] = []
        Varint.append(curve == .p256 ? 0x1200 : 0xe7, to: &raw)
        return "did:key:z" + Base58.encode(raw + compressed)
    }

    /// The compressed SEC1 form.
    public var compressed: [UInt8] {
        guard bytes.count == 65 else { return bytes }
        return [bytes[64] & 1 == 0 ? 0x02 : 0x03] + bytes[1...32]
    }

    // Half the group orders: atproto accepts only low-S signatures.
    static let p256HalfOrder: [UInt8] = [
        0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
    ]

    /// Whether `signature` (64 bytes, r || s; DER is refused) signs sha256(`message`). atproto
    /// requires low-S signatures; `allowHighS` accepts the other half too (repositories signed
    /// before the rule, as indigo's lenient verification does).
    public func verify(signature: [UInt8], message: [UInt8], allowHighS: Bool = false) -> Bool {
        guard signature.count == 64 else { return false }
        switch curve {
        case .p256:
            let s = signature[32...]
            let low = s.elementsEqual(Self.p256HalfOrder) || s.lexicographicallyPrecedes(Self.p256HalfOrder)
            guard low || allowHighS else { return false }
            let key: P256.Signing.PublicKey
            do {
                key = bytes.count == 33 ? try P256.Signing.PublicKey(compressedRepresentation: bytes) : try P256.Signing.PublicKey(x963Representation: bytes)
            } catch { return false }
            guard let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: message)
        case .k256:
            let digest = Array(SHA256.hash(data: message))
            var pubkey = secp256k1_pubkey()
            var sig = secp256k1_ecdsa_signature()
            guard secp256k1_ec_pubkey_parse(strata_secp256k1_context(), &pubkey, bytes, bytes.count) == 1,
                secp256k1_ecdsa_signature_parse_compact(strata_secp256k1_context(), &sig, signature) == 1
            else { return false }
            // secp256k1_ecdsa_verify refuses high-S signatures itself; normalizing accepts them.
            if allowHighS {
                var normalized = secp256k1_ecdsa_signature()
                _ = secp256k1_ecdsa_signature_normalize(strata_secp256k1_context(), &normalized, &sig)
                sig = normalized
            }
            return secp256k1_ecdsa_verify(strata_secp256k1_context(), &sig, digest, &pubkey) == 1
        }
    }
}

extension RepoCommit {
    /// Whether the commit's signature is `key`'s (low-S only unless `allowHighS`).
    public func isSigned(by key: ATProtoPublicKey, allowHighS: Bool = false) -> Bool {
        key.verify(signature: sig, message: unsignedBytes, allowHighS: allowHighS)
    }
}
