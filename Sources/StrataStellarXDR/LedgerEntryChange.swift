/// `LedgerEntryChangeType`: how a change in transaction meta touched a ledger entry.
public enum LedgerEntryChangeKind: Int, Sendable, Hashable, CustomStringConvertible {
    case created = 0
    case updated = 1
    /// Carries only the entry's key, so the change has no entry body.
    case removed = 2
    /// The entry's value before the change that follows it.
    case state = 3
    /// An archived entry brought back (protocol 23).
    case restored = 4

    public var description: String {
        switch self {
        case .created: "created"
        case .updated: "updated"
        case .removed: "removed"
        case .state: "state"
        case .restored: "restored"
        }
    }
}

/// An ACCOUNT entry (or removed ACCOUNT key) found in transaction meta.
public struct AccountEntryChange: Sendable, Equatable {
    public var kind: LedgerEntryChangeKind
    /// The operation whose changes held this one; nil for transaction-level changes (and fee meta).
    public var operationIndex: Int?
    /// `G...`
    public var accountID: String
    /// The entry's content; nil when `kind` is `.removed`.
    public var entry: Entry?

    public struct Entry: Sendable, Equatable {
        public var balance: Int64
        public var seqNum: Int64
        public var numSubEntries: UInt32
        public var inflationDest: String?
        public var flags: UInt32
        public var homeDomain: String
        /// Master weight, low, medium and high thresholds as 8 hex digits.
        public var thresholds: String
        public var signerCount: Int
        public var buyingLiabilities: Int64 = 0
        public var sellingLiabilities: Int64 = 0
        public var numSponsored: UInt32 = 0
        public var numSponsoring: UInt32 = 0
        /// Ledger and time at which `seqNum` took its value (AccountEntryExtensionV3), when recorded.
        public var seqLedger: UInt32?
        public var seqTime: UInt64?
        public var lastModifiedLedgerSeq: UInt32 = 0
        /// The account sponsoring this entry's reserve, if any.
        public var sponsor: String?
    }
}

/// A TRUSTLINE entry (or removed TRUSTLINE key) found in transaction meta.
public struct TrustlineEntryChange: Sendable, Equatable {
    public var kind: LedgerEntryChangeKind
    public var operationIndex: Int?
    public var accountID: String
    /// Printable as `native`, `CODE:ISSUER` or the pool id in hex.
    public var asset: TrustLineAsset
    /// The entry's content; nil when `kind` is `.removed`.
    public var entry: Entry?

    public struct Entry: Sendable, Equatable {
        public var balance: Int64
        public var limit: Int64
        public var flags: UInt32
        public var buyingLiabilities: Int64 = 0
        public var sellingLiabilities: Int64 = 0
        public var liquidityPoolUseCount: Int32?
        public var lastModifiedLedgerSeq: UInt32 = 0
        public var sponsor: String?
    }
}

/// An OFFER entry (or removed OFFER key) found in transaction meta.
public struct OfferEntryChange: Sendable, Equatable {
    public var kind: LedgerEntryChangeKind
    public var operationIndex: Int?
    public var sellerID: String
    public var offerID: Int64
    /// The entry's content; nil when `kind` is `.removed`.
    public var entry: Entry?

    public struct Entry: Sendable, Equatable {
        public var selling: StellarAsset
        public var buying: StellarAsset
        public var amount: Int64
        public var priceN: Int32
        public var priceD: Int32
        public var flags: UInt32
        public var lastModifiedLedgerSeq: UInt32 = 0
        public var sponsor: String?
    }
}

/// A LIQUIDITY_POOL entry (or removed key) found in transaction meta: a constant-product pool.
public struct LiquidityPoolEntryChange: Sendable, Equatable {
    public var kind: LedgerEntryChangeKind
    public var operationIndex: Int?
    /// The pool id, lower-case hex.
    public var poolID: String
    public var entry: Entry?

    public struct Entry: Sendable, Equatable {
        public var assetA: StellarAsset
        public var assetB: StellarAsset
        /// Basis points.
        public var fee: Int32
        public var reserveA: Int64
        public var reserveB: Int64
        public var totalPoolShares: Int64
        public var poolSharesTrustLineCount: Int64
        public var lastModifiedLedgerSeq: UInt32 = 0
    }
}

/// The account, trustline, offer and pool changes of some `LedgerEntryChanges` (e.g. a transaction's fee meta).
public struct DecodedLedgerEntryChanges: Sendable, Equatable {
    public var accounts: [AccountEntryChange] = []
    public var trustlines: [TrustlineEntryChange] = []
    public var offers: [OfferEntryChange] = []
    public var liquidityPools: [LiquidityPoolEntryChange] = []

    public init() {}
}

extension XDRReader {
    /// `LedgerEntryChanges`, every arm decoded (anything else could not be skipped past),
    /// collecting the account and trustline changes.
    mutating func readLedgerEntryChanges(operationIndex: Int?, into changes: inout DecodedLedgerEntryChanges) throws {
        let count = try readLength(maximum: Int(UInt32.max), elementSize: 4, "LedgerEntryChanges")
        for _ in 0..<count {
            let raw = try readDiscriminant("LedgerEntryChange", allowed: 0...4)
            let kind = LedgerEntryChangeKind(rawValue: Int(raw))!
            if kind == .removed {
                switch try readLedgerKey() {
                case .account(let id):
                    changes.accounts.append(AccountEntryChange(kind: kind, operationIndex: operationIndex, accountID: id))
                case .trustline(let id, let asset):
                    changes.trustlines.append(
                        TrustlineEntryChange(kind: kind, operationIndex: operationIndex, accountID: id, asset: asset))
                case .offer(let seller, let offerID):
                    changes.offers.append(OfferEntryChange(kind: kind, operationIndex: operationIndex, sellerID: seller, offerID: offerID))
                case .liquidityPool(let id):
                    changes.liquidityPools.append(LiquidityPoolEntryChange(kind: kind, operationIndex: operationIndex, poolID: id))
                case .other: break
                }
                continue
            }
            switch try readLedgerEntry() {
            case .account(let id, let entry):
                changes.accounts.append(AccountEntryChange(kind: kind, operationIndex: operationIndex, accountID: id, entry: entry))
            case .trustline(let id, let asset, let entry):
                changes.trustlines.append(
                    TrustlineEntryChange(kind: kind, operationIndex: operationIndex, accountID: id, asset: asset, entry: entry))
            case .offer(let seller, let offerID, let entry):
                changes.offers.append(OfferEntryChange(kind: kind, operationIndex: operationIndex, sellerID: seller, offerID: offerID, entry: entry))
            case .liquidityPool(let id, let entry):
                changes.liquidityPools.append(LiquidityPoolEntryChange(kind: kind, operationIndex: operationIndex, poolID: id, entry: entry))
            case .other: break
            }
        }
    }
}
