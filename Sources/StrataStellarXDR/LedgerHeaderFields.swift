import Crypto

/// The fields of a `LedgerHeader` that stellar-etl's ledger rows carry.
public struct LedgerHeaderFields: Sendable, Equatable {
    public var protocolVersion: UInt32
    public var previousLedgerHash: [UInt8]
    public var closeTime: UInt64
    /// The validator that signed the close value (a `G...` strkey), when the value is signed.
    public var nodeID: String?
    public var signature: [UInt8]?
    public var sequence: UInt32
    public var totalCoins: Int64
    public var feePool: Int64
    public var baseFee: UInt32
    public var baseReserve: UInt32
    public var maxTxSetSize: UInt32
    /// SHA-256 of the header XDR: the ledger's hash.
    public var hash: [UInt8]
    /// The header's XDR.
    public var xdr: [UInt8]

    /// Decodes a whole `LedgerHeader`.
    public static func decode(_ bytes: [UInt8]) throws -> LedgerHeaderFields {
        var r = XDRReader(bytes)
        let fields = try read(&r)
        try r.expectEnd("LedgerHeader")
        return fields
    }

    /// Reads one `LedgerHeader` at the reader's position (checking all of it).
    public static func read(_ r: inout XDRReader) throws -> LedgerHeaderFields {
        let start = r.offset
        var h = r
        try XDRWalker.walkLedgerHeader(&r)
        let bytes = Array(r.bytes[start..<r.offset])
        let protocolVersion = try h.readUInt32("LedgerHeader.ledgerVersion")
        let previous = try h.readFixedOpaque(32, "LedgerHeader.previousLedgerHash")
        // StellarValue { txSetHash; closeTime; upgrades<6>; ext }
        try h.skip(32, "StellarValue.txSetHash")
        let closeTime = try h.readUInt64("StellarValue.closeTime")
        for _ in 0..<(try h.readLength(maximum: 6, elementSize: 4, "StellarValue.upgrades")) {
            try h.skip(try h.readLength(maximum: 128, elementSize: 1, "UpgradeType"), "UpgradeType")
        }
        var nodeID: String?
        var signature: [UInt8]?
        let extStart = h.offset
        switch try h.readInt32("StellarValue.ext") {
        case 0: break
        case 1:
            // LedgerCloseValueSignature { NodeID nodeID; Signature signature; }
            let keyType = try h.readInt32("PublicKey")
            guard keyType == 0 else { throw h.error("PublicKey", "unknown key type \(keyType)", at: h.offset - 4) }
            nodeID = StrKey.encode(.accountID, try h.readFixedOpaque(32, "PublicKey.ed25519"))
            signature = try h.readVariableOpaque(maximum: 64, "Signature")
        case let v: throw h.error("StellarValue.ext", "unknown union arm \(v)", at: extStart)
        }
        try h.skip(64, "LedgerHeader.txSetResultHash, bucketListHash")
        let sequence = try h.readUInt32("LedgerHeader.ledgerSeq")
        let totalCoins = try h.readInt64("LedgerHeader.totalCoins")
        let feePool = try h.readInt64("LedgerHeader.feePool")
        try h.skip(4 + 8, "LedgerHeader.inflationSeq, idPool")
        let baseFee = try h.readUInt32("LedgerHeader.baseFee")
        let baseReserve = try h.readUInt32("LedgerHeader.baseReserve")
        let maxTxSetSize = try h.readUInt32("LedgerHeader.maxTxSetSize")
        return LedgerHeaderFields(
            protocolVersion: protocolVersion, previousLedgerHash: previous, closeTime: closeTime, nodeID: nodeID, signature: signature,
            sequence: sequence, totalCoins: totalCoins, feePool: feePool, baseFee: baseFee, baseReserve: baseReserve,
            maxTxSetSize: maxTxSetSize, hash: Array(SHA256.hash(data: bytes)), xdr: bytes)
    }
}

/// Counts stellar-etl's ledger rows carry, from the transaction set and the results.
public struct LedgerCounts: Sendable, Equatable {
    /// Transactions in the set.
    public var transactions = 0
    public var successful = 0
    public var failed = 0
    /// Operations of the successful transactions (their operation results).
    public var operations = 0
    /// Operations of every transaction in the set.
    public var txSetOperations = 0

    public init() {}
}

/// What stellar-etl's counts need of transactions, read without building them.
public enum TransactionXDR {
    /// The operations of one `TransactionEnvelope` (the inner transaction's for a fee bump); the
    /// reader passes the whole envelope.
    public static func operationCount(_ r: inout XDRReader) throws -> Int {
        var e = r
        try XDRWalker.walkTransactionEnvelope(&r)
        var type = try e.readInt32("TransactionEnvelope")
        if type == 5 {
            // FeeBumpTransaction { MuxedAccount feeSource; int64 fee; innerTx; ext }
            try XDRWalker.walkMuxedAccount(&e)
            try e.skip(8, "FeeBumpTransaction.fee")
            type = try e.readInt32("FeeBumpTransaction.innerTx")
        }
        switch type {
        case 0:
            // TransactionV0 { uint256 source; uint32 fee; int64 seqNum; TimeBounds* timeBounds; Memo memo; Operation operations<100>; ... }
            try e.skip(32 + 4 + 8, "TransactionV0")
            if try e.readBool("TransactionV0.timeBounds") { try XDRWalker.walkTimeBounds(&e) }
            try XDRWalker.walkMemo(&e)
        case 2:
            // Transaction { MuxedAccount source; uint32 fee; int64 seqNum; Preconditions cond; Memo memo; Operation operations<100>; ... }
            try XDRWalker.walkMuxedAccount(&e)
            try e.skip(4 + 8, "Transaction.fee, seqNum")
            try XDRWalker.walkPreconditions(&e)
            try XDRWalker.walkMemo(&e)
        default:
            throw e.error("TransactionEnvelope", "unknown envelope type \(type)")
        }
        return try e.readLength(maximum: 100, elementSize: 4, "Transaction.operations")
    }

    /// Whether one `TransactionResult` is a success (`txSUCCESS`, or a fee bump whose inner
    /// transaction succeeded), and how many operation results it holds (nil when it has none: a
    /// transaction that failed before its operations ran). The reader passes the whole result.
    public static func result(_ r: inout XDRReader) throws -> (successful: Bool, operationResults: Int?) {
        var t = r
        try XDRWalker.walkTransactionResult(&r)
        try t.skip(8, "TransactionResult.feeCharged")
        var code = try t.readInt32("TransactionResult.result")
        if code == 1 || code == -13 {
            // InnerTransactionResultPair { Hash transactionHash; InnerTransactionResult { int64 feeCharged; result; ext } }
            try t.skip(32 + 8, "InnerTransactionResultPair")
            code = try t.readInt32("InnerTransactionResult.result")
            let results = code == 0 || code == -1 ? try t.readLength(maximum: 100, elementSize: 4, "OperationResult") : nil
            return (code == 0, results)
        }
        let results = code == 0 || code == -1 ? try t.readLength(maximum: 100, elementSize: 4, "OperationResult") : nil
        return (code == 0, results)
    }

    /// A `TransactionResultPair` (hash, then result).
    public static func resultPair(_ r: inout XDRReader) throws -> (successful: Bool, operationResults: Int?) {
        try r.skip(32, "TransactionResultPair.transactionHash")
        return try result(&r)
    }
}
