import Foundation
import StrataATProto
import StrataCore
import StrataTestSupport
import Testing

/// The data model against atproto's interop vectors and real repository exports.
@Suite struct ATProtoDataModelTests {
    static let interop = TestEnvironment.sharedData.appendingPathComponent("atproto/interop")
    static let cars = TestEnvironment.sharedData.appendingPathComponent("atproto/car")

    static func json(_ path: String) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: interop.appendingPathComponent(path))))
    }

    static func bytes(base64: String) -> [UInt8] {
        var s = base64
        while s.count % 4 != 0 { s += "=" }
        return Array(Data(base64Encoded: s) ?? Data())
    }

    @Test func jsonCBORAndCIDAgreeWithTheFixtures() throws {
        let fixtures = try #require(try Self.json("data-model/data-model-fixtures.json").arrayValue)
        #expect(fixtures.count == 3)
        for fixture in fixtures {
            let json = try #require(fixture["json"])
            let expected = Self.bytes(base64: try #require(fixture["cbor_base64"]?.stringValue))
            let encoded = DagCBOR.encode(try DataModelJSON.cbor(json))
            #expect(encoded == expected, "canonical DAG-CBOR of \(json)")
            #expect(CID.compute(encoded).string == fixture["cid"]?.stringValue)
            let decoded = try DagCBOR.decode(expected)
            #expect(try DataModelJSON.json(decoded) == json)
            #expect(DagCBOR.encode(decoded) == expected)
        }
    }

    @Test func validDocumentsAreAcceptedAndInvalidOnesRefused() throws {
        let valid = try #require(try Self.json("data-model/data-model-valid.json").arrayValue)
        for item in valid {
            #expect(throws: Never.self, "\(item["note"] ?? .null)") { try DataModelJSON.cbor(item["json"] ?? .null) }
        }
        let invalid = try #require(try Self.json("data-model/data-model-invalid.json").arrayValue)
        #expect(invalid.count >= 12)
        for item in invalid {
            #expect(throws: ATProtoError.self, "\(item["note"] ?? .null)") { try DataModelJSON.cbor(item["json"] ?? .null) }
        }
    }

    static func lines(_ name: String) throws -> [String] {
        let text = try String(contentsOf: interop.appendingPathComponent("syntax/\(name)"), encoding: .utf8)
        // Leading and trailing spaces are part of some invalid cases: only comments and empty lines go.
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).filter { !$0.hasPrefix("#") }
    }

    @Test(arguments: [
        ("did", Syntax.isValidDID as @Sendable (String) -> Bool),
        ("handle", Syntax.isValidHandle),
        ("nsid", Syntax.isValidNSID),
        ("recordkey", Syntax.isValidRecordKey),
        ("tid", Syntax.isValidTID),
        ("atidentifier", Syntax.isValidATIdentifier),
        ("aturi", Syntax.isValidATURI),
        ("datetime", Syntax.isValidDatetime),
        ("cid", Syntax.isValidCIDString),
    ])
    func syntaxAgreesWithTheInteropLists(name: String, check: @Sendable (String) -> Bool) throws {
        let valid = try Self.lines("\(name)_syntax_valid.txt")
        let invalid = try Self.lines("\(name)_syntax_invalid.txt")
        #expect(!valid.isEmpty && !invalid.isEmpty)
        let wronglyRefused = valid.filter { !check($0) }
        let wronglyAccepted = invalid.filter { check($0) }
        #expect(wronglyRefused.isEmpty, "\(name): valid but refused: \(wronglyRefused)")
        #expect(wronglyAccepted.isEmpty, "\(name): invalid but accepted: \(wronglyAccepted)")
    }

    @Test func mstKeyHeightsAndPrefixesAgreeWithTheFixtures() throws {
        let heights = try #require(try Self.json("mst/key_heights.json").arrayValue)
        for h in heights {
            let key = try #require(h["key"]?.stringValue)
            #expect(MST.height(of: key) == Int(h["height"]?.intValue ?? -1), "height of '\(key)'")
        }
        let prefixes = try #require(try Self.json("mst/common_prefix.json").arrayValue)
        for p in prefixes {
            let l = try #require(p["left"]?.stringValue), r = try #require(p["right"]?.stringValue)
            #expect(MST.commonPrefixLength(l.utf8, r.utf8) == Int(p["len"]?.intValue ?? -1), "'\(l)' / '\(r)'")
        }
    }

    @Test(arguments: ["fakermaker", "greenground"])
    func aRealRepositoryVerifiesAndItsRecordsRebuildTheCommittedTree(name: String) throws {
        let bytes = Array(try Data(contentsOf: Self.cars.appendingPathComponent("\(name).repo.car")))
        let repo = try RepositoryExport(car: bytes)
        let didDoc = try JSONParser.parse(Array(try Data(contentsOf: Self.cars.appendingPathComponent("\(name).didDoc.json"))))
        // greenground's DID document is another account's (indigo keeps it for other tests).
        if name == "fakermaker" { #expect(repo.commit.did == didDoc["id"]?.stringValue) }
        #expect(Syntax.isValidDID(repo.commit.did))
        #expect(!repo.records.isEmpty)
        for record in repo.records {
            #expect(Syntax.isValidNSID(record.collection) && Syntax.isValidRecordKey(record.rkey))
            // Every record's block is the canonical encoding of its value, and valid data model.
            #expect(CID.compute(DagCBOR.encode(record.value)) == record.cid)
            let json = try DataModelJSON.json(record.value)
            #expect(json["$type"]?.stringValue == record.collection || json["$type"] != nil)
        }
        // Keys in strictly increasing order.
        let keys = repo.records.map { "\($0.collection)/\($0.rkey)" }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    @Test func everyStoredCARParsesWithEveryBlockVerified() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.cars.path).filter { $0.hasSuffix(".car") || $0.hasSuffix(".repo") }
        #expect(files.count >= 4)
        for file in files {
            let car = try CARFile(bytes: Array(try Data(contentsOf: Self.cars.appendingPathComponent(file))))
            #expect(!car.roots.isEmpty, "\(file)")
            #expect(!car.blocks.isEmpty, "\(file)")
            for cid in car.order { #expect(car.blocks[cid].map(cid.matches) == true) }
        }
    }

    @Test func aTamperedOrTruncatedCARIsRefusedWithItsPlace() throws {
        var bytes = Array(try Data(contentsOf: Self.cars.appendingPathComponent("greenground.repo.car")))
        let intact = try CARFile(bytes: bytes)
        #expect(intact.blocks.count > 1)
        bytes[bytes.count - 3] ^= 0x40
        let tampered = #expect(throws: ATProtoError.self) { try CARFile(bytes: bytes) }
        #expect(tampered?.message.contains("does not hash to its CID") == true)
        #expect(tampered?.offset != nil)
        bytes[bytes.count - 3] ^= 0x40
        let truncated = #expect(throws: ATProtoError.self) { try CARFile(bytes: Array(bytes.dropLast(7))) }
        #expect(truncated?.message.contains("runs past the end") == true, "\(String(describing: truncated))")
    }

    @Test(arguments: [
        ([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02] as [UInt8], "out of DAG-CBOR order"),  // {"b":1,"a":2}
        ([0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02], "out of DAG-CBOR order"),  // longer key first
        ([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], "appears twice"),
        ([0x18, 0x05], "shortest form"),
        ([0x59, 0x00, 0x01, 0x00], "shortest form"),
        ([0x9f, 0x01, 0xff], "indefinite-length"),
        ([0xc1, 0x01], "tag 1"),
        ([0xf7], "undefined"),
        ([0xf9, 0x3c, 0x00], "64-bit"),
        ([0xfa, 0x3f, 0x80, 0x00, 0x00], "64-bit"),
        ([0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], "NaN"),
        ([0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "signed 64-bit"),
        ([0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "runs past the end"),
        ([0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "runs past the end"),
        ([0x62, 0xc3, 0x28], "UTF-8"),
        ([0xa1, 0x01, 0x01], "keys must be strings"),
        ([0xd8, 0x2a, 0x42, 0x01, 0x71], "0x00 multibase prefix"),
        ([0x01, 0x02], "after the value"),
        ([0xf8, 0x20], "simple value"),
    ])
    func nonCanonicalOrForbiddenCBORIsRefused(bytes: [UInt8], reason: String) {
        let error = #expect(throws: ATProtoError.self) { try DagCBOR.decode(bytes) }
        #expect(error?.description.contains(reason) == true, "\(bytes): \(String(describing: error))")
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = [UInt8](repeating: 0x81, count: 100_000) + [0x01]
        let error = #expect(throws: ATProtoError.self) { try DagCBOR.decode(deep) }
        #expect(error?.message.contains("nested deeper") == true)
    }

    @Test func cidStringsRoundTripAndCIDv0IsRead() throws {
        let s = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
        let cid = try CID(string: s)
        #expect(cid.codec == CID.dagCBORCodec && cid.digest.count == 32 && cid.string == s)
        let v0 = try CID(string: "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR")
        #expect(v0.version == 0 && v0.codec == CID.dagPBCodec && v0.string == "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR")
        #expect(throws: ATProtoError.self) { try CID(string: "bafy!") }
        #expect(throws: ATProtoError.self) { try CID(string: "") }
        #expect(throws: ATProtoError.self) { try CID(bytes: [0x01, 0x71, 0x12, 0x20, 0x00]) }
    }

    /// Random damage to a real repository never crashes the reader: each damaged copy is refused
    /// with an error or (when the damage missed every checked byte) read whole.
    @Test func damagedRepositoriesAreErrorsNeverCrashes() throws {
        let original = Array(try Data(contentsOf: Self.cars.appendingPathComponent("greenground.repo.car")))
        var rng = SystemRandomNumberGenerator()
        var refused = 0
        for round in 0..<3000 {
            var bytes = original
            switch round % 3 {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            default:
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.insert(contentsOf: (0..<Int.random(in: 1...9, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            }
            do { _ = try RepositoryExport(car: bytes) } catch { refused += 1 }
        }
        #expect(refused > 2500)
    }

    /// A chain of empty nodes far deeper than any real tree is refused, not walked off the stack.
    @Test func aHostileDeepMSTIsAnError() throws {
        var blocks: [CID: [UInt8]] = [:]
        var below: CBORValue = .null
        for _ in 0..<100_000 {
            let bytes = DagCBOR.encode(.map(["e": .array([]), "l": below]))
            let cid = CID.compute(bytes)
            blocks[cid] = bytes
            below = .link(cid)
        }
        let root = try #require(below.linkValue)
        let error = #expect(throws: ATProtoError.self) { try MST.walk(root: root, blocks: blocks) }
        #expect(error?.message.contains("deeper than") == true, "\(String(describing: error))")
    }

    @Test func anMSTBuiltFromEntriesWalksBackToThem() throws {
        let value = CID.compute(DagCBOR.encode(.map(["$type": .string("io.atcr.test"), "n": .integer(1)])))
        let entries = (0..<500).map { MST.Entry(key: "io.atcr.manifest/\(String(format: "%013d", $0 * 7919 % 100_003))", value: value) }
        let built = try MST.build(entries.shuffled())
        let walked = try MST.walk(root: built.root, blocks: built.blocks)
        #expect(walked == entries.sorted { $0.key < $1.key })
        #expect(try MST.build(entries).root == built.root, "the tree does not depend on insertion order")
        let empty = try MST.build([])
        #expect(try MST.walk(root: empty.root, blocks: empty.blocks).isEmpty)
        #expect(throws: ATProtoError.self) { try MST.build(entries + entries.prefix(1)) }
    }
}

/// Signatures: the interop fixtures (P-256 and K-256; high-S and DER refused) and a real commit.
@Suite struct ATProtoSignatureTests {
    @Test func signatureFixturesAgree() throws {
        let fixtures = try #require(try ATProtoDataModelTests.json("crypto/signature-fixtures.json").arrayValue)
        #expect(fixtures.count == 6)
        for f in fixtures {
            let comment = f["comment"]?.stringValue ?? ""
            let key = try ATProtoPublicKey(didKey: try #require(f["publicKeyDid"]?.stringValue))
            #expect(key.curve.rawValue == f["algorithm"]?.stringValue, "\(comment)")
            let legacy = try ATProtoPublicKey(type: try #require(f["didDocSuite"]?.stringValue), publicKeyMultibase: try #require(f["publicKeyMultibase"]?.stringValue))
            #expect(legacy.compressed == key.compressed, "\(comment)")
            #expect(key.didKey == f["publicKeyDid"]?.stringValue)
            let message = ATProtoDataModelTests.bytes(base64: try #require(f["messageBase64"]?.stringValue))
            let signature = ATProtoDataModelTests.bytes(base64: try #require(f["signatureBase64"]?.stringValue))
            #expect(key.verify(signature: signature, message: message) == (f["validSignature"] == .bool(true)), "\(comment)")
        }
    }

    @Test(arguments: ["w3c_didkey_K256.json", "w3c_didkey_P256.json"])
    func didKeysParse(file: String) throws {
        let keys = try #require(try ATProtoDataModelTests.json("crypto/\(file)").arrayValue)
        #expect(!keys.isEmpty)
        for k in keys {
            let did = try #require(k["publicDidKey"]?.stringValue)
            let key = try ATProtoPublicKey(didKey: did)
            #expect(key.didKey == did)
            #expect(key.curve == (file.contains("K256") ? .k256 : .p256))
        }
    }

    @Test func aRealCommitIsSignedByItsDIDDocumentsKey() throws {
        let cars = ATProtoDataModelTests.cars
        let repo = try RepositoryExport(car: Array(try Data(contentsOf: cars.appendingPathComponent("fakermaker.repo.car"))))
        let doc = try JSONParser.parse(Array(try Data(contentsOf: cars.appendingPathComponent("fakermaker.didDoc.json"))))
        let method = try #require(doc["verificationMethod"]?.arrayValue?.first { $0["id"]?.stringValue?.hasSuffix("#atproto") == true })
        let key = try ATProtoPublicKey(type: try #require(method["type"]?.stringValue), publicKeyMultibase: try #require(method["publicKeyMultibase"]?.stringValue))
        // A 2023 repository (format 2), signed before atproto required low-S signatures.
        #expect(!repo.commit.isSigned(by: key), "its signature is high-S")
        #expect(repo.commit.isSigned(by: key, allowHighS: true))
        var forged = repo.commit
        forged.unsignedBytes[forged.unsignedBytes.count - 1] ^= 1
        #expect(!forged.isSigned(by: key, allowHighS: true))
        #expect(!repo.commit.isSigned(by: try ATProtoPublicKey(didKey: "did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo"), allowHighS: true))
    }
}

/// The MST against the firehose commit-proof fixtures: trees built from the keys before and after
/// a commit have the fixtures' roots, and the proof's blocks are nodes of the tree after it.
@Suite struct MSTProofFixtureTests {
    @Test func treesBeforeAndAfterEachCommitHaveTheFixturesRoots() throws {
        let fixtures = try #require(try ATProtoDataModelTests.json("firehose/commit-proof-fixtures.json").arrayValue)
        #expect(fixtures.count == 6)
        for f in fixtures {
            let comment = f["comment"]?.stringValue ?? ""
            let leaf = try CID(string: try #require(f["leafValue"]?.stringValue))
            let keys = try #require(f["keys"]?.arrayValue).compactMap(\.stringValue)
            let adds = try #require(f["adds"]?.arrayValue).compactMap(\.stringValue)
            let dels = Set(try #require(f["dels"]?.arrayValue).compactMap(\.stringValue))
            let before = try MST.build(keys.map { MST.Entry(key: $0, value: leaf) })
            #expect(before.root.string == f["rootBeforeCommit"]?.stringValue, "\(comment): root before")
            let afterKeys = keys.filter { !dels.contains($0) } + adds
            let after = try MST.build(afterKeys.map { MST.Entry(key: $0, value: leaf) })
            #expect(after.root.string == f["rootAfterCommit"]?.stringValue, "\(comment): root after")
            #expect(try MST.walk(root: after.root, blocks: after.blocks).map(\.key) == afterKeys.sorted())
            for proof in try #require(f["blocksInProof"]?.arrayValue).compactMap(\.stringValue) {
                #expect(after.blocks[try CID(string: proof)] != nil, "\(comment): proof block \(proof) is a node of the tree after")
            }
        }
    }
}

/// Sync 1.1 inversion: the tree after each fixture commit, cut down to the proof's blocks, gives
/// the root before it when the commit's operations are undone; fewer blocks are an error, never a
/// wrong root.
@Suite struct MSTInversionTests {
    @Test func undoingEachFixtureCommitOnItsProofGivesTheRootBefore() throws {
        let fixtures = try #require(try ATProtoDataModelTests.json("firehose/commit-proof-fixtures.json").arrayValue)
        for f in fixtures {
            let comment = f["comment"]?.stringValue ?? ""
            let leaf = try CID(string: try #require(f["leafValue"]?.stringValue))
            let keys = try #require(f["keys"]?.arrayValue).compactMap(\.stringValue)
            let adds = try #require(f["adds"]?.arrayValue).compactMap(\.stringValue)
            let dels = Set(try #require(f["dels"]?.arrayValue).compactMap(\.stringValue))
            let after = try MST.build((keys.filter { !dels.contains($0) } + adds).map { MST.Entry(key: $0, value: leaf) })
            var proof: [CID: [UInt8]] = [:]
            for cid in try #require(f["blocksInProof"]?.arrayValue).compactMap(\.stringValue) {
                let c = try CID(string: cid)
                proof[c] = after.blocks[c]
            }
            func invert(_ blocks: [CID: [UInt8]]) throws -> CID {
                var items = try MST.partialWalk(root: after.root, blocks: blocks)
                for key in adds {
                    guard case .found(let i) = MST.locate(key, in: items) else { throw ATProtoError("\(key) not found") }
                    items.remove(at: i)
                }
                for key in dels {
                    guard case .absent(let i) = MST.locate(key, in: items) else { throw ATProtoError("\(key) not placeable") }
                    items.insert(.entry(MST.Entry(key: key, value: leaf), height: MST.height(of: key)), at: i)
                }
                return try MST.build(items: items).root
            }
            #expect(try invert(proof).string == f["rootBeforeCommit"]?.stringValue, "\(comment)")
            // The whole tree inverts too; a proof missing a block it needs is an error.
            #expect(try invert(after.blocks).string == f["rootBeforeCommit"]?.stringValue, "\(comment)")
            for dropped in proof.keys where dropped != after.root {
                var fewer = proof
                fewer[dropped] = nil
                if let root = try? invert(fewer) {
                    #expect(root.string == f["rootBeforeCommit"]?.stringValue, "\(comment): without \(dropped) the inversion gives another root")
                }
            }
        }
    }
}

/// Firehose frames built as a PDS builds them: decoded back, verified (signature, records, sync
/// 1.1 inversion), and every kind of damage refused with its reason.
@Suite struct FirehoseFrameTests {
    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

    /// A commit creating `adds` and deleting `deletes` on a tree of `existing` records.
    static func commit(key: ATProtoSigningKey, existing: [String], adds: [String], deletes: [String], rev: String, since: String?, seq: Int64) throws -> FirehoseCommit {
        let record: [UInt8] = DagCBOR.encode(.map(["$type": "io.atcr.manifest", "text": .string("hello \(rev)")]))
        let recordCID = CID.compute(record)
        let old = CID.compute(DagCBOR.encode(.map(["$type": "io.atcr.manifest", "text": "old"])))
        let before = try MST.build(existing.map { MST.Entry(key: $0, value: old) })
        let afterEntries = existing.filter { !deletes.contains($0) }.map { MST.Entry(key: $0, value: old) } + adds.map { MST.Entry(key: $0, value: recordCID) }
        let after = try MST.build(afterEntries)
        let signed = key.commit(did: did, data: after.root, rev: rev)
        // Every node of the new tree (a superset of the proof), the commit, the record.
        var blocks: [(CID, [UInt8])] = [(signed.cid, signed.block)]
        blocks += after.blocks.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if !adds.isEmpty { blocks.append((recordCID, record)) }
        let ops = adds.map { FirehoseCommit.Op(action: .create, path: $0, cid: recordCID) } + deletes.map { FirehoseCommit.Op(action: .delete, path: $0, cid: nil, prev: old) }
        return FirehoseCommit(seq: seq, repo: did, commit: signed.cid, rev: rev, since: since, blocks: CARFile.encode(roots: [signed.cid], blocks: blocks),
            ops: ops, prevData: before.root, time: "2026-12-04T10:00:00.000Z")
    }

    @Test func aCommitFrameRoundTripsAndVerifies() throws {
        let key = try ATProtoSigningKey(seed: "firehose frame test")
        let existing = (0..<40).map { "io.atcr.manifest/3l\(String(format: "%011d", $0))" }
        let commit = try Self.commit(key: key, existing: existing, adds: ["io.atcr.manifest/3mzzzzzzzzzzz"], deletes: [existing[7]], rev: "3mabcdefghijk",
            since: "3maaaaaaaaaaa", seq: 42)
        let frame = Firehose.encode(.commit(commit))
        #expect(try Firehose.decode(frame) == .commit(commit))
        let verified = try commit.verify(key: key.publicKey)
        #expect(verified.inverted && verified.puts.map(\.rkey) == ["3mzzzzzzzzzzz"] && verified.deletes.map(\.rkey) == [String(existing[7].dropFirst(17))])
        #expect(key.publicKey.didKey.hasPrefix("did:key:zQ3s"))

        // Another key, a prevData that is not the tree before, an op the tree does not hold.
        let other = try ATProtoSigningKey(seed: "someone else")
        #expect(throws: ATProtoError.self) { try commit.verify(key: other.publicKey) }
        var wrongPrev = commit
        wrongPrev.prevData = CID.compute([1, 2, 3])
        #expect { try wrongPrev.verify(key: key.publicKey) } throws: { "\($0)".contains("prevData") }
        var extraOp = commit
        extraOp.ops.append(.init(action: .delete, path: existing[3], cid: nil, prev: commit.ops[0].cid))
        #expect { try extraOp.verify(key: key.publicKey) } throws: { "\($0)".contains("still in the commit's tree") }
        // A record block that does not hash to its CID: the CAR is refused.
        var tampered = commit
        if let i = tampered.blocks.lastIndex(of: UInt8(ascii: "h")) { tampered.blocks[i] = UInt8(ascii: "j") }
        #expect { try tampered.verify(key: key.publicKey) } throws: { "\($0)".contains("does not hash to its CID") }
    }

    @Test func everyMessageKindRoundTrips() throws {
        let messages: [FirehoseMessage] = [
            .sync(FirehoseSync(seq: 1, did: Self.did, blocks: [1, 2], rev: "3mabcdefghijk", time: "2026-12-04T10:00:00Z")),
            .identity(seq: 2, did: Self.did, handle: "alice.test", time: "2026-12-04T10:00:00Z"),
            .account(seq: 3, did: Self.did, active: false, status: "deactivated", time: "2026-12-04T10:00:00Z"),
            .info(name: "OutdatedCursor", message: "too old"),
            .error(name: "FutureCursor", message: nil),
            .unknown(type: "#labels", seq: 9),
        ]
        for m in messages { #expect(try Firehose.decode(Firehose.encode(m)) == m) }
    }

    @Test func damagedFramesAreRefusedWithTheirReason() throws {
        let key = try ATProtoSigningKey(seed: "firehose frame test")
        let commit = try Self.commit(key: key, existing: [], adds: ["io.atcr.manifest/3mzzzzzzzzzzz"], deletes: [], rev: "3mabcdefghijk", since: nil, seq: 1)
        let frame = Firehose.encode(.commit(commit))
        func refused(_ bytes: [UInt8], _ fragment: String) {
            #expect { try Firehose.decode(bytes) } throws: { "\($0)".contains(fragment) }
        }
        refused(Array(frame.prefix(frame.count - 5)), "runs past the end")
        refused(frame + [0], "follow the frame's body")
        refused([0xa1, 0x62, 0x6f, 0x70], "unexpected end of CBOR")  // a header cut short
        // Non-canonical: the header's keys out of order ("op" before "t").
        refused([0xa2, 0x62, 0x6f, 0x70, 0x01, 0x61, 0x74, 0x67] + Array("#commit".utf8) + DagCBOR.encode(.map(["seq": .integer(1)])), "out of DAG-CBOR order")
        var badRev = commit
        badRev.rev = "not-a-tid"
        refused(Firehose.encode(.commit(badRev)), "is not a TID")
        var badPath = commit
        badPath.ops = [.init(action: .create, path: "no-slash", cid: commit.ops[0].cid)]
        refused(Firehose.encode(.commit(badPath)), "path is not collection/rkey")
        refused([UInt8](repeating: 0, count: Firehose.maximumFrameSize + 1), "larger than")
    }
}
