import Foundation
import StrataCore
import StrataStellarXDR

/// `LedgerCloseMeta` files given by hand: base64 lines (one ledger each), raw XDR (one
/// `LedgerCloseMeta` or a `LedgerCloseMetaBatch`), or a Galexie batch compressed with zstd
/// (`.xdr.zst` / `.xdr.zstd`). Each is decoded and checked whole; an error names the file, the
/// ledger or line, the XDR type and the byte offset.
public enum LedgerMetaFiles {
    public static func read(_ path: String) throws -> [LedgerMetaLog.Ledger] {
        let location = InputLocation(source: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StrataError(.invalidInput, "cannot read file", at: location)
        }
        return try decode(Array(data), origin: path)
    }

    /// Decodes one file's bytes, whichever of the three forms they are in.
    public static func decode(_ bytes: [UInt8], origin: String) throws -> [LedgerMetaLog.Ledger] {
        let location = InputLocation(source: origin)
        guard !bytes.isEmpty else { throw StrataError(.invalidInput, "the file is empty", at: location) }
        if Zstd.isFrame(bytes) {
            let raw: [UInt8]
            do { raw = try Zstd.decompress(bytes) } catch let error as Zstd.DecompressionError {
                throw StrataError(.invalidInput, "\(error)", at: location)
            }
            return try batch(raw, origin: origin)
        }
        if looksLikeBase64Text(bytes) {
            var ledgers: [LedgerMetaLog.Ledger] = []
            var lineNumber = 0
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty { continue }
                let lineLocation = InputLocation(source: origin, line: lineNumber)
                guard let data = Data(base64Encoded: text) else {
                    throw StrataError(.invalidInput, "line is not base64", at: lineLocation)
                }
                let raw = Array(data)
                do {
                    let summary = try LedgerCloseMetaSummary.decode(raw)
                    ledgers.append(LedgerMetaLog.Ledger(summary: summary, bytes: raw[...], origin: "\(origin):\(lineNumber)"))
                } catch let error as XDRDecodingError {
                    throw StrataError(.invalidInput, "\(error)", at: lineLocation)
                }
            }
            guard !ledgers.isEmpty else { throw StrataError(.invalidInput, "no ledgers in the file", at: location) }
            return ledgers
        }
        // Raw XDR: one LedgerCloseMeta, else a batch.
        do {
            let summary = try LedgerCloseMetaSummary.decode(bytes)
            return [LedgerMetaLog.Ledger(summary: summary, bytes: bytes[...], origin: origin)]
        } catch let single as XDRDecodingError {
            do {
                return try batch(bytes, origin: origin)
            } catch {
                throw StrataError(.invalidInput, "neither a LedgerCloseMeta nor a LedgerCloseMetaBatch: as a ledger, \(single)", at: location)
            }
        }
    }

    /// A `LedgerCloseMetaBatch`'s ledgers.
    public static func batch(_ raw: [UInt8], origin: String) throws -> [LedgerMetaLog.Ledger] {
        do {
            let batch = try LedgerCloseMetaBatch.decode(raw)
            return batch.ledgers.map { LedgerMetaLog.Ledger(summary: $0, bytes: raw[$0.byteRange], origin: "\(origin) (ledger \($0.sequence))") }
        } catch let error as XDRDecodingError {
            throw StrataError(.invalidInput, "\(error)", at: InputLocation(source: origin))
        }
    }

    /// Whether the bytes are base64 text (letters, digits, `+/=` and line breaks): a raw XDR ledger
    /// starts with a 4-byte union arm, which has zero bytes.
    static func looksLikeBase64Text(_ bytes: [UInt8]) -> Bool {
        bytes.prefix(4096).allSatisfy { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: "+") || b == UInt8(ascii: "/") || b == UInt8(ascii: "=") || b == 0x0A || b == 0x0D || b == 0x20
        }
    }
}
