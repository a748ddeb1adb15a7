/// `com.atproto.sync.subscribeRepos` frames: a DAG-CBOR header (`{op: 1, t: "#commit"}`, or
/// `{op: -1}` for an error) followed by a DAG-CBOR body, as the event-stream spec defines them.
public enum FirehoseMessage: Sendable, Equatable {
    case commit(FirehoseCommit)
    case sync(FirehoseSync)
    case identity(seq: Int64, did: String, handle: String?, time: String)
    case account(seq: Int64, did: String, active: Bool, status: String?, time: String)
    /// `OutdatedCursor` and other informational messages.
    case info(name: String, message: String?)
    /// An error frame (`FutureCursor`, `ConsumerTooSlow`, ...): the server closes the stream after it.
    case error(name: String, message: String?)
    /// A message type this version does not know: skipped, as the spec asks, but its `seq` still counts.
    case unknown(type: String, seq: Int64?)

    /// The sequence number, for messages that have one.
    public var seq: Int64? {
        switch self {
        case .commit(let c): c.seq
        case .sync(let s): s.seq
        case .identity(let seq, _, _, _), .account(let seq, _, _, _, _): seq
        case .unknown(_, let seq): seq
        case .info, .error: nil
        }
    }
}

public struct FirehoseCommit: Sendable, Equatable {
    public struct Op: Sendable, Equatable {
        public enum Action: String, Sendable { case create, update, delete }
        public var action: Action
        public var path: String
        /// The record's CID after the operation (nil for a delete).
        public var cid: CID?
        /// The record's CID before it (sync 1.1: updates and deletes).
        public var prev: CID?

        public init(action: Action, path: String, cid: CID?, prev: CID? = nil) {
            self.action = action
            self.path = path
            self.cid = cid
            self.prev = prev
        }

        /// `collection/rkey` split (the path was checked when the frame was read).
        public var collection: Substring { path[..<(path.firstIndex(of: "/") ?? path.endIndex)] }
        public var rkey: Substring { path[(path.firstIndex(of: "/").map(path.index(after:)) ?? path.endIndex)...] }
    }

    public var seq: Int64
    public var repo: String
    public var commit: CID
    public var rev: String
    public var since: String?
    /// The CAR slice: the commit block, the MST nodes it changed (and, with sync 1.1, those needed to
    /// invert it) and the records created or updated.
    public var blocks: [UInt8]
    public var ops: [Op]
    public var prevData: CID?
    public var tooBig: Bool
    public var time: String

    public init(seq: Int64, repo: String, commit: CID, rev: String, since: String?, blocks: [UInt8], ops: [Op], prevData: CID?,
        tooBig: Bool = false, time: String)
    {
        self.seq = seq
        self.repo = repo
        self.commit = commit
        self.rev = rev
        self.since = since
        self.blocks = blocks
        self.ops = ops
        self.prevData = prevData
        self.tooBig = tooBig
        self.time = time
    }
}

public struct FirehoseSync: Sendable, Equatable {
    public var seq: Int64
    public var did: String
    /// A CAR holding the commit block only.
    public var blocks: [UInt8]
    public var rev: String
    public var time: String

    public init(seq: Int64, did: String, blocks: [UInt8], rev: String, time: String) {
        self.seq = seq
        self.did = did
        self.blocks = blocks
        self.rev = rev
        self.time = time
    }
}

/// A commit checked against its blocks: the record values of its creates and updates, its deletes.
public struct VerifiedCommit: Sendable {
    public struct Put: Sendable {
        /// `create` or `update`.
        public var action: FirehoseCommit.Op.Action
        public var collection: String
        public var rkey: String
        public var cid: CID
        public var value: CBORValue
    }
    public var commit: RepoCommit
    public var puts: [Put]
    public var deletes: [(collection: String, rkey: String)]
    /// Whether the operations were checked by inverting them on the tree (sync 1.1, `prevData` given).
    public var inverted: Bool
}

public enum Firehose {
    /// Frames larger than this are refused before they are decoded (blocks are at most 2,000,000 bytes).
    public static let maximumFrameSize = 5 * 1024 * 1024
    static let maximumOps = 200

    public static func decode(_ frame: [UInt8]) throws(ATProtoError) -> FirehoseMessage {
        guard frame.count <= maximumFrameSize else { throw ATProtoError("a frame of \(frame.count) bytes is larger than \(maximumFrameSize)") }
        var offset = 0
        let header = try DagCBOR.decode(frame, at: &offset)
        guard let op = header["op"]?.integerValue else { throw ATProtoError("the frame header has no op", at: 0) }
        guard offset < frame.count else { throw ATProtoError("the frame has a header and no body", at: offset) }
        let bodyStart = offset
        let body = try DagCBOR.decode(frame, at: &offset)
        guard offset == frame.count else { throw ATProtoError("\(frame.count - offset) bytes follow the frame's body", at: offset) }
        guard let map = body.mapValue else { throw ATProtoError("the frame's body is not a map", at: bodyStart) }
        if op == -1 {
            guard let name = map["error"]?.stringValue else { throw ATProtoError("an error frame has no error name", at: bodyStart) }
            return .error(name: name, message: map["message"]?.stringValue)
        }
        guard op == 1 else { throw ATProtoError("the frame header's op is \(op), not 1 or -1", at: 0) }
        guard let type = header["t"]?.stringValue else { throw ATProtoError("the frame header has no type", at: 0) }
        func field<T>(_ name: String, _ get: (CBORValue) -> T?) throws(ATProtoError) -> T {
            guard let value = map[name], let typed = get(value) else {
                throw ATProtoError("\(type): '\(name)' is \(map[name] == nil ? "missing" : "of the wrong type")", at: bodyStart)
            }
            return typed
        }
        func did(_ name: String) throws(ATProtoError) -> String {
            let d = try field(name, \.stringValue)
            guard Syntax.isValidDID(d) else { throw ATProtoError("\(type): '\(name)' is not a DID: '\(d.prefix(100))'", at: bodyStart) }
            return d
        }
        func seq() throws(ATProtoError) -> Int64 {
            let s = try field("seq", \.integerValue)
            guard s >= 0 else { throw ATProtoError("\(type): seq \(s) is negative", at: bodyStart) }
            return s
        }
        switch type {
        case "#commit":
            let rev = try field("rev", \.stringValue)
            guard Syntax.isValidTID(rev) else { throw ATProtoError("#commit: rev '\(rev.prefix(40))' is not a TID", at: bodyStart) }
            var since: String?
            switch map["since"] {
            case .string(let s):
                guard Syntax.isValidTID(s) else { throw ATProtoError("#commit: since '\(s.prefix(40))' is not a TID", at: bodyStart) }
                since = s
            case .null, nil: since = nil
            default: throw ATProtoError("#commit: 'since' is neither a TID nor null", at: bodyStart)
            }
            let rawOps = try field("ops", \.arrayValue)
            guard rawOps.count <= maximumOps else { throw ATProtoError("#commit: \(rawOps.count) ops, more than \(maximumOps)", at: bodyStart) }
            var ops: [FirehoseCommit.Op] = []
            for (i, raw) in rawOps.enumerated() {
                guard let action = raw["action"]?.stringValue.flatMap(FirehoseCommit.Op.Action.init(rawValue:)) else {
                    throw ATProtoError("#commit: op \(i) has no action create, update or delete", at: bodyStart)
                }
                guard let path = raw["path"]?.stringValue, Syntax.isValidMSTKey(path) else {
                    throw ATProtoError("#commit: op \(i)'s path is not collection/rkey", at: bodyStart)
                }
                let cid = raw["cid"]?.linkValue
                guard (cid == nil) == (action == .delete), raw["cid"] != nil else {
                    throw ATProtoError("#commit: op \(i) (\(action.rawValue) \(path)) \(action == .delete ? "has a CID" : "has no CID")", at: bodyStart)
                }
                ops.append(.init(action: action, path: path, cid: cid, prev: raw["prev"]?.linkValue))
            }
            return .commit(FirehoseCommit(seq: try seq(), repo: try did("repo"), commit: try field("commit", \.linkValue), rev: rev, since: since,
                blocks: try field("blocks", \.bytesValue), ops: ops, prevData: map["prevData"]?.linkValue, tooBig: map["tooBig"] == .bool(true),
                time: try field("time", \.stringValue)))
        case "#sync":
            return .sync(FirehoseSync(seq: try seq(), did: try did("did"), blocks: try field("blocks", \.bytesValue), rev: try field("rev", \.stringValue),
                time: try field("time", \.stringValue)))
        case "#identity":
            return .identity(seq: try seq(), did: try did("did"), handle: map["handle"]?.stringValue, time: try field("time", \.stringValue))
        case "#account":
            guard case .bool(let active) = map["active"] else { throw ATProtoError("#account: 'active' is missing or not a boolean", at: bodyStart) }
            return .account(seq: try seq(), did: try did("did"), active: active, status: map["status"]?.stringValue, time: try field("time", \.stringValue))
        case "#info":
            return .info(name: try field("name", \.stringValue), message: map["message"]?.stringValue)
        default:
            return .unknown(type: type, seq: map["seq"]?.integerValue)
        }
    }

    /// A frame's bytes (what a PDS sends; used by Strata's tests and tools).
    public static func encode(_ message: FirehoseMessage) -> [UInt8] {
        func frame(_ t: String, _ body: [String: CBORValue]) -> [UInt8] {
            DagCBOR.encode(.map(["op": .integer(1), "t": .string(t)])) + DagCBOR.encode(.map(body))
        }
        switch message {
        case .commit(let c):
            var body: [String: CBORValue] = [
                "seq": .integer(c.seq), "rebase": .bool(false), "tooBig": .bool(c.tooBig), "repo": .string(c.repo), "commit": .link(c.commit),
                "rev": .string(c.rev), "since": c.since.map(CBORValue.string) ?? .null, "blocks": .bytes(c.blocks), "blobs": .array([]),
                "time": .string(c.time),
                "ops": .array(c.ops.map { op in
                    var m: [String: CBORValue] = ["action": .string(op.action.rawValue), "path": .string(op.path), "cid": op.cid.map(CBORValue.link) ?? .null]
                    if let prev = op.prev { m["prev"] = .link(prev) }
                    return .map(m)
                }),
            ]
            if let p = c.prevData { body["prevData"] = .link(p) }
            return frame("#commit", body)
        case .sync(let s):
            return frame("#sync", ["seq": .integer(s.seq), "did": .string(s.did), "blocks": .bytes(s.blocks), "rev": .string(s.rev), "time": .string(s.time)])
        case .identity(let seq, let did, let handle, let time):
            var body: [String: CBORValue] = ["seq": .integer(seq), "did": .string(did), "time": .string(time)]
            if let handle { body["handle"] = .string(handle) }
            return frame("#identity", body)
        case .account(let seq, let did, let active, let status, let time):
            var body: [String: CBORValue] = ["seq": .integer(seq), "did": .string(did), "time": .string(time), "active": .bool(active)]
            if let status { body["status"] = .string(status) }
            return frame("#account", body)
        case .info(let name, let message):
            var body: [String: CBORValue] = ["name": .string(name)]
            if let message { body["message"] = .string(message) }
            return frame("#info", body)
        case .error(let name, let message):
            var body: [String: CBORValue] = ["error": .string(name)]
            if let message { body["message"] = .string(message) }
            return DagCBOR.encode(.map(["op": .integer(-1)])) + DagCBOR.encode(.map(body))
        case .unknown(let type, let seq):
            return frame(type, seq.map { ["seq": .integer($0)] } ?? [:])
        }
    }
}

extension FirehoseCommit {
    /// Checks the commit against its blocks: every block hashes to its CID, the root is the commit
    /// named, signed by `key` (when given) for `repo` at `rev`, every create and update has its record
    /// in the blocks, and — when `prevData` is given (sync 1.1) — inverting the operations on the
    /// tree the blocks hold gives `prevData` back. An error names what does not hold.
    public func verify(key: ATProtoPublicKey?, allowHighS: Bool = false) throws(ATProtoError) -> VerifiedCommit {
        guard !tooBig else { throw ATProtoError("the commit is marked tooBig: its blocks are not in the frame") }
        let car = try CARFile(bytes: blocks)
        guard car.roots.first == commit else { throw ATProtoError("the blocks' root is \(car.roots.first.map { "\($0)" } ?? "missing"), not the commit \(commit)") }
        guard let value = try car.value(commit) else { throw ATProtoError("the commit block \(commit) is not in the blocks") }
        let signed = try RepoCommit(value)
        guard signed.did == repo else { throw ATProtoError("the commit is \(signed.did)'s, the frame says \(repo)") }
        guard signed.rev == rev else { throw ATProtoError("the commit's rev is \(signed.rev), the frame says \(rev)") }
        if let key, !signed.isSigned(by: key, allowHighS: allowHighS) {
            throw ATProtoError("the commit \(commit) is not signed by \(repo)'s key")
        }
        var puts: [VerifiedCommit.Put] = []
        var deletes: [(collection: String, rkey: String)] = []
        for op in ops {
            if let cid = op.cid {
                guard let record = try car.value(cid) else { throw ATProtoError("\(op.action.rawValue) \(op.path): the record \(cid) is not in the blocks") }
                puts.append(.init(action: op.action, collection: String(op.collection), rkey: String(op.rkey), cid: cid, value: record))
            } else {
                deletes.append((String(op.collection), String(op.rkey)))
            }
        }
        guard let prevData else { return VerifiedCommit(commit: signed, puts: puts, deletes: deletes, inverted: false) }
        // Sync 1.1: undo each operation on the partial tree; the result must be the previous root.
        var items = try MST.partialWalk(root: signed.data, blocks: car.blocks)
        for op in ops.reversed() {
            let place = MST.locate(op.path, in: items)
            switch (op.action, place) {
            case (_, .unknown):
                throw ATProtoError("\(op.action.rawValue) \(op.path): the blocks do not hold the tree nodes around it")
            case (.create, .found(let i)):
                guard case .entry(let e, _) = items[i], e.value == op.cid else { throw ATProtoError("create \(op.path): the tree holds another CID") }
                items.remove(at: i)
            case (.update, .found(let i)):
                guard case .entry(let e, let h) = items[i], e.value == op.cid else { throw ATProtoError("update \(op.path): the tree holds another CID") }
                guard let prev = op.prev else { throw ATProtoError("update \(op.path): no prev CID to invert it with") }
                items[i] = .entry(MST.Entry(key: op.path, value: prev), height: h)
            case (.delete, .absent(let i)):
                guard let prev = op.prev else { throw ATProtoError("delete \(op.path): no prev CID to invert it with") }
                items.insert(.entry(MST.Entry(key: op.path, value: prev), height: MST.height(of: op.path)), at: i)
            case (.create, .absent), (.update, .absent):
                throw ATProtoError("\(op.action.rawValue) \(op.path): the key is not in the commit's tree")
            case (.delete, .found):
                throw ATProtoError("delete \(op.path): the key is still in the commit's tree")
            }
        }
        let before = try MST.build(items: items).root
        guard before == prevData else {
            throw ATProtoError("inverting the operations gives the tree \(before), the frame's prevData is \(prevData)")
        }
        return VerifiedCommit(commit: signed, puts: puts, deletes: deletes, inverted: true)
    }
}

extension CARFile {
    /// A CAR v1 file of `roots` and `blocks` (in the order given).
    public static func encode(roots: [CID], blocks: [(CID, [UInt8])]) -> [UInt8] {
        let header = DagCBOR.encode(.map(["version": .integer(1), "roots": .array(roots.map(CBORValue.link))]))
        var out: [UInt8] = []
        Varint.append(UInt64(header.count), to: &out)
        out += header
        for (cid, data) in blocks {
            let c = cid.bytes
            Varint.append(UInt64(c.count + data.count), to: &out)
            out += c
            out += data
        }
        return out
    }
}
