/// A CAR v1 file (a repository export from `getRepo`, or a firehose commit's block slice): its roots
/// and its blocks, every block's bytes checked against its CID's sha-256 before it is kept.
public struct CARFile: Sendable {
    public var roots: [CID]
    /// Blocks by CID, in file order in `order`.
    public var blocks: [CID: [UInt8]]
    public var order: [CID]

    /// Largest block accepted (the firehose limits blocks to 2 MB; a CAR block past this is refused
    /// before it is copied).
    public static let maxBlockSize = 2 * 1024 * 1024 + 1024

    public init(bytes: [UInt8]) throws(ATProtoError) {
        var offset = 0
        let headerLength = try Varint.read(bytes, at: &offset)
        guard headerLength > 0, headerLength <= UInt64(bytes.count - offset) else {
            throw ATProtoError("CAR header length \(headerLength) runs past the end", at: 0)
        }
        let headerEnd = offset + Int(headerLength)
        let header = try DagCBOR.decode(Array(bytes[offset..<headerEnd]))
        guard header["version"] == .integer(1) else {
            throw ATProtoError("CAR header version is \(header["version"].map { "\($0)" } ?? "missing"), only version 1 is read", at: offset)
        }
        guard let roots = header["roots"]?.arrayValue else { throw ATProtoError("CAR header has no roots array", at: offset) }
        self.roots = []
        for root in roots {
            guard let cid = root.linkValue else { throw ATProtoError("a CAR root is not a CID", at: offset) }
            self.roots.append(cid)
        }
        offset = headerEnd
        blocks = [:]
        order = []
        while offset < bytes.count {
            let start = offset
            let length = try Varint.read(bytes, at: &offset)
            guard length <= UInt64(bytes.count - offset) else { throw ATProtoError("CAR block of \(length) bytes runs past the end", at: start) }
            let end = offset + Int(length)
            let cid = try CID.read(bytes, at: &offset)
            guard offset <= end else { throw ATProtoError("CAR block's CID runs past the block", at: start) }
            guard end - offset <= Self.maxBlockSize else { throw ATProtoError("CAR block of \(end - offset) bytes is larger than \(Self.maxBlockSize)", at: start) }
            let data = Array(bytes[offset..<end])
            guard cid.hashCode == CID.sha256Code else { throw ATProtoError("block \(cid) uses a hash other than sha-256", at: start) }
            guard cid.matches(data) else { throw ATProtoError("block \(cid) does not hash to its CID", at: start) }
            if blocks.updateValue(data, forKey: cid) == nil { order.append(cid) }
            offset = end
        }
    }

    /// The block `cid` decoded as DAG-CBOR (nil if the CAR does not hold it).
    public func value(_ cid: CID) throws(ATProtoError) -> CBORValue? {
        guard let data = blocks[cid] else { return nil }
        do {
            return try DagCBOR.decode(data)
        } catch {
            throw ATProtoError("block \(cid): \(error.description)")
        }
    }
}
