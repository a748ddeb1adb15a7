import Crypto

/// The Merkle Search Tree of an atproto repository (fanout 4: a key's height is the number of
/// leading zero bit pairs of its sha-256), walked and checked from blocks, or built from records.
public enum MST {
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: CID

        public init(key: String, value: CID) {
            self.key = key
            self.value = value
        }
    }

    /// A key's layer: leading zero bits of sha256(key), halved and rounded down.
    public static func height(of key: some Sequence<UInt8>) -> Int {
        var zeros = 0
        for byte in SHA256.hash(data: Array(key)) {
            if byte == 0 {
                zeros += 8
                continue
            }
            zeros += byte.leadingZeroBitCount
            break
        }
        return zeros / 2
    }

    public static func height(of key: String) -> Int { height(of: key.utf8) }

    /// Length of the common prefix of two keys, in bytes.
    public static func commonPrefixLength(_ a: some Sequence<UInt8>, _ b: some Sequence<UInt8>) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }

    /// The entries under `root`, in key order, reading nodes from `blocks`. Checked: every node is
    /// present and well formed, key prefixes are consistent, keys are valid repository paths in
    /// strictly increasing order, and every key sits at the layer its hash gives.
    public static func walk(root: CID, blocks: [CID: [UInt8]]) throws(ATProtoError) -> [Entry] {
        var out: [Entry] = []
        var nodes = 0
        try walk(root, layer: nil, depth: 0, blocks: blocks, into: &out, nodes: &nodes)
        return out
    }

    /// A key's height is at most 128 (sha-256 has 256 bits), so a real tree is at most 129 nodes deep;
    /// a deeper chain (of nodes without entries) is hostile input, refused before it exhausts the stack.
    static let maximumDepth = 130

    private static func walk(_ cid: CID, layer: Int?, depth: Int, blocks: [CID: [UInt8]], into out: inout [Entry], nodes: inout Int) throws(ATProtoError) {
        let node = try parse(cid, layer: layer, depth: depth, blocks: blocks, nodes: &nodes)
        func checkOrder(_ key: String) throws(ATProtoError) {
            if let last = out.last, !last.key.utf8.lexicographicallyPrecedes(key.utf8) {
                throw ATProtoError("MST key '\(key)' does not sort after '\(last.key)'")
            }
        }
        if let l = node.left {
            try walk(l, layer: node.childLayer, depth: depth + 1, blocks: blocks, into: &out, nodes: &nodes)
        }
        for entry in node.entries {
            try checkOrder(entry.key)
            out.append(Entry(key: entry.key, value: entry.value))
            if let t = entry.tree { try walk(t, layer: node.childLayer, depth: depth + 1, blocks: blocks, into: &out, nodes: &nodes) }
        }
    }

    /// A node read from its block: its entries (keys expanded), subtree pointers, and the layer of its children.
    struct Node {
        var left: CID?
        var entries: [(key: String, value: CID, tree: CID?)]
        var layer: Int?
        var childLayer: Int? { layer.map { $0 - 1 } }
    }

    static func parse(_ cid: CID, layer: Int?, depth: Int, blocks: [CID: [UInt8]], nodes: inout Int) throws(ATProtoError) -> Node {
        nodes += 1
        guard nodes <= 10_000_000 else { throw ATProtoError("MST has more than 10,000,000 nodes") }
        guard depth <= maximumDepth else { throw ATProtoError("MST is deeper than \(maximumDepth) nodes at \(cid)") }
        guard let data = blocks[cid] else { throw ATProtoError("MST node \(cid) is missing from the blocks") }
        let node: CBORValue
        do { node = try DagCBOR.decode(data) } catch { throw ATProtoError("MST node \(cid): \(error.description)") }
        guard let map = node.mapValue, let entries = map["e"]?.arrayValue, let left = map["l"], map.count == 2 else {
            throw ATProtoError("MST node \(cid) is not {e, l}")
        }
        func pointer(_ value: CBORValue?, _ what: String) throws(ATProtoError) -> CID? {
            switch value {
            case .link(let c): return c
            case .null: return nil
            default: throw ATProtoError("MST node \(cid): \(what) is neither a CID nor null")
            }
        }
        // The node's layer: its keys' height (all equal), else one below its parent's.
        var nodeLayer = layer
        var previous: [UInt8] = []
        var parsed: [(key: String, value: CID, tree: CID?)] = []
        parsed.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() {
            guard let e = entry.mapValue, e.count == 4, let p = e["p"]?.integerValue, let suffix = e["k"]?.bytesValue,
                let value = e["v"]?.linkValue
            else { throw ATProtoError("MST node \(cid): entry \(i) is not {k, p, t, v}") }
            guard p >= 0, p <= previous.count, i > 0 || p == 0 else {
                throw ATProtoError("MST node \(cid): entry \(i) shares \(p) bytes with a \(previous.count)-byte key")
            }
            let keyBytes = Array(previous.prefix(Int(p))) + suffix
            guard let key = String(validating: keyBytes, as: UTF8.self), Syntax.isValidMSTKey(key) else {
                throw ATProtoError("MST node \(cid): entry \(i)'s key '\(String(decoding: keyBytes, as: UTF8.self).prefix(200))' is not a valid MST key (collection/rkey)")
            }
            let h = height(of: keyBytes)
            if let l = nodeLayer, l != h {
                throw ATProtoError("MST node \(cid): key '\(key)' has height \(h) in a node of layer \(l)")
            }
            nodeLayer = h
            previous = keyBytes
            parsed.append((key, value, try pointer(e["t"], "entry \(i)'s subtree")))
        }
        let leftTree = try pointer(left, "the left subtree")
        if let l = nodeLayer, l == 0, leftTree != nil || parsed.contains(where: { $0.tree != nil }) {
            throw ATProtoError("MST node \(cid) at layer 0 has a subtree")
        }
        return Node(left: leftTree, entries: parsed, layer: nodeLayer)
    }

    /// Builds the tree of `entries` (any order; keys unique): its root CID and every node's block.
    public static func build(_ entries: [Entry]) throws(ATProtoError) -> (root: CID, blocks: [CID: [UInt8]]) {
        let sorted = entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.key == b.key {
            throw ATProtoError("MST key '\(a.key)' given twice")
        }
        return try build(items: sorted.map { .entry($0, height: height(of: $0.key)) })
    }

    /// Builds the tree of `items` (in key order): entries, and subtrees known only by their CID and
    /// layer, kept as they are. A subtree that the change would have to split or merge with its
    /// neighbours is an error (its blocks are needed).
    public static func build(items: [Item]) throws(ATProtoError) -> (root: CID, blocks: [CID: [UInt8]]) {
        var blocks: [CID: [UInt8]] = [:]
        var top = -1
        for case .entry(_, let h) in items { top = max(top, h) }
        if top < 0 {
            // No entries: the empty tree, or one subtree standing alone.
            if items.count == 1, case .subtree(let cid, _) = items[0] { return (cid, blocks) }
            guard items.isEmpty else { throw ATProtoError("MST: \(items.count) subtrees with no key between them would have to be merged; their blocks are not given") }
        }
        let root = try node(items[...], layer: max(top, 0), blocks: &blocks)
        return (root, blocks)
    }

    private static func node(_ items: ArraySlice<Item>, layer: Int, blocks: inout [CID: [UInt8]]) throws(ATProtoError) -> CID {
        var left: CBORValue = .null
        var encoded: [CBORValue] = []
        var previous: [UInt8] = []
        func subtree(_ run: ArraySlice<Item>, _ blocks: inout [CID: [UInt8]]) throws(ATProtoError) -> CBORValue {
            if run.isEmpty { return .null }
            var entries = 0
            var below: CID?
            for item in run {
                switch item {
                case .entry: entries += 1
                case .subtree(let cid, let l):
                    guard l < layer else { throw ATProtoError("MST: subtree \(cid) (layer \(l)) would have to be split or merged at layer \(layer); its blocks are not given") }
                    if l == layer - 1 { below = cid }
                }
            }
            if let below {
                // A subtree one layer down is this gap's child itself, unless something else shares the gap.
                guard run.count == 1 else { throw ATProtoError("MST: subtree \(below) would have to be merged with its neighbours; its blocks are not given") }
                return .link(below)
            }
            return .link(try node(run, layer: layer - 1, blocks: &blocks))
        }
        var runStart = items.startIndex
        for i in items.indices {
            guard case .entry(let entry, let h) = items[i], h == layer else { continue }
            let tree = try subtree(items[runStart..<i], &blocks)
            if encoded.isEmpty {
                left = tree
            } else if case .map(var last) = encoded[encoded.count - 1] {
                last["t"] = tree
                encoded[encoded.count - 1] = .map(last)
            }
            let key = Array(entry.key.utf8)
            let shared = commonPrefixLength(previous, key)
            encoded.append(.map(["p": .integer(Int64(shared)), "k": .bytes(Array(key[shared...])), "v": .link(entry.value), "t": .null]))
            previous = key
            runStart = i + 1
        }
        let tail = try subtree(items[runStart...], &blocks)
        if encoded.isEmpty {
            left = tail
        } else if case .map(var last) = encoded[encoded.count - 1] {
            last["t"] = tail
            encoded[encoded.count - 1] = .map(last)
        }
        let bytes = DagCBOR.encode(.map(["e": .array(encoded), "l": left]))
        let cid = CID.compute(bytes)
        blocks[cid] = bytes
        return cid
    }
}

/// A signed repository commit (repo format v2 or v3).
public struct RepoCommit: Sendable, Equatable {
    public var did: String
    public var version: Int
    public var data: CID
    public var rev: String
    public var prev: CID?
    public var sig: [UInt8]
    /// The DAG-CBOR bytes that were signed: the commit without `sig`.
    public var unsignedBytes: [UInt8]

    public init(_ value: CBORValue) throws(ATProtoError) {
        guard var map = value.mapValue else { throw ATProtoError("the commit is not a map") }
        guard let did = map["did"]?.stringValue, Syntax.isValidDID(did) else { throw ATProtoError("the commit's did is missing or invalid") }
        guard let version = map["version"]?.integerValue, version == 2 || version == 3 else {
            throw ATProtoError("the commit's version is \(map["version"].map { "\($0)" } ?? "missing"); versions 2 and 3 are read")
        }
        guard let data = map["data"]?.linkValue else { throw ATProtoError("the commit has no data CID") }
        guard let sig = map["sig"]?.bytesValue else { throw ATProtoError("the commit has no signature") }
        let rev: String
        if version == 3 {
            guard let r = map["rev"]?.stringValue, Syntax.isValidTID(r) else { throw ATProtoError("the commit's rev is missing or not a TID") }
            rev = r
        } else {
            rev = map["rev"]?.stringValue ?? ""
        }
        switch map["prev"] {
        case .link(let c): prev = c
        case .null, nil: prev = nil
        default: throw ATProtoError("the commit's prev is neither a CID nor null")
        }
        self.did = did
        self.version = Int(version)
        self.data = data
        self.rev = rev
        self.sig = sig
        map["sig"] = nil
        unsignedBytes = DagCBOR.encode(.map(map))
    }
}
