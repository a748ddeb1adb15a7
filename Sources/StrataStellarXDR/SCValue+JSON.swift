import StrataCore

/// `SCValue` as JSON in the shape stellar-etl exports use for `topics_decoded` / `data_decoded`
/// (stellar-xdr's serde form): `{"symbol": "transfer"}`, `{"i128": "-5"}`, `"void"`, ...
/// 64-bit and wider integers are decimal strings so no JSON reader rounds them.
extension SCValue {
    public var jsonValue: JSONValue {
        switch self {
        case .bool(let b): return ["bool": .bool(b)]
        case .void: return .string("void")
        case .error(let e): return ["error": e.jsonValue]
        case .u32(let v): return ["u32": .int(v)]
        case .i32(let v): return ["i32": .int(v)]
        case .u64: return ["u64": .string(integerDecimal!)]
        case .i64: return ["i64": .string(integerDecimal!)]
        case .timepoint: return ["timepoint": .string(integerDecimal!)]
        case .duration: return ["duration": .string(integerDecimal!)]
        case .u128: return ["u128": .string(integerDecimal!)]
        case .i128: return ["i128": .string(integerDecimal!)]
        case .u256: return ["u256": .string(integerDecimal!)]
        case .i256: return ["i256": .string(integerDecimal!)]
        case .bytes(let b): return ["bytes": .string(StellarXDR.hex(b))]
        // Invalid UTF-8 is replaced: JSON strings cannot carry raw bytes.
        case .string(let raw): return ["string": .string(String(decoding: raw, as: UTF8.self))]
        case .symbol(let s): return ["symbol": .string(s)]
        case .vec(let items): return ["vec": items.map { .array($0.map(\.jsonValue)) } ?? .null]
        case .map(let entries): return ["map": entries.map(Self.json) ?? .null]
        case .address(let a): return ["address": .string(a)]
        case .contractInstance(let instance):
            let executable: JSONValue =
                switch instance.executable {
                case .wasm(let hash): ["wasm": .string(StellarXDR.hex(hash))]
                case .stellarAsset: .string("stellar_asset")
                }
            return ["contract_instance": ["executable": executable, "storage": instance.storage.map(Self.json) ?? .null]]
        case .ledgerKeyContractInstance: return .string("ledger_key_contract_instance")
        case .ledgerKeyNonce(let n): return ["ledger_key_nonce": ["nonce": .string(String(n))]]
        }
    }

    private static func json(_ entries: [SCMapEntry]) -> JSONValue {
        .array(entries.map { ["key": $0.key.jsonValue, "val": $0.value.jsonValue] })
    }
}

extension SCError {
    private static let typeNames = ["contract", "wasm_vm", "context", "storage", "object", "crypto", "events", "budget", "value", "auth"]
    private static let codeNames = [
        "arith_domain", "index_bounds", "invalid_input", "missing_value", "existing_value", "exceeded_limit",
        "invalid_action", "internal_error", "unexpected_type", "unexpected_size",
    ]

    /// `{"contract": 7}` for contract errors, else `{"<type>": "<code>"}`.
    public var jsonValue: JSONValue {
        let name = Self.typeNames.indices.contains(Int(type)) ? Self.typeNames[Int(type)] : String(type)
        if type == 0 { return .object([name: .int(code)]) }
        let codeName = Self.codeNames.indices.contains(Int(code)) ? Self.codeNames[Int(code)] : String(code)
        return .object([name: .string(codeName)])
    }
}
