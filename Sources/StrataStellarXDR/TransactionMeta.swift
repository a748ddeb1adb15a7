/// What Strata needs from a `TransactionMeta` (versions 0 through 4).
public struct DecodedTransactionMeta: Sendable, Equatable {
    public var version: Int
    /// v4 transaction-level events (fees); empty before v4.
    public var transactionEvents: [DecodedTransactionEvent] = []
    /// One list per operation. v4: each operation's events. v3: the Soroban contract events,
    /// under operation 0 (a Soroban transaction has exactly one operation). Empty lists before v3.
    public var operationEvents: [[DecodedContractEvent]] = []
    public var diagnosticEvents: [DecodedContractEvent] = []
    /// The host function's return value (v3, and v4 when recorded).
    public var sorobanReturnValue: SCValue?
    /// Every ACCOUNT change: transaction-level before, per operation, transaction-level after.
    public var accounts: [AccountEntryChange] = []
    /// Every TRUSTLINE change, in the same order.
    public var trustlines: [TrustlineEntryChange] = []
    /// Every OFFER change, in the same order.
    public var offers: [OfferEntryChange] = []
    /// Every LIQUIDITY_POOL change, in the same order.
    public var liquidityPools: [LiquidityPoolEntryChange] = []

    public var operationCount: Int { operationEvents.count }

    init(version: Int) { self.version = version }
}

extension XDRReader {
    public mutating func readTransactionMeta() throws -> DecodedTransactionMeta {
        let version = try readDiscriminant("TransactionMeta", allowed: 0...4)
        var meta = DecodedTransactionMeta(version: Int(version))
        var changes = DecodedLedgerEntryChanges()
        switch version {
        case 0:
            try readOperationMetas(into: &meta, &changes)
        case 1:
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            try readOperationMetas(into: &meta, &changes)
        case 2:
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            try readOperationMetas(into: &meta, &changes)
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
        case 3:
            try readEmptyExtension("TransactionMetaV3.ext")
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            try readOperationMetas(into: &meta, &changes)
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            if try readBool("TransactionMetaV3.sorobanMeta") { try readSorobanMetaV1(into: &meta) }
        default:
            try readEmptyExtension("TransactionMetaV4.ext")
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            var index = 0
            meta.operationEvents = try readArray("TransactionMetaV4.operations") { r in
                try r.readEmptyExtension("OperationMetaV2.ext")
                try r.readLedgerEntryChanges(operationIndex: index, into: &changes)
                index += 1
                return try r.readArray("OperationMetaV2.events") { r in try r.readContractEvent() }
            }
            try readLedgerEntryChanges(operationIndex: nil, into: &changes)
            if try readBool("TransactionMetaV4.sorobanMeta") {
                try readSorobanExt()
                meta.sorobanReturnValue = try readOptional("SorobanTransactionMetaV2.returnValue") { r in try r.readSCValue() }
            }
            meta.transactionEvents = try readArray("TransactionMetaV4.events") { r in try r.readTransactionEvent() }
            meta.diagnosticEvents = try readArray("TransactionMetaV4.diagnosticEvents") { r in try r.readDiagnosticEvent() }
        }
        meta.accounts = changes.accounts
        meta.trustlines = changes.trustlines
        meta.offers = changes.offers
        meta.liquidityPools = changes.liquidityPools
        return meta
    }

    /// `OperationMeta operations<>` of v0-v3: just each operation's changes.
    private mutating func readOperationMetas(into meta: inout DecodedTransactionMeta, _ changes: inout DecodedLedgerEntryChanges) throws {
        let count = try readLength(maximum: Int(UInt32.max), elementSize: 4, "OperationMeta")
        for index in 0..<count {
            try readLedgerEntryChanges(operationIndex: index, into: &changes)
        }
        meta.operationEvents = Array(repeating: [], count: count)
    }

    private mutating func readSorobanMetaV1(into meta: inout DecodedTransactionMeta) throws {
        try readSorobanExt()
        let events = try readArray("SorobanTransactionMeta.events") { r in try r.readContractEvent() }
        meta.sorobanReturnValue = try readSCValue()
        meta.diagnosticEvents = try readArray("SorobanTransactionMeta.diagnosticEvents") { r in try r.readDiagnosticEvent() }
        if meta.operationEvents.isEmpty { meta.operationEvents = [[]] }
        meta.operationEvents[0] = events
    }

    /// `SorobanTransactionMetaExt`: fee breakdown in v1, not surfaced.
    private mutating func readSorobanExt() throws {
        guard try readDiscriminant("SorobanTransactionMetaExt", allowed: 0...1) == 1 else { return }
        try readEmptyExtension("SorobanTransactionMetaExtV1.ext")
        for _ in 0..<3 { _ = try readInt64("SorobanTransactionMetaExtV1") }
    }
}
