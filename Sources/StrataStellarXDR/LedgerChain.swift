import Crypto

/// Derives a hash chain of consecutive ledgers from real `LedgerCloseMeta`s that are not
/// consecutive, for tests and benchmarks that need a data lake longer than the recorded one: each
/// ledger's header gets a new sequence and the previous ledger's hash, and its hash is recomputed.
/// Everything else (transactions, meta) stays as recorded.
public enum LedgerChain {
    /// `ledgers` renumbered from `first` (cycling through them when `count` is larger), chained.
    /// `seed` sets the first ledger's previous hash, so two seeds give two different chains.
    public static func rechain(_ ledgers: [[UInt8]], from first: UInt32, count: Int? = nil, seed: UInt32 = 0) throws -> [[UInt8]] {
        guard !ledgers.isEmpty else { return [] }
        var previous = Array(SHA256.hash(data: Array("strata ledger chain \(seed)".utf8)))
        var out: [[UInt8]] = []
        let total = count ?? ledgers.count
        out.reserveCapacity(total)
        for i in 0..<total {
            var bytes = ledgers[i % ledgers.count]
            let layout = try headerLayout(bytes)
            let sequence = first &+ UInt32(i)
            bytes.replaceSubrange(layout.previousHash..<(layout.previousHash + 32), with: previous)
            bytes.replaceSubrange(layout.sequence..<(layout.sequence + 4), with: [
                UInt8(sequence >> 24), UInt8((sequence >> 16) & 0xFF), UInt8((sequence >> 8) & 0xFF), UInt8(sequence & 0xFF),
            ])
            let hash = Array(SHA256.hash(data: bytes[layout.header]))
            bytes.replaceSubrange(layout.hash..<(layout.hash + 32), with: hash)
            previous = hash
            out.append(bytes)
        }
        return out
    }

    /// Byte offsets of a `LedgerCloseMeta`'s header hash, header, previous hash and sequence.
    static func headerLayout(_ bytes: [UInt8]) throws -> (hash: Int, header: Range<Int>, previousHash: Int, sequence: Int) {
        var r = XDRReader(bytes)
        let discriminant = try r.readInt32("LedgerCloseMeta")
        guard (0...2).contains(discriminant) else { throw r.error("LedgerCloseMeta", "unknown union arm \(discriminant)", at: 0) }
        if discriminant >= 1 { try XDRWalker.walkLedgerCloseMetaExt(&r) }
        let hash = r.offset
        try r.skip(32, "LedgerHeaderHistoryEntry.hash")
        let headerStart = r.offset
        var header = r
        try XDRWalker.walkLedgerHeader(&r)
        try header.skip(4, "LedgerHeader.ledgerVersion")
        let previousHash = header.offset
        try header.skip(32, "LedgerHeader.previousLedgerHash")
        try XDRWalker.walkStellarValue(&header)
        try header.skip(64, "LedgerHeader.txSetResultHash, bucketListHash")
        return (hash, headerStart..<r.offset, previousHash, header.offset)
    }
}
