/// Decoding `LedgerEntry` and `LedgerKey` (Stellar-ledger-entries.x). Account and trustline
/// bodies are kept; every other type is still decoded in full, because XDR has no lengths to skip by.
enum LedgerEntrySummary {
    case account(String, AccountEntryChange.Entry)
    case trustline(String, TrustLineAsset, TrustlineEntryChange.Entry)
    case offer(String, Int64, OfferEntryChange.Entry)
    case liquidityPool(String, LiquidityPoolEntryChange.Entry)
    case other
}

enum LedgerKeySummary {
    case account(String)
    case trustline(String, TrustLineAsset)
    case offer(String, Int64)
    case liquidityPool(String)
    case other
}

extension XDRReader {
    mutating func readLedgerEntry() throws -> LedgerEntrySummary {
        let lastModified = try readUInt32("LedgerEntry.lastModifiedLedgerSeq")
        let start = offset
        var summary: LedgerEntrySummary = .other
        switch try readDiscriminant("LedgerEntry.data", allowed: 0...9) {
        case 0:
            let (id, entry) = try readAccountEntry()
            summary = .account(id, entry)
        case 1:
            let (id, asset, entry) = try readTrustLineEntry()
            summary = .trustline(id, asset, entry)
        case 2:
            let (seller, offerID, entry) = try readOfferEntry()
            summary = .offer(seller, offerID, entry)
        case 3: try skipDataEntry()
        case 4: try skipClaimableBalanceEntry()
        case 5:
            let (id, entry) = try readLiquidityPoolEntry()
            summary = .liquidityPool(id, entry)
        case 6: try skipContractDataEntry()
        case 7: try skipContractCodeEntry()
        case 8:
            // ConfigSettingEntry changes only through ledger upgrades, never in transaction meta.
            throw error("LedgerEntry", "unsupported ledger entry type 8 (CONFIG_SETTING)", at: start)
        default:
            _ = try readHash("TTLEntry.keyHash")
            _ = try readUInt32("TTLEntry.liveUntilLedgerSeq")
        }
        var sponsor: String?
        if try readDiscriminant("LedgerEntry.ext", allowed: 0...1) == 1 {
            sponsor = try readOptional("LedgerEntryExtensionV1.sponsoringID") { r in try r.readAccountID() }
            try readEmptyExtension("LedgerEntryExtensionV1.ext")
        }
        switch summary {
        case .account(let id, var entry):
            entry.lastModifiedLedgerSeq = lastModified
            entry.sponsor = sponsor
            return .account(id, entry)
        case .trustline(let id, let asset, var entry):
            entry.lastModifiedLedgerSeq = lastModified
            entry.sponsor = sponsor
            return .trustline(id, asset, entry)
        case .offer(let seller, let offerID, var entry):
            entry.lastModifiedLedgerSeq = lastModified
            entry.sponsor = sponsor
            return .offer(seller, offerID, entry)
        case .liquidityPool(let id, var entry):
            entry.lastModifiedLedgerSeq = lastModified
            return .liquidityPool(id, entry)
        case .other:
            return .other
        }
    }

    mutating func readLedgerKey() throws -> LedgerKeySummary {
        switch try readDiscriminant("LedgerKey", allowed: 0...9) {
        case 0: return .account(try readAccountID())
        case 1: return .trustline(try readAccountID(), try readTrustLineAsset())
        case 2:
            return .offer(try readAccountID(), try readInt64("LedgerKey.offer.offerID"))
        case 3:
            _ = try readAccountID()
            _ = try readStringBytes(maximum: 64, "LedgerKey.data.dataName")
        case 4: _ = try readClaimableBalanceID()
        case 5: return .liquidityPool(StellarXDR.hex(try readHash("LedgerKey.liquidityPool.liquidityPoolID")))
        case 7, 9: _ = try readHash("LedgerKey")
        case 6:
            _ = try readSCAddress()
            _ = try readSCValue()
            _ = try readDiscriminant("ContractDataDurability", allowed: 0...1)
        default: _ = try readInt32("ConfigSettingID")
        }
        return .other
    }

    private mutating func readAccountEntry() throws -> (String, AccountEntryChange.Entry) {
        let type = "AccountEntry"
        let id = try readAccountID()
        var entry = AccountEntryChange.Entry(
            balance: try readInt64(type), seqNum: try readInt64(type), numSubEntries: try readUInt32(type),
            inflationDest: try readOptional("AccountEntry.inflationDest") { r in try r.readAccountID() },
            flags: try readUInt32(type), homeDomain: try readString(maximum: 32, "AccountEntry.homeDomain"),
            thresholds: StellarXDR.hex(try readFixedOpaque(4, "Thresholds")),
            signerCount: try readArray(maximum: 20, "AccountEntry.signers") { r in
                try r.skipSignerKey()
                return try r.readUInt32("Signer.weight")
            }.count)
        guard try readDiscriminant("AccountEntry.ext", allowed: 0...1) == 1 else { return (id, entry) }
        entry.buyingLiabilities = try readInt64("Liabilities")
        entry.sellingLiabilities = try readInt64("Liabilities")
        // The extensions nest: v1 holds an ext whose arm 2 is v2, whose ext arm 3 is v3.
        guard try readDiscriminant("AccountEntryExtensionV1.ext", allowed: 0...2) == 2 else { return (id, entry) }
        entry.numSponsored = try readUInt32("AccountEntryExtensionV2")
        entry.numSponsoring = try readUInt32("AccountEntryExtensionV2")
        _ = try readArray(maximum: 20, "AccountEntryExtensionV2.signerSponsoringIDs") { r in
            try r.readOptional("SponsorshipDescriptor") { r in try r.readAccountID() }
        }
        guard try readDiscriminant("AccountEntryExtensionV2.ext", allowed: 0...3) == 3 else { return (id, entry) }
        try readEmptyExtension("AccountEntryExtensionV3.ext")
        entry.seqLedger = try readUInt32("AccountEntryExtensionV3.seqLedger")
        entry.seqTime = try readUInt64("AccountEntryExtensionV3.seqTime")
        return (id, entry)
    }

    private mutating func readTrustLineEntry() throws -> (String, TrustLineAsset, TrustlineEntryChange.Entry) {
        let type = "TrustLineEntry"
        let id = try readAccountID()
        let asset = try readTrustLineAsset()
        var entry = TrustlineEntryChange.Entry(balance: try readInt64(type), limit: try readInt64(type), flags: try readUInt32(type))
        guard try readDiscriminant("TrustLineEntry.ext", allowed: 0...1) == 1 else { return (id, asset, entry) }
        entry.buyingLiabilities = try readInt64("Liabilities")
        entry.sellingLiabilities = try readInt64("Liabilities")
        guard try readDiscriminant("TrustLineEntry.v1.ext", allowed: 0...2) == 2 else { return (id, asset, entry) }
        entry.liquidityPoolUseCount = try readInt32("TrustLineEntryExtensionV2.liquidityPoolUseCount")
        try readEmptyExtension("TrustLineEntryExtensionV2.ext")
        return (id, asset, entry)
    }

    private mutating func readOfferEntry() throws -> (String, Int64, OfferEntryChange.Entry) {
        let seller = try readAccountID()
        let offerID = try readInt64("OfferEntry.offerID")
        let selling = try readAsset()
        let buying = try readAsset()
        let amount = try readInt64("OfferEntry.amount")
        let n = try readInt32("Price.n")
        let d = try readInt32("Price.d")
        let flags = try readUInt32("OfferEntry.flags")
        try readEmptyExtension("OfferEntry.ext")
        return (seller, offerID, OfferEntryChange.Entry(selling: selling, buying: buying, amount: amount, priceN: n, priceD: d, flags: flags))
    }

    private mutating func skipDataEntry() throws {
        _ = try readAccountID()
        _ = try readStringBytes(maximum: 64, "DataEntry.dataName")
        _ = try readVariableOpaque(maximum: 64, "DataEntry.dataValue")
        try readEmptyExtension("DataEntry.ext")
    }

    private mutating func skipClaimableBalanceEntry() throws {
        _ = try readClaimableBalanceID()
        _ = try readArray(maximum: 10, "ClaimableBalanceEntry.claimants") { r in
            _ = try r.readDiscriminant("Claimant", allowed: 0...0)
            _ = try r.readAccountID()
            try r.skipClaimPredicate()
        }
        _ = try readAsset()
        _ = try readInt64("ClaimableBalanceEntry.amount")
        if try readDiscriminant("ClaimableBalanceEntry.ext", allowed: 0...1) == 1 {
            // ClaimableBalanceEntryExtensionV1 puts its own ext before the flags.
            try readEmptyExtension("ClaimableBalanceEntryExtensionV1.ext")
            _ = try readUInt32("ClaimableBalanceEntryExtensionV1.flags")
        }
    }

    private mutating func skipClaimPredicate() throws {
        try nested("ClaimPredicate") { r in
            switch try r.readDiscriminant("ClaimPredicate", allowed: 0...5) {
            case 0: break
            case 1, 2: _ = try r.readArray(maximum: 2, "ClaimPredicate") { r in try r.skipClaimPredicate() }
            case 3: _ = try r.readOptional("ClaimPredicate.notPredicate") { r in try r.skipClaimPredicate() }
            default: _ = try r.readInt64("ClaimPredicate.time")
            }
        }
    }

    private mutating func readLiquidityPoolEntry() throws -> (String, LiquidityPoolEntryChange.Entry) {
        let id = StellarXDR.hex(try readHash("PoolID"))
        _ = try readDiscriminant("LiquidityPoolType", allowed: 0...0)
        let a = try readAsset()
        let b = try readAsset()
        let fee = try readInt32("LiquidityPoolConstantProductParameters.fee")
        let reserveA = try readInt64("LiquidityPoolEntry.reserveA")
        let reserveB = try readInt64("LiquidityPoolEntry.reserveB")
        let shares = try readInt64("LiquidityPoolEntry.totalPoolShares")
        let trustlines = try readInt64("LiquidityPoolEntry.poolSharesTrustLineCount")
        return (id, LiquidityPoolEntryChange.Entry(assetA: a, assetB: b, fee: fee, reserveA: reserveA, reserveB: reserveB,
            totalPoolShares: shares, poolSharesTrustLineCount: trustlines))
    }

    private mutating func skipContractDataEntry() throws {
        try readEmptyExtension("ContractDataEntry.ext")
        _ = try readSCAddress()
        _ = try readSCValue()
        _ = try readDiscriminant("ContractDataDurability", allowed: 0...1)
        _ = try readSCValue()
    }

    private mutating func skipContractCodeEntry() throws {
        if try readDiscriminant("ContractCodeEntry.ext", allowed: 0...1) == 1 {
            try readEmptyExtension("ContractCodeEntry.v1.ext")
            try readEmptyExtension("ContractCodeCostInputs.ext")
            for _ in 0..<10 { _ = try readUInt32("ContractCodeCostInputs") }
        }
        _ = try readHash("ContractCodeEntry.hash")
        _ = try readVariableOpaque("ContractCodeEntry.code")
    }
}
