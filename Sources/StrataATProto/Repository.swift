import StrataCore

/// A repository export (`com.atproto.sync.getRepo`): the CAR's root commit, its MST walked and
/// checked, and every record it references, each block verified against its CID.
public struct RepositoryExport: Sendable {
    public struct Record: Sendable, Equatable {
        public var collection: String
        public var rkey: String
        public var cid: CID
        public var value: CBORValue
    }

    public var commit: RepoCommit
    public var commitCID: CID
    public var records: [Record]

    /// Reads `bytes` as a repository CAR. `rebuild` also builds the MST from the records and checks
    /// it reproduces the commit's `data` root (the tree is canonical: a repo whose tree differs is
    /// not what its commit signed).
    public init(car bytes: [UInt8], rebuild: Bool = true) throws(ATProtoError) {
        let car = try CARFile(bytes: bytes)
        guard car.roots.count == 1, let root = car.roots.first else { throw ATProtoError("a repository CAR has one root, this one has \(car.roots.count)") }
        guard let commitValue = try car.value(root) else { throw ATProtoError("the root commit \(root) is not in the CAR") }
        commit = try RepoCommit(commitValue)
        commitCID = root
        let entries = try MST.walk(root: commit.data, blocks: car.blocks)
        if rebuild {
            let built = try MST.build(entries)
            guard built.root == commit.data else {
                throw ATProtoError("the records rebuild the MST root \(built.root), the commit says \(commit.data)")
            }
        }
        records = []
        records.reserveCapacity(entries.count)
        for entry in entries {
            guard let slash = entry.key.firstIndex(of: "/") else { continue }  // walk checked the path
            guard let value = try car.value(entry.value) else {
                throw ATProtoError("record \(entry.key) (\(entry.value)) is not in the CAR")
            }
            records.append(Record(collection: String(entry.key[..<slash]), rkey: String(entry.key[entry.key.index(after: slash)...]),
                cid: entry.value, value: value))
        }
    }
}
