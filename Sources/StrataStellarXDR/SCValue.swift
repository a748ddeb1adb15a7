/// A Soroban value (the XDR `SCVal` union), every arm of the current protocol.
public indirect enum SCValue: Sendable, Equatable {
    case bool(Bool)
    case void
    case error(SCError)
    case u32(UInt32)
    case i32(Int32)
    case u64(UInt64)
    case i64(Int64)
    case timepoint(UInt64)
    case duration(UInt64)
    case u128(hi: UInt64, lo: UInt64)
    case i128(hi: Int64, lo: UInt64)
    case u256(hiHi: UInt64, hiLo: UInt64, loHi: UInt64, loLo: UInt64)
    case i256(hiHi: Int64, hiLo: UInt64, loHi: UInt64, loLo: UInt64)
    case bytes([UInt8])
    /// Raw bytes: XDR strings need not be UTF-8 (see `string` for the decoded text).
    case string([UInt8])
    case symbol(String)
    /// nil is the XDR "absent" vector, distinct from an empty one.
    case vec([SCValue]?)
    /// Entries in encoded order (the host keeps them sorted); nil is an absent map.
    case map([SCMapEntry]?)
    /// A strkey: `G...` account, `C...` contract, `M...` muxed account, `B...` claimable balance, `L...` pool.
    case address(String)
    case contractInstance(SCContractInstance)
    case ledgerKeyContractInstance
    case ledgerKeyNonce(Int64)
}

public struct SCMapEntry: Sendable, Equatable {
    public var key: SCValue
    public var value: SCValue

    public init(key: SCValue, value: SCValue) {
        self.key = key
        self.value = value
    }
}

/// `SCError`: a type (SCErrorType, 0 = contract) and a code (user code for contracts, else SCErrorCode).
public struct SCError: Sendable, Equatable {
    public var type: Int32
    public var code: UInt32

    public init(type: Int32, code: UInt32) {
        self.type = type
        self.code = code
    }
}

public enum SCContractExecutable: Sendable, Equatable {
    case wasm(hash: [UInt8])
    case stellarAsset
}

public struct SCContractInstance: Sendable, Equatable {
    public var executable: SCContractExecutable
    public var storage: [SCMapEntry]?

    public init(executable: SCContractExecutable, storage: [SCMapEntry]?) {
        self.executable = executable
        self.storage = storage
    }
}

// MARK: - Accessors

extension SCValue {
    public var symbol: String? {
        if case .symbol(let s) = self { return s }
        return nil
    }

    public var address: String? {
        if case .address(let a) = self { return a }
        return nil
    }

    /// The text of a string value, or nil when it is not a string or not valid UTF-8.
    public var string: String? {
        guard case .string(let raw) = self else { return nil }
        return String(validating: raw, as: UTF8.self)
    }

    public var bytes: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var u32: UInt32? {
        if case .u32(let v) = self { return v }
        return nil
    }

    public var u64: UInt64? {
        if case .u64(let v) = self { return v }
        return nil
    }

    public var i64: Int64? {
        if case .i64(let v) = self { return v }
        return nil
    }

    public var i128: (hi: Int64, lo: UInt64)? {
        if case .i128(let hi, let lo) = self { return (hi, lo) }
        return nil
    }

    /// The exact decimal text of an i128 (token amounts), negative values included.
    public var i128Decimal: String? {
        guard case .i128(let hi, let lo) = self else { return nil }
        return String(Int128(hi) << 64 | Int128(lo))
    }

    /// The exact decimal text of any integer arm (u32 through i256, timepoint, duration).
    public var integerDecimal: String? {
        switch self {
        case .u32(let v): String(v)
        case .i32(let v): String(v)
        case .u64(let v), .timepoint(let v), .duration(let v): String(v)
        case .i64(let v): String(v)
        case .u128(let hi, let lo): String(UInt128(hi) << 64 | UInt128(lo))
        case .i128: i128Decimal
        case .u256(let a, let b, let c, let d): WideDecimal.string(words: [a, b, c, d], signed: false)
        case .i256(let a, let b, let c, let d): WideDecimal.string(words: [UInt64(bitPattern: a), b, c, d], signed: true)
        default: nil
        }
    }

    public var vec: [SCValue]? {
        if case .vec(let v) = self { return v }
        return nil
    }

    public var map: [SCMapEntry]? {
        if case .map(let m) = self { return m }
        return nil
    }

    /// The value under the symbol key `key` when this is a map (SEP-41 event data, contract structs).
    public func mapValue(symbol key: String) -> SCValue? {
        map?.first { $0.key.symbol == key }?.value
    }
}
