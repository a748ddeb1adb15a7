import Foundation
import StrataCore
import StrataStellarXDR
import Testing

/// The stellar-etl sample exports (read-only); STELLAR_ETL_DATA overrides the folder.
/// The real stellar-etl exports: the workspace's `../shared/data` when present, else the copy in
/// the repository (found from this file, so these tests need no test-support target).
private let dataDirectory: String = {
    if let explicit = ProcessInfo.processInfo.environment["STELLAR_ETL_DATA"] { return explicit }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let workspace = root.deletingLastPathComponent().appendingPathComponent("shared/data/stellar/etl")
    if FileManager.default.fileExists(atPath: workspace.path) { return workspace.path }
    return root.appendingPathComponent("Tests/Fixtures/shared-data/stellar/etl").path
}()

private func jsonLines(_ name: String) throws -> [JSONValue] {
    let text = try String(contentsOfFile: "\(dataDirectory)/\(name)", encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONParser.parse(String($0)) }
}

private func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

private func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return out
}

@Suite struct XDRTests {
    // MARK: StrKey

    @Test func strKeyRoundTripsAnAccount() throws {
        let g = "GAO3YAJGBZYFUAWJHKPOKHZQTPWSK5BA3WDVYIQOHHHVKNR2CNPNB36Z"
        let decoded = try StrKey.decode(g)
        #expect(decoded.version == .accountID)
        #expect(decoded.payload.count == 32)
        #expect(StrKey.encode(.accountID, decoded.payload) == g)
    }

    @Test func strKeyMuxedVectors() throws {
        let a = "GARAR5QR7WRL24MQMSO4INWV7C5SE4EE2YVXTLD6ORONYFHSUAGZYSLN"
        let ma = "MARAR5QR7WRL24MQMSO4INWV7C5SE4EE2YVXTLD6ORONYFHSUAGZYAAAAAAAAAAAAA566"
        let b = "GB67TJFJO3GUA432EJ4JTODHFYSBTM44P4XQCDOFTXJNNPV2UKUJYVBF"
        let mb = "MB67TJFJO3GUA432EJ4JTODHFYSBTM44P4XQCDOFTXJNNPV2UKUJYAAAAAAAAGWLCI72M"
        #expect(StrKey.muxedAccount(a, id: 0) == ma)
        #expect(StrKey.muxedAccount(b, id: 1_755_922) == mb)
        let split = try StrKey.demultiplex(mb)
        #expect(split.account == b && split.id == 1_755_922)
        #expect(try StrKey.decode(ma).version == .muxedAccount)
        #expect(StrKey.muxedAccount("not a key", id: 1) == nil)
    }

    @Test func strKeyOtherVersionsRoundTrip() throws {
        let hash = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        for (version, payload, prefix) in [
            (StrKey.Version.contract, hash, "C"), (.liquidityPool, hash, "L"), (.claimableBalance, [0] + hash, "B"),
        ] {
            let text = StrKey.encode(version, payload)
            #expect(text.hasPrefix(prefix))
            let decoded = try StrKey.decode(text)
            #expect(decoded.version == version && decoded.payload == payload)
        }
    }

    @Test func strKeyRejectsCorruption() {
        let g = "GAO3YAJGBZYFUAWJHKPOKHZQTPWSK5BA3WDVYIQOHHHVKNR2CNPNB36Z"
        let flipped = String(g.prefix(10)) + (g.dropFirst(10).first == "A" ? "B" : "A") + g.dropFirst(11)
        #expect(throws: StrKeyError.self) { try StrKey.decode(flipped) }  // checksum
        #expect(throws: StrKeyError.self) { try StrKey.decode(String(g.dropLast())) }  // length
        #expect(throws: StrKeyError.self) { try StrKey.decode(g.lowercased()) }  // alphabet
        #expect(throws: StrKeyError.self) { try StrKey.decode(g, as: .contract) }  // version
        #expect(throws: StrKeyError.self) { try StrKey.decode("") }
    }

    // MARK: Stellar Asset Contract ids

    @Test func stellarAssetContractIDs() throws {
        let mainnet = StellarAssetContract.mainnetPassphrase
        #expect(StellarAssetContract.contractID(asset: .native, networkPassphrase: mainnet)
            == "CAS3J7GYLGXMF6TDJBBYYSE3HQ6BBSMLNUQ34T6TZMYMW2EVH34XOWMA")
        let usd = try StellarAsset(code: "USD", issuer: "GDUKMGUGDZQK6YHYA5Z6AY2G4XDSZPSZ3SW5UN3ARVMO6QSRDWP5YLEX")
        #expect(StellarAssetContract.contractID(asset: usd, networkPassphrase: mainnet)
            == "CCEBHXWHT2UX6QQ7WZOV6KRGUILICPRFOZD2CEAHZ5AYX7EFW3RG6I2F")
        #expect(try StellarAsset(parsing: "USD:GDUKMGUGDZQK6YHYA5Z6AY2G4XDSZPSZ3SW5UN3ARVMO6QSRDWP5YLEX") == usd)
        #expect(usd.canonicalName == "credit_alphanum4:USD:GDUKMGUGDZQK6YHYA5Z6AY2G4XDSZPSZ3SW5UN3ARVMO6QSRDWP5YLEX")
        #expect(throws: StellarAssetError.self) { try StellarAsset(code: "TOO-LONG-CODE", issuer: usd.issuer!) }
        #expect(throws: StrKeyError.self) { try StellarAsset(code: "USD", issuer: "GBAD") }
    }

    /// The token transfers export names each asset's SAC; recomputing them checks the preimage encoding
    /// for alphanum4 and alphanum12 codes alike.
    @Test func stellarAssetContractIDsMatchTheExport() throws {
        var checked = 0
        for row in try jsonLines("10_ledgers_token_transfers.json") {
            guard let name = row["asset"]?.stringValue, let expected = row["contract_id"]?.stringValue else { continue }
            let asset = try StellarAsset(parsing: name)
            #expect(asset.canonicalName == name)
            #expect(StellarAssetContract.contractID(asset: asset, networkPassphrase: StellarAssetContract.mainnetPassphrase) == expected)
            checked += 1
        }
        #expect(checked == 668)
    }

    // MARK: SCValue

    @Test func integerDecimals() {
        #expect(SCValue.i128(hi: 0, lo: 875_190).i128Decimal == "875190")
        #expect(SCValue.i128(hi: -1, lo: .max).i128Decimal == "-1")
        #expect(SCValue.i128(hi: -1, lo: 0).i128Decimal == "-18446744073709551616")
        #expect(SCValue.i128(hi: .min, lo: 0).i128Decimal == "-170141183460469231731687303715884105728")
        #expect(SCValue.i128(hi: .max, lo: .max).i128Decimal == "170141183460469231731687303715884105727")
        #expect(SCValue.u128(hi: 1, lo: 0).integerDecimal == "18446744073709551616")
        #expect(SCValue.u256(hiHi: .max, hiLo: .max, loHi: .max, loLo: .max).integerDecimal
            == "115792089237316195423570985008687907853269984665640564039457584007913129639935")
        #expect(SCValue.i256(hiHi: .min, hiLo: 0, loHi: 0, loLo: 0).integerDecimal
            == "-57896044618658097711785492504343953926634992332820282019728792003956564819968")
        #expect(SCValue.i256(hiHi: -1, hiLo: .max, loHi: .max, loLo: .max - 9).integerDecimal == "-10")
        #expect(SCValue.i256(hiHi: 0, hiLo: 0, loHi: 1, loLo: 0).integerDecimal == "18446744073709551616")
        #expect(SCValue.u32(7).i128Decimal == nil)
    }

    @Test func scValueArmsDecode() throws {
        // SCV_STRING holding invalid UTF-8 keeps its bytes.
        let badString = try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 14, 0, 0, 0, 2, 0xC3, 0x28, 0, 0]))
        #expect(badString == .string([0xC3, 0x28]) && badString.string == nil)
        // SCV_ADDRESS, muxed arm: id (uint64) first, then the key.
        let key = try StrKey.decode("GB67TJFJO3GUA432EJ4JTODHFYSBTM44P4XQCDOFTXJNNPV2UKUJYVBF", as: .accountID)
        let muxed = try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0x1A, 0xCB, 0x12] + key))
        #expect(muxed.address == "MB67TJFJO3GUA432EJ4JTODHFYSBTM44P4XQCDOFTXJNNPV2UKUJYAAAAAAAAGWLCI72M")
        // SCV_MAP with one entry, looked up by symbol.
        let map = try StellarXDR.decodeSCVal(base64: base64(
            [0, 0, 0, 17, 0, 0, 0, 1, 0, 0, 0, 1] + [0, 0, 0, 15, 0, 0, 0, 6] + Array("amount".utf8) + [0, 0]
                + [0, 0, 0, 10] + [UInt8](repeating: 0xFF, count: 16)))
        #expect(map.mapValue(symbol: "amount")?.i128Decimal == "-1")
        #expect(map.mapValue(symbol: "missing") == nil)
        // Absent vec, ledger key nonce, error.
        #expect(try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 16, 0, 0, 0, 0])) == .vec(nil))
        #expect(try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 21] + [0, 0, 0, 0, 0, 0, 0, 9])) == .ledgerKeyNonce(9))
        #expect(try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5])) == .error(SCError(type: 0, code: 5)))
    }

    // MARK: Robustness

    @Test func truncatedMetaThrows() throws {
        let meta = try #require(try jsonLines("10_ledgers_txs.json").compactMap { $0["tx_meta"]?.stringValue }.first)
        let bytes = [UInt8](Data(base64Encoded: meta)!)
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            #expect(throws: XDRDecodingError.self) {
                try StellarXDR.decodeTransactionMeta(base64: base64(Array(bytes[..<length])))
            }
        }
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeTransactionMeta(base64: base64(bytes + [0, 0, 0, 0])) }
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeTransactionMeta(base64: "not base64!") }
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeTransactionMeta(base64: base64([0, 0, 0, 9])) }
    }

    @Test func hostileInputIsAnErrorNotACrash() {
        // A 4 GB byte string announced in 8 bytes.
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 13, 0xFF, 0xFF, 0xFF, 0xF0])) }
        // A billion-element vector.
        #expect(throws: XDRDecodingError.self) {
            try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 16, 0, 0, 0, 1, 0x40, 0, 0, 0]))
        }
        // Vectors nested far deeper than any real value.
        let nested = [UInt8](Array(repeating: [0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 1] as [UInt8], count: 10_000).joined()) + [0, 0, 0, 1]
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeSCVal(base64: base64(nested)) }
        // Non-zero padding and bad booleans.
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 13, 0, 0, 0, 1, 7, 1, 0, 0])) }
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 0, 0, 0, 0, 2])) }
        // A symbol over 32 bytes.
        #expect(throws: XDRDecodingError.self) {
            try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 15, 0, 0, 0, 36] + [UInt8](repeating: 0x61, count: 36)))
        }
    }

    @Test func errorsNameTypeAndOffset() {
        do {
            _ = try StellarXDR.decodeSCVal(base64: base64([0, 0, 0, 99]))
            Issue.record("decoded an unknown SCVal arm")
        } catch let error as XDRDecodingError {
            #expect(error.type == "SCVal" && error.offset == 0)
            #expect(error.description.contains("unknown union arm 99"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Versions 0-2 have no events; their shape is checked by wrapping a real `LedgerEntryChanges`.
    @Test func decodesMetaVersions0To2() throws {
        let feeMeta = try #require(try jsonLines("10_ledgers_txs.json").first?["tx_fee_meta"]?.stringValue)
        let changes = [UInt8](try #require(Data(base64Encoded: feeMeta)))
        let k = try StellarXDR.decodeLedgerEntryChanges(base64: feeMeta).accounts.count
        #expect(k > 0)
        let one: [UInt8] = [0, 0, 0, 1]
        let two: [UInt8] = [0, 0, 0, 2]
        let v0 = try StellarXDR.decodeTransactionMeta(base64: base64([0, 0, 0, 0] + one + changes))
        #expect(v0.version == 0 && v0.operationEvents == [[]] && v0.accounts.map(\.operationIndex) == Array(repeating: 0, count: k))
        let v1 = try StellarXDR.decodeTransactionMeta(base64: base64(one + changes + one + changes))
        #expect(v1.version == 1 && v1.accounts.map(\.operationIndex) == Array(repeating: nil, count: k) + Array(repeating: 0, count: k))
        let v2 = try StellarXDR.decodeTransactionMeta(base64: base64(two + changes + two + changes + changes + changes))
        #expect(v2.version == 2 && v2.operationCount == 2)
        #expect(v2.accounts.map(\.operationIndex) == [nil, 0, 1, nil].flatMap { Array(repeating: $0, count: k) })
    }

    @Test func configSettingEntriesAreReportedUnsupported() {
        // One CREATED change whose LedgerEntry (last modified in ledger 5) is a CONFIG_SETTING.
        let bytes: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0]
        #expect {
            try StellarXDR.decodeLedgerEntryChanges(base64: base64(bytes))
        } throws: { error in
            (error as? XDRDecodingError)?.reason.contains("unsupported ledger entry type 8") == true
        }
    }

    // MARK: Real transaction meta

    @Test func decodesEveryTransactionMeta() throws {
        let rows = try jsonLines("10_ledgers_txs.json")
        #expect(rows.count == 650)
        var accounts = 0
        var trustlines = 0
        for row in rows {
            let hash = row["transaction_hash"]?.stringValue ?? "?"
            let meta = try StellarXDR.decodeTransactionMeta(base64: try #require(row["tx_meta"]?.stringValue))
            #expect(meta.version == 4, "\(hash)")
            // Failed transactions record no operation meta.
            let successful = row["successful"]?.boolValue == true
            #expect(meta.operationCount == (successful ? row["operation_count"]?.intValue : 0), "\(hash)")
            let fees = try StellarXDR.decodeLedgerEntryChanges(base64: try #require(row["tx_fee_meta"]?.stringValue))
            #expect(!fees.accounts.isEmpty, "\(hash)")
            accounts += meta.accounts.count
            trustlines += meta.trustlines.count
            // The sequence number bump lands on the source account before operations run.
            if let source = row["account"]?.stringValue, let sequence = row["account_sequence"]?.int64Value {
                #expect(meta.accounts.contains { $0.accountID == source && $0.operationIndex == nil && $0.entry?.seqNum == sequence },
                        "\(hash)")
            }
            for change in meta.accounts {
                #expect((change.entry == nil) == (change.kind == .removed))
                #expect(change.entry.map { $0.thresholds.count == 8 && $0.lastModifiedLedgerSeq > 0 } ?? true)
            }
            for change in meta.trustlines {
                let asset = change.asset.description
                #expect(asset == "native" || (try? StellarAsset(parsing: asset)) != nil || asset.count == 64, "\(asset)")
            }
        }
        #expect(accounts > 650)
        #expect(trustlines > 0)
    }

    /// CAP-67 events from the metas reproduce stellar-etl's token transfer export exactly.
    @Test func tokenTransfersMatchTheExport() throws {
        struct Transfer: Hashable {
            var topic: String, from: String?, to: String?, amount: String, contract: String?, transaction: String
        }
        func transfer(_ event: DecodedContractEvent, _ hash: String) -> Transfer? {
            guard let name = event.topics.first?.symbol, ["transfer", "mint", "burn", "clawback", "fee"].contains(name) else { return nil }
            let amount = (event.data.mapValue(symbol: "amount") ?? event.data).i128Decimal
            return Transfer(
                topic: name, from: event.topics.count > 1 ? event.topics[1].address : nil,
                to: name == "transfer" && event.topics.count > 2 ? event.topics[2].address : nil,
                amount: amount ?? "?", contract: event.contractID, transaction: hash)
        }
        var decoded: [Transfer: Int] = [:]
        for row in try jsonLines("10_ledgers_txs.json") {
            let hash = try #require(row["transaction_hash"]?.stringValue)
            let meta = try StellarXDR.decodeTransactionMeta(base64: try #require(row["tx_meta"]?.stringValue))
            for event in meta.transactionEvents.map(\.event) + meta.operationEvents.joined() {
                if let t = transfer(event, hash) { decoded[t, default: 0] += 1 }
            }
        }
        var expected: [Transfer: Int] = [:]
        for row in try jsonLines("10_ledgers_token_transfers.json") {
            let t = Transfer(
                topic: row["event_topic"]!.stringValue!, from: row["from"]?.stringValue, to: row["to"]?.stringValue,
                amount: row["amount_raw"]!.stringValue!, contract: row["contract_id"]?.stringValue,
                transaction: row["transaction_hash"]!.stringValue!)
            expected[t, default: 0] += 1
        }
        #expect(expected.values.reduce(0, +) == 668)
        #expect(decoded.values.reduce(0, +) == 668)
        #expect(decoded == expected)
        #expect(decoded.filter { $0.key.topic == "fee" }.values.reduce(0, +) == 650)
    }

    // MARK: Soroban meta (the sample exports hold only classic transactions)

    /// A protocol 23 testnet `create_escrow` invocation as Soroban RPC's getTransaction returned it
    /// (tx 2e29cacfc90565027c44bb9477f58af7c179309b5234d6742cd7e7301fcd847f): contract data changes,
    /// SorobanTransactionMetaV2 with the fee breakdown, fee charge and refund events, diagnostics.
    private static let sorobanMetaV4 = "AAAABAAAAAAAAAACAAAAAwAT44AAAAAAAAAAAO17mcmt6Emr+m7eqVX9sBJFI6IlVd00L6BBb+fFU1a5AAAAFCYiTnMAEETyAAAOnQAAAAEAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAMAAAAAABPjfwAAAABoPoe3AAAAAAAAAAEAE+OAAAAAAAAAAADte5nJrehJq/pu3qlV/bASRSOiJVXdNC+gQW/nxVNWuQAAABQmIk5zABBE8gAADp4AAAABAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAADAAAAAAAT44AAAAAAaD6HvAAAAAAAAAABAAAAAAAAAAIAAAAAABPjgAAAAAm7BMApSYoASMZ2qaMBnGEMDyvtMCQCXaAg5KcoiQAt+QAzh38AAAAAAAAAAAAT44AAAAAGAAAAAAAAAAHf65G24dyt1q+Xu3xFX5fzdHcKf3j2lXO5n11b+EnOfAAAABAAAAABAAAAAgAAAA8AAAAFU3RhdGUAAAAAAAAFAAAAAAAGkZkAAAABAAAAEQAAAAEAAAAHAAAADwAAAAZhbW91bnQAAAAAAAoAAAAAAAAAAAAAAAAAAAAAAAAADwAAAAphcmJpdHJhdG9yAAAAAAASAAAAAAAAAAAY2Rm1IXXndEI0rYg2bt1/rw2mi1SYOUT2qeKPvf56cgAAAA8AAAAFYXNzZXQAAAAAAAASAAAAAbrCs4s4F0bFFiiUEa6VhwFhv8ro0OiwU/6TA5YxIgHoAAAADwAAAAVidXllcgAAAAAAABIAAAAAAAAAACcMY2GvjF3igK326WyiU8hv107p9YxvAS29gt1fml2WAAAADwAAAAlmaW5hbGl6ZWQAAAAAAAAAAAAAAAAAAA8AAAAGc2VsbGVyAAAAAAASAAAAAAAAAADJ7DBeTuWqnGJA1g/dWVnUQSms0r51IFXgpD2KW7BvHwAAAA8AAAAFdm90ZXMAAAAAAAARAAAAAQAAAAAAAAAAAAAAAQAAAAAAAAAB3+uRtuHcrdavl7t8RV+X83R3Cn949pVzuZ9dW/hJznwAAAABAAAAAAAAAAEAAAAPAAAABGluaXQAAAAQAAAAAQAAAAUAAAAFAAAAAAAGkZkAAAASAAAAAAAAAAAnDGNhr4xd4oCt9ulsolPIb9dO6fWMbwEtvYLdX5pdlgAAABIAAAAAAAAAAMnsMF5O5aqcYkDWD91ZWdRBKazSvnUgVeCkPYpbsG8fAAAAEgAAAAAAAAAAGNkZtSF153RCNK2INm7df68NpotUmDlE9qnij73+enIAAAASAAAAAbrCs4s4F0bFFiiUEa6VhwFhv8ro0OiwU/6TA5YxIgHoAAAAAgAAAAMAE+OAAAAAAAAAAADte5nJrehJq/pu3qlV/bASRSOiJVXdNC+gQW/nxVNWuQAAABQmIk5zABBE8gAADp4AAAABAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAADAAAAAAAT44AAAAAAaD6HvAAAAAAAAAABABPjgAAAAAAAAAAA7XuZya3oSav6bt6pVf2wEkUjoiVV3TQvoEFv58VTVrkAAAAUJi5T4AAQRPIAAA6eAAAAAQAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAAwAAAAAAE+OAAAAAAGg+h7wAAAAAAAAAAQAAAAEAAAAAAAAAAAABUswAAAAAAEuS8QAAAAAAS4jeAAAAAQAAAAEAAAACAAAAAAAAAAAAAAAB15KLcsJwPM/q9+uf9O9NUEpVqLl5/JtFDqLIQrTRzmEAAAABAAAAAAAAAAIAAAAPAAAAA2ZlZQAAAAASAAAAAAAAAADte5nJrehJq/pu3qlV/bASRSOiJVXdNC+gQW/nxVNWuQAAAAoAAAAAAAAAAAAAAAAAWOuOAAAAAQAAAAAAAAAB15KLcsJwPM/q9+uf9O9NUEpVqLl5/JtFDqLIQrTRzmEAAAABAAAAAAAAAAIAAAAPAAAAA2ZlZQAAAAASAAAAAAAAAADte5nJrehJq/pu3qlV/bASRSOiJVXdNC+gQW/nxVNWuQAAAAr/////////////////8/qTAAAAFgAAAAEAAAAAAAAAAAAAAAIAAAAAAAAAAwAAAA8AAAAHZm5fY2FsbAAAAAANAAAAIN/rkbbh3K3Wr5e7fEVfl/N0dwp/ePaVc7mfXVv4Sc58AAAADwAAAA1jcmVhdGVfZXNjcm93AAAAAAAAEAAAAAEAAAAFAAAABQAAAAAABpGZAAAAEgAAAAAAAAAAJwxjYa+MXeKArfbpbKJTyG/XTun1jG8BLb2C3V+aXZYAAAASAAAAAAAAAADJ7DBeTuWqnGJA1g/dWVnUQSms0r51IFXgpD2KW7BvHwAAABIAAAAAAAAAABjZGbUhded0QjStiDZu3X+vDaaLVJg5RPap4o+9/npyAAAAEgAAAAG6wrOLOBdGxRYolBGulYcBYb/K6NDosFP+kwOWMSIB6AAAAAEAAAAAAAAAAd/rkbbh3K3Wr5e7fEVfl/N0dwp/ePaVc7mfXVv4Sc58AAAAAQAAAAAAAAABAAAADwAAAARpbml0AAAAEAAAAAEAAAAFAAAABQAAAAAABpGZAAAAEgAAAAAAAAAAJwxjYa+MXeKArfbpbKJTyG/XTun1jG8BLb2C3V+aXZYAAAASAAAAAAAAAADJ7DBeTuWqnGJA1g/dWVnUQSms0r51IFXgpD2KW7BvHwAAABIAAAAAAAAAABjZGbUhded0QjStiDZu3X+vDaaLVJg5RPap4o+9/npyAAAAEgAAAAG6wrOLOBdGxRYolBGulYcBYb/K6NDosFP+kwOWMSIB6AAAAAEAAAAAAAAAAd/rkbbh3K3Wr5e7fEVfl/N0dwp/ePaVc7mfXVv4Sc58AAAAAgAAAAAAAAACAAAADwAAAAlmbl9yZXR1cm4AAAAAAAAPAAAADWNyZWF0ZV9lc2Nyb3cAAAAAAAABAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAACAAAADwAAAAxjb3JlX21ldHJpY3MAAAAPAAAACnJlYWRfZW50cnkAAAAAAAUAAAAAAAAAAwAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAAt3cml0ZV9lbnRyeQAAAAAFAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAIAAAAPAAAADGNvcmVfbWV0cmljcwAAAA8AAAAQbGVkZ2VyX3JlYWRfYnl0ZQAAAAUAAAAAAABAtAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAABFsZWRnZXJfd3JpdGVfYnl0ZQAAAAAAAAUAAAAAAAABuAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAA1yZWFkX2tleV9ieXRlAAAAAAAABQAAAAAAAACoAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAACAAAADwAAAAxjb3JlX21ldHJpY3MAAAAPAAAADndyaXRlX2tleV9ieXRlAAAAAAAFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAIAAAAPAAAADGNvcmVfbWV0cmljcwAAAA8AAAAOcmVhZF9kYXRhX2J5dGUAAAAAAAUAAAAAAAAAaAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAA93cml0ZV9kYXRhX2J5dGUAAAAABQAAAAAAAAG4AAAAAAAAAAAAAAAAAAAAAgAAAAAAAAACAAAADwAAAAxjb3JlX21ldHJpY3MAAAAPAAAADnJlYWRfY29kZV9ieXRlAAAAAAAFAAAAAAAAQEwAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAIAAAAPAAAADGNvcmVfbWV0cmljcwAAAA8AAAAPd3JpdGVfY29kZV9ieXRlAAAAAAUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAAplbWl0X2V2ZW50AAAAAAAFAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAIAAAAPAAAADGNvcmVfbWV0cmljcwAAAA8AAAAPZW1pdF9ldmVudF9ieXRlAAAAAAUAAAAAAAABBAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAAhjcHVfaW5zbgAAAAUAAAAAADNgQgAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAAhtZW1fYnl0ZQAAAAUAAAAAABsHqwAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAABFpbnZva2VfdGltZV9uc2VjcwAAAAAAAAUAAAAAAAg/fQAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAAA9tYXhfcndfa2V5X2J5dGUAAAAABQAAAAAAAABUAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAACAAAADwAAAAxjb3JlX21ldHJpY3MAAAAPAAAAEG1heF9yd19kYXRhX2J5dGUAAAAFAAAAAAAAAbgAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAIAAAAPAAAADGNvcmVfbWV0cmljcwAAAA8AAAAQbWF4X3J3X2NvZGVfYnl0ZQAAAAUAAAAAAABATAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAgAAAA8AAAAMY29yZV9tZXRyaWNzAAAADwAAABNtYXhfZW1pdF9ldmVudF9ieXRlAAAAAAUAAAAAAAABBA=="
    /// The same response's first `transactionEventsXdr`, `contractEventsXdr` and `diagnosticEventsXdr` items.
    private static let feeEventV4 =
        "AAAAAAAAAAAAAAAB15KLcsJwPM/q9+uf9O9NUEpVqLl5/JtFDqLIQrTRzmEAAAABAAAAAAAAAAIAAAAPAAAAA2ZlZQAAAAASAAAAAAAAAADte5nJrehJq/pu3qlV/bASRSOiJVXdNC+gQW/nxVNWuQAAAAoAAAAAAAAAAAAAAAAAWOuO"
    private static let contractEventV4 =
        "AAAAAAAAAAHf65G24dyt1q+Xu3xFX5fzdHcKf3j2lXO5n11b+EnOfAAAAAEAAAAAAAAAAQAAAA8AAAAEaW5pdAAAABAAAAABAAAABQAAAAUAAAAAAAaRmQAAABIAAAAAAAAAACcMY2GvjF3igK326WyiU8hv107p9YxvAS29gt1fml2WAAAAEgAAAAAAAAAAyewwXk7lqpxiQNYP3VlZ1EEprNK+dSBV4KQ9iluwbx8AAAASAAAAAAAAAAAY2Rm1IXXndEI0rYg2bt1/rw2mi1SYOUT2qeKPvf56cgAAABIAAAABusKzizgXRsUWKJQRrpWHAWG/yujQ6LBT/pMDljEiAeg="
    private static let diagnosticEventV4 =
        "AAAAAQAAAAAAAAAAAAAAAgAAAAAAAAADAAAADwAAAAdmbl9jYWxsAAAAAA0AAAAg3+uRtuHcrdavl7t8RV+X83R3Cn949pVzuZ9dW/hJznwAAAAPAAAADWNyZWF0ZV9lc2Nyb3cAAAAAAAAQAAAAAQAAAAUAAAAFAAAAAAAGkZkAAAASAAAAAAAAAAAnDGNhr4xd4oCt9ulsolPIb9dO6fWMbwEtvYLdX5pdlgAAABIAAAAAAAAAAMnsMF5O5aqcYkDWD91ZWdRBKazSvnUgVeCkPYpbsG8fAAAAEgAAAAAAAAAAGNkZtSF153RCNK2INm7df68NpotUmDlE9qnij73+enIAAAASAAAAAbrCs4s4F0bFFiiUEa6VhwFhv8ro0OiwU/6TA5YxIgHo"
    /// A protocol 20 testnet call of a token's `name` (tx 06dd9ee70bf93bbfe219e2b31363ab5a0361cc6285328592e4d3d1fed4c9025c).
    private static let sorobanMetaV3 = "AAAAAwAAAAAAAAACAAAAAwABNbYAAAAAAAAAANNgojN9rS5sqnuqM5wX5k7yyNC63OjWIe4OHx6yL2r7AAAAF0h1s9QAATW1AAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAQABNbYAAAAAAAAAANNgojN9rS5sqnuqM5wX5k7yyNC63OjWIe4OHx6yL2r7AAAAF0h1s9QAATW1AAAAAQAAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAMAAAAAAAE1tgAAAABkwUMZAAAAAAAAAAEAAAAAAAAAAgAAAAMAATW2AAAAAAAAAADTYKIzfa0ubKp7qjOcF+ZO8sjQutzo1iHuDh8esi9q+wAAABdIdbPUAAE1tQAAAAEAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAADAAAAAAABNbYAAAAAZMFDGQAAAAAAAAABAAE1tgAAAAAAAAAA02CiM32tLmyqe6oznBfmTvLI0Lrc6NYh7g4fHrIvavsAAAAXSHWz/AABNbUAAAABAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAAwAAAAAAATW2AAAAAGTBQxkAAAAAAAAAAQAAAAAAAAAAAAAADgAAAAZUb2tlbkEAAAAAAAIAAAABAAAAAAAAAAAAAAACAAAAAAAAAAMAAAAPAAAAB2ZuX2NhbGwAAAAADQAAACC9x/ldchaDQwaY3uK3IcXmke/4UTUtggE9g4egPM+sawAAAA8AAAAEbmFtZQAAAAEAAAABAAAAAAAAAAG9x/ldchaDQwaY3uK3IcXmke/4UTUtggE9g4egPM+sawAAAAIAAAAAAAAAAgAAAA8AAAAJZm5fcmV0dXJuAAAAAAAADwAAAARuYW1lAAAADgAAAAZUb2tlbkEAAA=="

    @Test func decodesSorobanMetaV4() throws {
        let meta = try StellarXDR.decodeTransactionMeta(base64: Self.sorobanMetaV4)
        #expect(meta.version == 4 && meta.operationCount == 1)
        #expect(meta.sorobanReturnValue == .void)
        // Fee charged before all transactions, refunded after this one: a negative i128.
        #expect(meta.transactionEvents.map(\.stage) == [0, 1])
        #expect(meta.transactionEvents.map { $0.event.data.i128Decimal } == ["5827470", "-787821"])
        #expect(meta.transactionEvents.first == (try StellarXDR.decodeTransactionEvent(base64: Self.feeEventV4)))
        let nativeSAC = StellarAssetContract.contractID(asset: .native, networkPassphrase: StellarAssetContract.testnetPassphrase)
        let source = try #require(meta.accounts.first?.accountID)
        for event in meta.transactionEvents.map(\.event) {
            #expect(event.contractID == nativeSAC && event.type == 1)
            #expect(event.topics.map(\.symbol) == ["fee", nil] && event.topics[1].address == source)
        }
        // The refund shows up as the balance change of the last state/updated pair.
        let balances = meta.accounts.suffix(2).compactMap { $0.entry?.balance }
        #expect(meta.accounts.suffix(2).map(\.kind) == [.state, .updated] && balances[1] - balances[0] == 787_821)
        #expect(meta.accounts.first?.entry?.seqLedger == 1_303_423)
        #expect(meta.operationEvents == [[try StellarXDR.decodeContractEvent(base64: Self.contractEventV4)]])
        #expect(meta.operationEvents[0][0].topics.first?.symbol == "init")
        #expect(meta.diagnosticEvents.count == 22)
        #expect(meta.diagnosticEvents.first == (try StellarXDR.decodeDiagnosticEvent(base64: Self.diagnosticEventV4)))
        #expect(meta.diagnosticEvents.allSatisfy { $0.inSuccessfulContractCall != nil })
    }

    @Test func decodesSorobanMetaV3() throws {
        let meta = try StellarXDR.decodeTransactionMeta(base64: Self.sorobanMetaV3)
        #expect(meta.version == 3 && meta.operationEvents == [[]] && meta.transactionEvents.isEmpty)
        #expect(meta.sorobanReturnValue?.string == "TokenA")
        #expect(meta.diagnosticEvents.map { $0.topics.first?.symbol } == ["fn_call", "fn_return"])
        #expect(meta.accounts.map(\.kind) == [.state, .updated, .state, .updated])
        #expect(meta.accounts.allSatisfy { $0.accountID == "GDJWBIRTPWWS43FKPOVDHHAX4ZHPFSGQXLOORVRB5YHB6HVSF5VPWL2P" })
    }

    @Test func everyTruncationOfSorobanMetaThrows() throws {
        let bytes = [UInt8](try #require(Data(base64Encoded: Self.sorobanMetaV4)))
        for length in 0..<bytes.count {
            #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeTransactionMeta(base64: base64(Array(bytes[..<length]))) }
        }
    }

    // MARK: Contract events export

    @Test func decodesTheContractEventsExport() throws {
        let rows = try jsonLines("contract_events_52271338-52271350.json")
        #expect(rows.count == 189)
        for (index, row) in rows.enumerated() {
            let event = try StellarXDR.decodeDiagnosticEvent(base64: try #require(row["contract_event_xdr"]?.stringValue))
            let topics = try #require(row["topics"]?.arrayValue).map { try StellarXDR.decodeSCVal(base64: $0.stringValue!) }
            let data = try StellarXDR.decodeSCVal(base64: try #require(row["data"]?.stringValue))
            #expect(event.topics == topics, "row \(index)")
            #expect(event.data == data, "row \(index)")
            #expect(event.type == row["type"]?.intValue, "row \(index)")
            #expect(event.inSuccessfulContractCall == row["in_successful_contract_call"]?.boolValue, "row \(index)")
            #expect((event.contractID ?? "") == row["contract_id"]?.stringValue, "row \(index)")
            // The export's own decoding, in stellar-xdr's JSON shape.
            #expect(JSONValue.array(topics.map(\.jsonValue)) == row["topics_decoded"], "row \(index)")
            #expect(data.jsonValue == row["data_decoded"], "row \(index)")
        }
        let first = try StellarXDR.decodeDiagnosticEvent(base64: rows[0]["contract_event_xdr"]!.stringValue!)
        #expect(first.topics[0].symbol == "fn_call")
        let expectedHex = try #require(rows[0]["topics_decoded"]?.arrayValue?[1]["bytes"]?.stringValue)
        #expect(first.topics[1].bytes == hexBytes(expectedHex))
        // The same bytes read as a bare ContractEvent are misaligned by the leading boolean.
        #expect(throws: XDRDecodingError.self) { try StellarXDR.decodeContractEvent(base64: rows[1]["contract_event_xdr"]!.stringValue!) }
    }
}
