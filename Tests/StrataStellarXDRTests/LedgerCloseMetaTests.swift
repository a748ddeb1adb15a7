import Foundation
import StrataCore
import StrataStellarXDR
import Testing

/// Raw mainnet `LedgerCloseMeta` XDR: the workspace's `../shared/data/stellar/xdr` when present,
/// else the copy in the repository.
let xdrDirectory: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let workspace = root.deletingLastPathComponent().appendingPathComponent("shared/data/stellar/xdr")
    if FileManager.default.fileExists(atPath: workspace.path) { return workspace.path }
    return root.appendingPathComponent("Tests/Fixtures/shared-data/stellar/xdr").path
}()

func xdrFixture(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: "\(xdrDirectory)/\(name)")))
}

/// The base64 lines of a fixture, decoded.
func base64Ledgers(_ name: String) throws -> [[UInt8]] {
    let text = String(decoding: try xdrFixture(name), as: UTF8.self)
    return try text.split(whereSeparator: \.isNewline).map { line in
        guard let data = Data(base64Encoded: String(line)) else { throw CocoaError(.coderInvalidValue) }
        return Array(data)
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite struct LedgerCloseMetaTests {
    @Test func fiveMainnetLedgersDecodeWhole() throws {
        // Five ledgers of 2016-2023 (v0 metas; the Galexie batch below is a later version), each
        // walked to its last byte and its header hash checked.
        let ledgers = try base64Ledgers("ledgers-base64.txt")
        let summaries = try ledgers.map(LedgerCloseMetaSummary.decode)
        #expect(summaries.map(\.sequence) == [6_154_623, 16_154_623, 26_154_623, 46_154_623, 36_154_623])
        for (summary, bytes) in zip(summaries, ledgers) {
            #expect(summary.byteRange == 0..<bytes.count)
            #expect(summary.hash.count == 32)
            #expect(summary.closeTime > 1_400_000_000)
        }
        #expect(summaries.allSatisfy { $0.version == 0 })
    }

    @Test func theGalexieBatchDecodes() throws {
        let compressed = try xdrFixture("FCD285FF--53312000.xdr.zstd")
        #expect(Zstd.isFrame(compressed))
        let batch = try LedgerCloseMetaBatch.decode(try Zstd.decompress(compressed))
        #expect(batch.startSequence == 53_312_000)
        #expect(batch.endSequence == 53_312_000)
        #expect(batch.ledgers.count == 1)
        let ledger = try #require(batch.ledgers.first)
        #expect(ledger.sequence == 53_312_000)
        #expect(ledger.version >= 1)
        #expect(ledger.transactionCount > 0)
        #expect(ledger.protocolVersion >= 20)
    }

    @Test func singleLedgerFilesDecode() throws {
        for name in ["burn-ledger-7762802", "mint-ledger-7320888", "revoke-trustline-ledger-56065483", "xlm-burn-bug-ledger-9722383",
                     "xlm-mint-bug-ledger-9652679", "xlm-mint-bug-ledger-9652698", "xlm-mint-bug-ledger-9710976"]
        {
            let ledgers = try base64Ledgers(name)
            #expect(ledgers.count == 1, "\(name)")
            let summary = try LedgerCloseMetaSummary.decode(ledgers[0])
            let expected = UInt32(name.split(separator: "-").last!)!
            #expect(summary.sequence == expected, "\(name)")
        }
    }

    @Test func corruptInputIsRejectedWithTypeAndOffset() throws {
        let bytes = try base64Ledgers("ledgers-base64.txt")[0]
        // Truncated anywhere: an error, never a crash.
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            #expect(throws: XDRDecodingError.self) { try LedgerCloseMetaSummary.decode(Array(bytes[0..<cut])) }
        }
        // An unknown LedgerCloseMeta arm.
        var badArm = bytes
        badArm[3] = 7
        let armError = try #require(throws: XDRDecodingError.self) { try LedgerCloseMetaSummary.decode(badArm) }
        #expect(armError.type == "LedgerCloseMeta")
        #expect(armError.offset == 0)
        #expect(armError.description.contains("unknown union arm 7"))
        // A changed header byte (the close time): the hash no longer matches.
        var badHeader = bytes
        let summary = try LedgerCloseMetaSummary.decode(bytes)
        let headerStart = (summary.version >= 1 ? 8 : 4) + 32
        badHeader[headerStart + 4 + 32 + 32 + 7] ^= 0x01
        let hashError = try #require(throws: XDRDecodingError.self) { try LedgerCloseMetaSummary.decode(badHeader) }
        #expect(hashError.description.contains("hash does not match"))
        // Trailing bytes.
        #expect(throws: XDRDecodingError.self) { try LedgerCloseMetaSummary.decode(bytes + [0, 0, 0, 0]) }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        let bytes = try base64Ledgers("ledgers-base64.txt")[1]
        var rng = SystemRandomNumberGenerator()
        var rejected = 0
        for _ in 0..<300 {
            var copy = bytes
            for _ in 0..<3 { copy[Int.random(in: 0..<copy.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            do { _ = try LedgerCloseMetaSummary.decode(copy) } catch is XDRDecodingError { rejected += 1 }
        }
        // Most flips land in hashes, keys or amounts, which any bytes satisfy; some break structure.
        #expect(rejected > 0)
    }

    @Test func batchesCheckTheirChain() throws {
        // The fixtures are not consecutive: derive a chain by rewriting their headers.
        let ledgers = try LedgerChain.rechain(try base64Ledgers("ledgers-base64.txt"), from: 1000)
        let good = LedgerCloseMetaBatch.encode(startSequence: 1000, endSequence: 1004, ledgers: ledgers)
        let batch = try LedgerCloseMetaBatch.decode(good)
        #expect(batch.ledgers.map(\.sequence) == Array(1000...1004))
        #expect(hex(batch.ledgers[4].previousLedgerHash) == hex(batch.ledgers[3].hash))
        // A ledger missing from the middle.
        let gap = LedgerCloseMetaBatch.encode(startSequence: 1000, endSequence: 1003, ledgers: [ledgers[0], ledgers[1], ledgers[3], ledgers[4]])
        let gapError = try #require(throws: XDRDecodingError.self) { try LedgerCloseMetaBatch.decode(gap) }
        #expect(gapError.description.contains("ledger 3 of the batch is 1003, expected 1002"))
        // A broken hash chain: ledger 1002 from another chain.
        let other = try LedgerChain.rechain(try base64Ledgers("ledgers-base64.txt"), from: 1000, seed: 1)
        let broken = LedgerCloseMetaBatch.encode(startSequence: 1000, endSequence: 1004, ledgers: [ledgers[0], ledgers[1], other[2], ledgers[3], ledgers[4]])
        let chainError = try #require(throws: XDRDecodingError.self) { try LedgerCloseMetaBatch.decode(broken) }
        #expect(chainError.description.contains("ledger 1002's previous hash is not the hash of ledger 1001"))
        // A count that does not match the range.
        let short = LedgerCloseMetaBatch.encode(startSequence: 1000, endSequence: 1004, ledgers: Array(ledgers[0..<4]))
        #expect(throws: XDRDecodingError.self) { try LedgerCloseMetaBatch.decode(short) }
    }

    @Test func zstdRejectsCorruptFrames() throws {
        let compressed = try xdrFixture("FCD285FF--53312000.xdr.zstd")
        #expect(throws: Zstd.DecompressionError.self) { try Zstd.decompress(Array(compressed[0..<(compressed.count / 2)])) }
        var flipped = compressed
        flipped[compressed.count / 2] ^= 0xFF
        flipped[compressed.count / 2 + 1] ^= 0xFF
        // A flipped byte is caught by zstd (checksum or structure) or, failing that, by the XDR.
        do {
            _ = try LedgerCloseMetaBatch.decode(try Zstd.decompress(flipped))
            Issue.record("a corrupted batch decoded")
        } catch is Zstd.DecompressionError {
        } catch is XDRDecodingError {}
        #expect(throws: Zstd.DecompressionError.self) { try Zstd.decompress([]) }
        #expect(throws: Zstd.DecompressionError.self) { try Zstd.decompress(Array("not zstd at all".utf8)) }
        let limit = try Zstd.decompress(compressed).count
        #expect(throws: Zstd.DecompressionError.self) { try Zstd.decompress(compressed, limit: limit - 1) }
        // Frames in a row decompress to their concatenation; a round trip is exact.
        let a = Array("ledger batch one ".utf8), b = Array("and two".utf8)
        #expect(try Zstd.decompress(try Zstd.compress(a) + Zstd.compress(b)) == a + b)
    }
}
