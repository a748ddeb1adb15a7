import Foundation
import StrataCore
import StrataStellarXDR

/// The `ledger_meta` topic: one `stellar.ledger_close_meta` event per ledger (key and id from the
/// sequence), the whole `LedgerCloseMeta` as base64 beside the header fields a reader filters on.
///
/// The topic holds one gapless hash chain: its first ledger is whichever came first, and every
/// ledger appended above the highest one must be the next and carry its hash as previous hash
/// (`LedgerMetaLog.append` refuses anything else). So the highest ledger is where a source resumes,
/// and a ledger missing from a source, or from another chain, stops it rather than leave a hole.
public struct LedgerMetaLog: Sendable {
    public static let topic = "ledger_meta"
    public static let eventType = "stellar.ledger_close_meta"

    public let log: any EventLog
    public let producer: EventProducer

    public init(log: any EventLog, producer: EventProducer) {
        self.log = log
        self.producer = producer
    }

    /// The chain the topic holds: its highest ledger (with its hash) and its lowest.
    public struct Position: Sendable, Equatable {
        public var sequence: UInt32
        public var hash: [UInt8]
        public var lowest: UInt32
    }

    /// One ledger to append: its summary and its `LedgerCloseMeta` bytes.
    public struct Ledger: Sendable {
        public var summary: LedgerCloseMetaSummary
        public var bytes: ArraySlice<UInt8>
        /// Where it was read from (file, object URL), for errors.
        public var origin: String

        public init(summary: LedgerCloseMetaSummary, bytes: ArraySlice<UInt8>, origin: String) {
            self.summary = summary
            self.bytes = bytes
            self.origin = origin
        }
    }

    /// The chain in the topic: each partition's last event is its highest ledger and its first
    /// the lowest (ledgers are appended in order, and only once), so the highest of the last
    /// events and the lowest of the first.
    public func position() async throws -> Position? {
        let ends = try await log.endOffsets(topic: Self.topic)
        var best: Position?
        var lowest = UInt32.max
        for (partition, end) in ends.enumerated() where end > 0 {
            let (sequence, hash) = try await ledger(partition: partition, offset: end - 1)
            if best.map({ sequence > $0.sequence }) ?? true { best = Position(sequence: sequence, hash: hash, lowest: 0) }
            lowest = min(lowest, try await ledger(partition: partition, offset: 0).0)
        }
        best?.lowest = lowest
        return best
    }

    private func ledger(partition: Int, offset: Int64) async throws -> (UInt32, [UInt8]) {
        guard let event = try await log.read(topic: Self.topic, partition: partition, from: offset, limit: 1, maxBytes: nil).first else {
            throw StrataError(.backend, "\(Self.topic)/\(partition)@\(offset) is not in the log")
        }
        let members = try event.payloadMembers(["sequence", "hash"])
        guard let value = members[0]?.int64Value, let sequence = UInt32(exactly: value),
            let hex = members[1]?.stringValue, let hash = Self.bytes(hex: hex), hash.count == 32
        else {
            throw StrataError(.backend, "event \(event.position) of \(Self.topic) has no ledger sequence and hash")
        }
        return (sequence, hash)
    }

    /// Appends `ledgers` (sorted by sequence first) in one batch, checking them against the chain
    /// in the topic (`position`) first. Ledgers inside the chain are in the log already: they are
    /// sent again as duplicates, so one with other content for the same sequence (another network)
    /// is a conflict. Ledgers below the chain's lowest are refused. The first above the highest
    /// must be the next ledger and carry its hash, and each later one the next of the one before.
    /// Returns the new position and how many events were new.
    public func append(_ ledgers: [Ledger], after position: Position?, network: String?, source: String) async throws -> (Position?, appended: Int) {
        var top = position
        var drafts: [EventDraft] = []
        drafts.reserveCapacity(ledgers.count)
        for ledger in ledgers.sorted(by: { $0.summary.sequence < $1.summary.sequence }) {
            let s = ledger.summary
            if let current = top {
                if s.sequence < current.lowest {
                    throw StrataError(.invalidInput, """
                        ledger \(s.sequence) is below the chain in \(Self.topic), which runs from ledger \(current.lowest) to \
                        \(current.sequence): the topic holds one chain, extended only upwards
                        """, at: InputLocation(source: ledger.origin))
                }
                if s.sequence <= current.sequence {
                    drafts.append(try Self.draft(ledger, network: network, source: source))
                    continue
                }
                guard s.sequence == current.sequence + 1 else {
                    throw StrataError(.invalidInput, """
                        ledger \(s.sequence) would leave a gap: the highest ledger in \(Self.topic) is \(current.sequence), \
                        so the next must be \(current.sequence + 1)
                        """, at: InputLocation(source: ledger.origin))
                }
                guard s.previousLedgerHash == current.hash else {
                    throw StrataError(.invalidInput, """
                        ledger \(s.sequence)'s previous hash \(StellarXDR.hex(s.previousLedgerHash)) is not the hash of ledger \
                        \(current.sequence) (\(StellarXDR.hex(current.hash))): another chain, or a corrupt ledger
                        """, at: InputLocation(source: ledger.origin))
                }
            }
            drafts.append(try Self.draft(ledger, network: network, source: source))
            top = Position(sequence: s.sequence, hash: s.hash, lowest: top?.lowest ?? s.sequence)
        }
        guard !drafts.isEmpty else { return (top, 0) }
        let receipts = try await producer.append(drafts)
        return (top, receipts.filter { !$0.duplicate }.count)
    }

    /// The event of one ledger (no chain check: `append` does that).
    public static func draft(_ ledger: Ledger, network: String?, source: String) throws -> EventDraft {
        let s = ledger.summary
        var headers: [String: String] = [:]
        if let network { headers["stellar-network"] = network }
        return EventDraft(
            topic: Self.topic, key: String(s.sequence), type: Self.eventType, id: "ledger-\(s.sequence)", source: source,
            occurredAt: Date(timeIntervalSince1970: TimeInterval(s.closeTime)), headers: headers,
            payload: [
                "sequence": .int(Int(s.sequence)),
                "hash": .string(StellarXDR.hex(s.hash)),
                "previous_hash": .string(StellarXDR.hex(s.previousLedgerHash)),
                "close_time": .string(RFC3339.format(Date(timeIntervalSince1970: TimeInterval(s.closeTime)))),
                "protocol_version": .int(Int(s.protocolVersion)),
                "meta_version": .int(s.version),
                "transaction_count": .int(s.transactionCount),
                "xdr": .string(Data(ledger.bytes).base64EncodedString()),
            ],
            location: InputLocation(source: ledger.origin))
    }

    static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
