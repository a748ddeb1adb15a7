import Crypto

/// One `LedgerCloseMeta` (v0, v1 or v2), checked whole, and what a source needs of it: its place
/// in the hash chain, its header's main fields and its size.
///
/// Reading walks every byte with the generated `XDRWalker` (every union arm, enum value, length
/// and padding of the protocol's XDR), so a value that reads is well-formed to its last byte; and
/// the header hash the value carries is checked against the SHA-256 of its header.
public struct LedgerCloseMetaSummary: Sendable, Equatable {
    /// The `LedgerCloseMeta` union arm: 0, 1 or 2.
    public var version: Int
    public var sequence: UInt32 { header.sequence }
    /// The ledger's hash (SHA-256 of its `LedgerHeader`), checked against the one the meta carries.
    public var hash: [UInt8] { header.hash }
    public var previousLedgerHash: [UInt8] { header.previousLedgerHash }
    /// Unix seconds.
    public var closeTime: UInt64 { header.closeTime }
    public var protocolVersion: UInt32 { header.protocolVersion }
    /// Entries of `txProcessing`: every transaction applied in the ledger.
    public var transactionCount: Int { applied.count }
    /// Where the value starts in the bytes it was read from, and its length.
    public var byteRange: Range<Int>
    /// The header's fields (stellar-etl's ledger row).
    public var header: LedgerHeaderFields
    /// Transactions and operations, counted as stellar-etl counts them.
    public var counts: LedgerCounts
    /// `LedgerCloseMetaExtV1.sorobanFeeWrite1KB` (0 without it).
    public var sorobanFeeWrite1KB: Int64
    /// `totalByteSizeOfLiveSorobanState` of v1 and v2 metas (0 for v0).
    public var liveSorobanStateBytes: UInt64
    public var evictedKeys: Int
    /// Every transaction applied, in apply order: its hash, whether it succeeded, and where its
    /// `TransactionMeta` is in the bytes read.
    public var applied: [AppliedTransaction]

    public struct AppliedTransaction: Sendable, Equatable {
        public var hash: [UInt8]
        public var successful: Bool
        public var metaRange: Range<Int>
    }

    /// Reads exactly one `LedgerCloseMeta` from `bytes`.
    public static func decode(_ bytes: [UInt8]) throws -> LedgerCloseMetaSummary {
        var reader = XDRReader(bytes)
        let summary = try read(&reader)
        try reader.expectEnd("LedgerCloseMeta")
        return summary
    }

    /// Reads one `LedgerCloseMeta` at the reader's position.
    public static func read(_ r: inout XDRReader) throws -> LedgerCloseMetaSummary {
        let start = r.offset
        let discriminant = try r.readInt32("LedgerCloseMeta")
        guard (0...2).contains(discriminant) else {
            throw r.error("LedgerCloseMeta", "unknown union arm \(discriminant)", at: start)
        }
        var sorobanFeeWrite1KB: Int64 = 0
        if discriminant >= 1 {
            var ext = r
            try XDRWalker.walkLedgerCloseMetaExt(&r)
            if try ext.readInt32("LedgerCloseMetaExt") == 1 {
                try ext.skip(4, "LedgerCloseMetaExtV1.ext")
                sorobanFeeWrite1KB = try ext.readInt64("LedgerCloseMetaExtV1.sorobanFeeWrite1KB")
            }
        }

        // LedgerHeaderHistoryEntry { Hash hash; LedgerHeader header; ext }
        let hash = try r.readFixedOpaque(32, "LedgerHeaderHistoryEntry.hash")
        let headerStart = r.offset
        let header = try LedgerHeaderFields.read(&r)
        guard header.hash == hash else {
            throw r.error("LedgerHeaderHistoryEntry", "the hash does not match the SHA-256 of the ledger header", at: headerStart)
        }
        try r.readEmptyExtension("LedgerHeaderHistoryEntry.ext")

        var counts = LedgerCounts()
        if discriminant == 0 {
            // TransactionSet { Hash previousLedgerHash; TransactionEnvelope txs<>; }
            try r.skip(32, "TransactionSet.previousLedgerHash")
            try countEnvelopes(&r, into: &counts)
        } else {
            try countGeneralizedSet(&r, into: &counts)
        }
        let transactions = try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.txProcessing")
        var applied: [AppliedTransaction] = []
        applied.reserveCapacity(transactions)
        for _ in 0..<transactions {
            if discriminant == 2 { try r.readEmptyExtension("TransactionResultMetaV1.ext") }
            var pair = r
            let transactionHash = try pair.readFixedOpaque(32, "TransactionResultPair.transactionHash")
            let (successful, operations) = try TransactionXDR.resultPair(&r)
            if successful {
                counts.successful += 1
                counts.operations += operations ?? 0
            } else {
                counts.failed += 1
            }
            try XDRWalker.walkLedgerEntryChanges(&r)
            let metaStart = r.offset
            try XDRWalker.walkTransactionMeta(&r)
            applied.append(AppliedTransaction(hash: transactionHash, successful: successful, metaRange: metaStart..<r.offset))
            if discriminant == 2 { try XDRWalker.walkLedgerEntryChanges(&r) }
        }
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.upgradesProcessing")) {
            try XDRWalker.walkUpgradeEntryMeta(&r)
        }
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.scpInfo")) {
            try XDRWalker.walkSCPHistoryEntry(&r)
        }
        var liveSorobanStateBytes: UInt64 = 0
        var evictedKeys = 0
        if discriminant >= 1 {
            liveSorobanStateBytes = try r.readUInt64("LedgerCloseMeta.totalByteSizeOfLiveSorobanState")
            evictedKeys = try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.evictedKeys")
            for _ in 0..<evictedKeys { try XDRWalker.walkLedgerKey(&r) }
        }
        if discriminant == 1 {
            for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.unused")) {
                try XDRWalker.walkLedgerEntry(&r)
            }
        }
        return LedgerCloseMetaSummary(
            version: Int(discriminant), byteRange: start..<r.offset, header: header, counts: counts, sorobanFeeWrite1KB: sorobanFeeWrite1KB, liveSorobanStateBytes: liveSorobanStateBytes,
            evictedKeys: evictedKeys, applied: applied)
    }

    /// `TransactionEnvelope txs<>`: counted into the set's transactions and operations.
    private static func countEnvelopes(_ r: inout XDRReader, into counts: inout LedgerCounts) throws {
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "TransactionEnvelope<>")) {
            counts.transactions += 1
            counts.txSetOperations += try TransactionXDR.operationCount(&r)
        }
    }

    /// A `GeneralizedTransactionSet` (v1: phases of classic components or parallel Soroban stages).
    private static func countGeneralizedSet(_ r: inout XDRReader, into counts: inout LedgerCounts) throws {
        let start = r.offset
        guard try r.readInt32("GeneralizedTransactionSet") == 1 else {
            throw r.error("GeneralizedTransactionSet", "unknown union arm", at: start)
        }
        try r.skip(32, "TransactionSetV1.previousLedgerHash")
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "TransactionSetV1.phases")) {
            let phaseStart = r.offset
            switch try r.readInt32("TransactionPhase") {
            case 0:
                for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "TxSetComponent<>")) {
                    let componentStart = r.offset
                    guard try r.readInt32("TxSetComponent") == 0 else {
                        throw r.error("TxSetComponent", "unknown union arm", at: componentStart)
                    }
                    if try r.readBool("TxSetComponent.baseFee") { try r.skip(8, "TxSetComponent.baseFee") }
                    try countEnvelopes(&r, into: &counts)
                }
            case 1:
                // ParallelTxsComponent { int64* baseFee; ParallelTxExecutionStage executionStages<>; }
                if try r.readBool("ParallelTxsComponent.baseFee") { try r.skip(8, "ParallelTxsComponent.baseFee") }
                for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "ParallelTxExecutionStage<>")) {
                    for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "DependentTxCluster<>")) {
                        try countEnvelopes(&r, into: &counts)
                    }
                }
            case let v:
                throw r.error("TransactionPhase", "unknown union arm \(v)", at: phaseStart)
            }
        }
    }
}

/// Galexie's `LedgerCloseMetaBatch` (Stellar-exporter.x): consecutive ledgers, checked whole.
public struct LedgerCloseMetaBatch: Sendable, Equatable {
    public var startSequence: UInt32
    public var endSequence: UInt32
    /// The ledgers in order; each `byteRange` indexes the bytes the batch was read from.
    public var ledgers: [LedgerCloseMetaSummary]

    /// Reads a whole batch. Its ledgers must be consecutive and run from `startSequence` to
    /// `endSequence`, and each must carry the hash of the one before as its previous hash.
    public static func decode(_ bytes: [UInt8]) throws -> LedgerCloseMetaBatch {
        var r = XDRReader(bytes)
        let start = try r.readUInt32("LedgerCloseMetaBatch.startSequence")
        let end = try r.readUInt32("LedgerCloseMetaBatch.endSequence")
        guard start <= end else {
            throw r.error("LedgerCloseMetaBatch", "startSequence \(start) is after endSequence \(end)", at: 0)
        }
        let countOffset = r.offset
        let count = try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMetaBatch.ledgerCloseMetas")
        guard count == Int(end - start) + 1 else {
            throw r.error("LedgerCloseMetaBatch", "holds \(count) ledgers, but \(start)-\(end) is \(Int(end - start) + 1)", at: countOffset)
        }
        var ledgers: [LedgerCloseMetaSummary] = []
        ledgers.reserveCapacity(count)
        for i in 0..<count {
            let at = r.offset
            let ledger = try LedgerCloseMetaSummary.read(&r)
            let expected = start + UInt32(i)
            guard ledger.sequence == expected else {
                throw r.error("LedgerCloseMetaBatch", "ledger \(i + 1) of the batch is \(ledger.sequence), expected \(expected)", at: at)
            }
            if let before = ledgers.last, ledger.previousLedgerHash != before.hash {
                throw r.error("LedgerCloseMetaBatch", "ledger \(ledger.sequence)'s previous hash is not the hash of ledger \(before.sequence)", at: at)
            }
            ledgers.append(ledger)
        }
        try r.expectEnd("LedgerCloseMetaBatch")
        return LedgerCloseMetaBatch(startSequence: start, endSequence: end, ledgers: ledgers)
    }

    /// Encodes ledgers (each a whole `LedgerCloseMeta`) as a batch: for tests and tools that write
    /// a data lake.
    public static func encode(startSequence: UInt32, endSequence: UInt32, ledgers: [[UInt8]]) -> [UInt8] {
        var w = XDRWriter()
        w.writeUInt32(startSequence)
        w.writeUInt32(endSequence)
        w.writeUInt32(UInt32(ledgers.count))
        var out = w.bytes
        for ledger in ledgers { out += ledger }
        return out
    }
}
