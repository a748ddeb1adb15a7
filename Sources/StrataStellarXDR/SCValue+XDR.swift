/// Decoding `SCVal` and `SCAddress` (Stellar-contract.x).
extension XDRReader {
    public mutating func readSCValue() throws -> SCValue {
        try nested("SCVal") { r in try r.readSCValueArm() }
    }

    private mutating func readSCValueArm() throws -> SCValue {
        let type = "SCVal"
        switch try readDiscriminant(type, allowed: 0...21) {
        case 0: return .bool(try readBool(type))
        case 1: return .void
        case 2: return .error(try readSCError())
        case 3: return .u32(try readUInt32(type))
        case 4: return .i32(try readInt32(type))
        case 5: return .u64(try readUInt64(type))
        case 6: return .i64(try readInt64(type))
        case 7: return .timepoint(try readUInt64(type))
        case 8: return .duration(try readUInt64(type))
        case 9: return .u128(hi: try readUInt64(type), lo: try readUInt64(type))
        case 10: return .i128(hi: try readInt64(type), lo: try readUInt64(type))
        case 11: return .u256(hiHi: try readUInt64(type), hiLo: try readUInt64(type), loHi: try readUInt64(type), loLo: try readUInt64(type))
        case 12: return .i256(hiHi: try readInt64(type), hiLo: try readUInt64(type), loHi: try readUInt64(type), loLo: try readUInt64(type))
        case 13: return .bytes(try readVariableOpaque("SCBytes"))
        case 14: return .string(try readStringBytes("SCString"))
        case 15:
            let start = offset
            let raw = try readStringBytes(maximum: 32, "SCSymbol")
            // The host only admits [a-zA-Z0-9_] symbols, so anything else is corrupt input.
            guard let text = String(validating: raw, as: UTF8.self) else { throw error("SCSymbol", "not UTF-8", at: start) }
            return .symbol(text)
        case 16: return .vec(try readOptional("SCVec") { r in try r.readArray("SCVec") { r in try r.readSCValue() } })
        case 17: return .map(try readOptional("SCMap") { r in try r.readSCMap() })
        case 18: return .address(try readSCAddress())
        case 19: return .contractInstance(try readSCContractInstance())
        case 20: return .ledgerKeyContractInstance
        default: return .ledgerKeyNonce(try readInt64("SCNonceKey"))
        }
    }

    private mutating func readSCError() throws -> SCError {
        let errorType = try readDiscriminant("SCError", allowed: 0...9)
        // Contract errors carry a user code; the others an SCErrorCode (0...9 today, kept open here).
        return SCError(type: errorType, code: try readUInt32("SCError.code"))
    }

    mutating func readSCMap() throws -> [SCMapEntry] {
        try readArray("SCMap") { r in SCMapEntry(key: try r.readSCValue(), value: try r.readSCValue()) }
    }

    private mutating func readSCContractInstance() throws -> SCContractInstance {
        let executable: SCContractExecutable =
            switch try readDiscriminant("ContractExecutable", allowed: 0...1) {
            case 0: .wasm(hash: try readHash("ContractExecutable.wasm_hash"))
            default: .stellarAsset
            }
        let storage = try readOptional("SCContractInstance.storage") { r in try r.readSCMap() }
        return SCContractInstance(executable: executable, storage: storage)
    }

    /// `SCAddress` as a strkey, covering the muxed, claimable balance and pool arms of protocol 23.
    public mutating func readSCAddress() throws -> String {
        let type = "SCAddress"
        switch try readDiscriminant(type, allowed: 0...4) {
        case 0: return try readAccountID()
        case 1: return StrKey.encode(.contract, try readHash("ContractID"))
        case 2:
            // MuxedEd25519Account is { uint64 id; uint256 ed25519; }: the id comes first on the wire.
            let id = try readUInt64("MuxedEd25519Account.id")
            return StrKey.muxedAccount(key: try readHash("MuxedEd25519Account.ed25519"), id: id)
        case 3: return StrKey.encode(.claimableBalance, try readClaimableBalanceID())
        default: return StrKey.encode(.liquidityPool, try readHash("PoolID"))
        }
    }
}
