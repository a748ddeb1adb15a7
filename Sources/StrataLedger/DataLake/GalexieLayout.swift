import Foundation
import StrataCore

/// Where a Galexie data lake keeps each ledger (SEP-0054): batches of `ledgersPerBatch` ledgers
/// in objects named from the batch's first ledger, grouped in partitions of `batchesPerPartition`
/// batches, with a `.config.json` manifest at the root.
///
/// An object's name is `HHHHHHHH--S-E.xdr.zst` (`HHHHHHHH` = `0xFFFFFFFF - S` in upper-case hex, `E`
/// the batch's last ledger; just `HHHHHHHH--S.xdr.zst` for one ledger per batch), inside
/// `HHHHHHHH--P-Q/` for the partition that starts at ledger `P` (left out when a partition holds
/// one batch). Batches and partitions start at multiples of their size.
public struct GalexieLayout: Sendable, Equatable {
    public var ledgersPerBatch: UInt32
    public var batchesPerPartition: UInt32
    public var networkPassphrase: String?
    /// The object suffix: `.xdr.zst` since Galexie v23, `.xdr.zstd` before.
    public var fileExtension: String

    public static let configName = ".config.json"
    public static let currentExtension = ".xdr.zst"
    public static let legacyExtension = ".xdr.zstd"

    public init(ledgersPerBatch: UInt32, batchesPerPartition: UInt32, networkPassphrase: String? = nil, fileExtension: String = GalexieLayout.currentExtension) throws {
        guard ledgersPerBatch >= 1, batchesPerPartition >= 1 else {
            throw StrataError(.invalidConfiguration, "ledgers per batch and batches per partition must be at least 1 (got \(ledgersPerBatch) and \(batchesPerPartition))")
        }
        self.ledgersPerBatch = ledgersPerBatch
        self.batchesPerPartition = batchesPerPartition
        self.networkPassphrase = networkPassphrase
        self.fileExtension = fileExtension
    }

    /// Reads the root manifest (`networkPassphrase`, `version`, `compression`, `ledgersPerBatch`,
    /// `batchesPerPartition`).
    public static func parse(config bytes: [UInt8], source: String) throws -> GalexieLayout {
        let location = InputLocation(source: source)
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch {
            throw StrataError(.invalidInput, "the data lake manifest is not JSON: \(error)", at: location)
        }
        guard case .object = json else { throw StrataError(.invalidInput, "the data lake manifest is not a JSON object", at: location) }
        func count(_ name: String) throws -> UInt32 {
            guard let value = json[name]?.intValue, let n = UInt32(exactly: value), n >= 1 else {
                throw StrataError(.invalidInput, "the data lake manifest needs '\(name)', a positive integer", at: location)
            }
            return n
        }
        if let compression = json["compression"]?.stringValue, compression != "zstd" {
            throw StrataError(.invalidInput, "the data lake's compression is '\(compression)'; Strata reads zstd", at: location)
        }
        return try GalexieLayout(ledgersPerBatch: try count("ledgersPerBatch"), batchesPerPartition: try count("batchesPerPartition"),
            networkPassphrase: json["networkPassphrase"]?.stringValue)
    }

    /// The first ledger of the batch that holds `sequence`.
    public func batchStart(_ sequence: UInt32) -> UInt32 { sequence / ledgersPerBatch * ledgersPerBatch }

    /// The last ledger of the batch that holds `sequence`.
    public func batchEnd(_ sequence: UInt32) -> UInt32 {
        UInt32(min(UInt64(UInt32.max), UInt64(batchStart(sequence)) + UInt64(ledgersPerBatch) - 1))
    }

    /// The object key of the batch that holds `sequence`, relative to the data lake's root.
    public func objectKey(_ sequence: UInt32, fileExtension: String? = nil) -> String {
        let start = batchStart(sequence)
        var name = Self.hex(UInt32.max - start) + "--\(start)"
        if ledgersPerBatch > 1 { name += "-\(batchEnd(sequence))" }
        name += fileExtension ?? self.fileExtension
        guard batchesPerPartition > 1 else { return name }
        let size = UInt64(ledgersPerBatch) * UInt64(batchesPerPartition)
        let first = UInt64(sequence) / size * size
        let last = min(UInt64(UInt32.max), first + size - 1)
        // `first` is at most `sequence`, so it fits in 32 bits.
        return Self.hex(UInt32.max - UInt32(first)) + "--\(first)-\(last)/" + name
    }

    static func hex(_ value: UInt32) -> String {
        let digits = Array("0123456789ABCDEF")
        return String((0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] })
    }
}
