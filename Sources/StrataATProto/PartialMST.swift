extension MST {
    /// An element of a tree read in key order: an entry, or a subtree whose nodes were not given
    /// (a firehose commit carries only the nodes its operations touch), known by its CID and layer.
    public enum Item: Sendable, Equatable {
        case entry(Entry, height: Int)
        case subtree(CID, layer: Int)
    }

    /// The tree under `root` in key order, as far as `blocks` holds its nodes: a missing node below
    /// the root is a `subtree` item. Checked as `walk` checks a whole tree.
    public static func partialWalk(root: CID, blocks: [CID: [UInt8]]) throws(ATProtoError) -> [Item] {
        var out: [Item] = []
        var nodes = 0
        var last: String?
        func visit(_ cid: CID, layer: Int?, depth: Int) throws(ATProtoError) {
            if blocks[cid] == nil, let layer, depth > 0 {
                out.append(.subtree(cid, layer: layer))
                return
            }
            let node = try parse(cid, layer: layer, depth: depth, blocks: blocks, nodes: &nodes)
            if let l = node.left {
                guard let child = node.childLayer else { throw ATProtoError("MST node \(cid) has no keys but a subtree: its layer is unknown") }
                try visit(l, layer: child, depth: depth + 1)
            }
            for entry in node.entries {
                if let last, !last.utf8.lexicographicallyPrecedes(entry.key.utf8) {
                    throw ATProtoError("MST key '\(entry.key)' does not sort after '\(last)'")
                }
                last = entry.key
                out.append(.entry(Entry(key: entry.key, value: entry.value), height: height(of: entry.key)))
                if let t = entry.tree, let child = node.childLayer { try visit(t, layer: child, depth: depth + 1) }
            }
        }
        try visit(root, layer: nil, depth: 0)
        return out
    }

    /// Where a key is in a partial tree.
    public enum Place: Equatable, Sendable {
        /// The entry at this index holds the key.
        case found(Int)
        /// The key is not in the tree; inserting it at this index keeps the order.
        case absent(Int)
        /// The key would sit inside a subtree whose nodes are not given.
        case unknown
    }

    public static func locate(_ key: String, in items: [Item]) -> Place {
        var gapHasSubtree = false
        for (i, item) in items.enumerated() {
            switch item {
            case .subtree: gapHasSubtree = true
            case .entry(let e, _):
                if e.key == key { return .found(i) }
                if key.utf8.lexicographicallyPrecedes(e.key.utf8) { return gapHasSubtree ? .unknown : .absent(i) }
                gapHasSubtree = false
            }
        }
        return gapHasSubtree ? .unknown : .absent(items.count)
    }
}
