import CSecp256k1
import Crypto

/// A secp256k1 (K-256) private key that signs repository commits as a PDS does (low-S, 64-byte
/// compact signatures over sha-256). Strata verifies, it does not host repositories: this is for
/// tools and tests that play a PDS.
public struct ATProtoSigningKey: Sendable {
    nonisolated(unsafe) static let context: OpaquePointer = strata_secp256k1_signing_context()!
    let secret: [UInt8]
    public let publicKey: ATProtoPublicKey

    /// `secret`: 32 bytes, a valid secp256k1 scalar.
    public init(secret: [UInt8]) throws(ATProtoError) {
        guard secret.count == 32, secp256k1_ec_seckey_verify(Self.context, secret) == 1 else {
            throw ATProtoError("a secp256k1 secret key is 32 bytes below the group order")
        }
        var pubkey = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(Self.context, &pubkey, secret) == 1 else { throw ATProtoError("secp256k1_ec_pubkey_create failed") }
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        secp256k1_ec_pubkey_serialize(Self.context, &out, &length, &pubkey, UInt32(SECP256K1_EC_COMPRESSED))
        self.secret = secret
        publicKey = try ATProtoPublicKey(curve: .k256, bytes: out)
    }

    /// A key derived from `seed` (sha-256 of it): the same seed gives the same key.
    public init(seed: String) throws(ATProtoError) {
        try self.init(secret: Array(SHA256.hash(data: Array(seed.utf8))))
    }

    /// The low-S compact signature of sha256(`message`).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        let digest = Array(SHA256.hash(data: message))
        var sig = secp256k1_ecdsa_signature()
        _ = secp256k1_ecdsa_sign(Self.context, &sig, digest, secret, nil, nil)
        var out = [UInt8](repeating: 0, count: 64)
        _ = secp256k1_ecdsa_signature_serialize_compact(Self.context, &out, &sig)
        return out
    }

    /// A signed repository commit (version 3) of `data` at `rev`: the block and its CID.
    public func commit(did: String, data: CID, rev: String, prev: CID? = nil) -> (cid: CID, block: [UInt8]) {
        var map: [String: CBORValue] = ["did": .string(did), "version": .integer(3), "data": .link(data), "rev": .string(rev), "prev": prev.map(CBORValue.link) ?? .null]
        map["sig"] = .bytes(sign(DagCBOR.encode(.map(map))))
        let block = DagCBOR.encode(.map(map))
        return (CID.compute(block), block)
    }
}
