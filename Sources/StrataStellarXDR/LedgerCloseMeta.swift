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
    public var sequence: UInt32
    /// The ledger's hash (SHA-256 of its `LedgerHeader`), checked.
    public var hash: [UInt8]
    public var previousLedgerHash: [UInt8]
    /// Unix seconds.
    public var closeTime: UInt64
    public var protocolVersion: UInt32
    /// Entries of `txProcessing`: every transaction applied in the ledger.
    public var transactionCount: Int
    /// Where the value starts in the bytes it was read from, and its length.
    public var byteRange: Range<Int>

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
        if discriminant >= 1 { try XDRWalker.walkLedgerCloseMetaExt(&r) }

        // LedgerHeaderHistoryEntry { Hash hash; LedgerHeader header; ext }: the header's fields are
        // read from a copy of the reader while the walker checks and passes the whole entry.
        var entry = r
        try XDRWalker.walkLedgerHeaderHistoryEntry(&r)
        let hash = try entry.readFixedOpaque(32, "LedgerHeaderHistoryEntry.hash")
        let headerStart = entry.offset
        var header = entry
        try XDRWalker.walkLedgerHeader(&entry)
        let headerBytes = entry.bytes[headerStart..<entry.offset]
        guard Array(SHA256.hash(data: headerBytes)) == hash else {
            throw r.error("LedgerHeaderHistoryEntry", "the hash does not match the SHA-256 of the ledger header", at: headerStart)
        }
        let protocolVersion = try header.readUInt32("LedgerHeader.ledgerVersion")
        let previous = try header.readFixedOpaque(32, "LedgerHeader.previousLedgerHash")
        var value = header
        try XDRWalker.walkStellarValue(&header)
        try value.skip(32, "StellarValue.txSetHash")
        let closeTime = try value.readUInt64("StellarValue.closeTime")
        try header.skip(64, "LedgerHeader.txSetResultHash, bucketListHash")
        let sequence = try header.readUInt32("LedgerHeader.ledgerSeq")

        if discriminant == 0 {
            try XDRWalker.walkTransactionSet(&r)
        } else {
            try XDRWalker.walkGeneralizedTransactionSet(&r)
        }
        let transactions = try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.txProcessing")
        for _ in 0..<transactions {
            if discriminant == 2 {
                try XDRWalker.walkTransactionResultMetaV1(&r)
            } else {
                try XDRWalker.walkTransactionResultMeta(&r)
            }
        }
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.upgradesProcessing")) {
            try XDRWalker.walkUpgradeEntryMeta(&r)
        }
        for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.scpInfo")) {
            try XDRWalker.walkSCPHistoryEntry(&r)
        }
        if discriminant >= 1 {
            try r.skip(8, "LedgerCloseMeta.totalByteSizeOfLiveSorobanState")
            for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.evictedKeys")) {
                try XDRWalker.walkLedgerKey(&r)
            }
        }
        if discriminant == 1 {
            for _ in 0..<(try r.readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerCloseMeta.unused")) {
                try XDRWalker.walkLedgerEntry(&r)
            }
        }
        return LedgerCloseMetaSummary(
            version: Int(discriminant), sequence: sequence, hash: hash, previousLedgerHash: previous, closeTime: closeTime,
            protocolVersion: protocolVersion, transactionCount: transactions, byteRange: start..<r.offset)
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
