/// Why a string is not a valid strkey.
public struct StrKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "invalid strkey: \(reason)" }
}

/// Stellar's strkey encoding (SEP-23): base32 of version byte + payload + CRC16-XModem (little-endian).
public enum StrKey {
    /// The version byte; its top five bits select the first base32 letter.
    public enum Version: UInt8, Sendable, CaseIterable {
        /// `G...`: an ed25519 public key (32 bytes).
        case accountID = 48  // 6 << 3
        /// `M...`: ed25519 key (32 bytes) followed by the 8-byte big-endian multiplexing id.
        case muxedAccount = 96  // 12 << 3
        /// `C...`: a contract id (32 bytes).
        case contract = 16  // 2 << 3
        /// `L...`: a liquidity pool id (32 bytes).
        case liquidityPool = 88  // 11 << 3
        /// `B...`: a claimable balance id: a 1-byte id type (0 = v0) then the 32-byte hash.
        case claimableBalance = 8  // 1 << 3

        /// The payload size the version requires.
        public var payloadSize: Int {
            switch self {
            case .accountID, .contract, .liquidityPool: 32
            case .muxedAccount: 40
            case .claimableBalance: 33
            }
        }
    }

    public static func encode(_ version: Version, _ payload: [UInt8]) -> String {
        var data = [version.rawValue] + payload
        let crc = crc16XModem(data)
        data.append(UInt8(crc & 0xFF))
        data.append(UInt8(crc >> 8))
        return Base32.encode(data)
    }

    /// Decodes and validates a strkey: alphabet, canonical length, version, payload size and checksum.
    public static func decode(_ string: String) throws -> (version: Version, payload: [UInt8]) {
        guard let data = Base32.decode(string) else { throw StrKeyError("'\(string)' is not canonical unpadded base32") }
        guard data.count >= 3 else { throw StrKeyError("'\(string)' is too short") }
        guard let version = Version(rawValue: data[0]) else {
            throw StrKeyError("'\(string)' has unsupported version byte \(data[0])")
        }
        let body = Array(data[..<(data.count - 2)])
        let crc = UInt16(data[data.count - 2]) | UInt16(data[data.count - 1]) << 8
        guard crc == crc16XModem(body) else { throw StrKeyError("'\(string)' has a bad checksum") }
        let payload = Array(body.dropFirst())
        guard payload.count == version.payloadSize else {
            throw StrKeyError("'\(string)' has a \(payload.count)-byte payload, \(version) needs \(version.payloadSize)")
        }
        if version == .claimableBalance, payload[0] != 0 {
            throw StrKeyError("'\(string)' has unknown claimable balance id type \(payload[0])")
        }
        return (version, payload)
    }

    /// Decodes a strkey that must be of the given version.
    public static func decode(_ string: String, as version: Version) throws -> [UInt8] {
        let decoded = try decode(string)
        guard decoded.version == version else { throw StrKeyError("'\(string)' is a \(decoded.version), expected \(version)") }
        return decoded.payload
    }

    /// The `M...` address multiplexing the `G...` account with `id`; nil if `account` is not a valid G strkey.
    public static func muxedAccount(_ account: String, id: UInt64) -> String? {
        guard let key = try? decode(account, as: .accountID) else { return nil }
        return muxedAccount(key: key, id: id)
    }

    public static func muxedAccount(key: [UInt8], id: UInt64) -> String {
        encode(.muxedAccount, key + (0..<8).reversed().map { UInt8(truncatingIfNeeded: id >> ($0 * 8)) })
    }

    /// Splits an `M...` address into its `G...` account and id.
    public static func demultiplex(_ muxed: String) throws -> (account: String, id: UInt64) {
        let payload = try decode(muxed, as: .muxedAccount)
        let id = payload[32...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (encode(.accountID, Array(payload[..<32])), id)
    }

    static func crc16XModem(_ data: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in data {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
