import Foundation
import StrataATProto
import StrataCore

/// `strata ingest car`: repository exports (`getRepo` CAR files) read whole and verified before
/// anything is appended: every block's hash, the MST (rebuilt to the commit's root), the commit's
/// shape, each record's data model. With a DID document, the commit's signature too.
public enum RepositoryIngest {
    public struct Options: Sendable {
        /// The host the export came from (recorded with its events).
        public var host: String?
        /// A DID document (JSON) whose `#atproto` key must have signed every commit.
        public var didDocument: JSONValue?
        /// Accept high-S signatures (repositories signed before atproto required low-S).
        public var allowHighS = false
        /// The repository every export must be (its commit's DID).
        public var did: String?
        /// Collection prefixes kept (`*` for all; nil keeps every record).
        public var collections: [String]?

        public init(host: String? = nil, didDocument: JSONValue? = nil, allowHighS: Bool = false, did: String? = nil, collections: [String]? = nil) {
            self.host = host
            self.didDocument = didDocument
            self.allowHighS = allowHighS
            self.did = did
            self.collections = collections
        }
    }

    /// The `#atproto` signing key of a DID document.
    public static func signingKey(_ document: JSONValue) throws(ATProtoError) -> ATProtoPublicKey {
        guard let methods = document["verificationMethod"]?.arrayValue,
            let method = methods.first(where: { $0["id"]?.stringValue.map { $0 == "#atproto" || $0.hasSuffix("#atproto") } == true }),
            let type = method["type"]?.stringValue, let multibase = method["publicKeyMultibase"]?.stringValue
        else { throw ATProtoError("the DID document has no #atproto verification method with a publicKeyMultibase") }
        return try ATProtoPublicKey(type: type, publicKeyMultibase: multibase)
    }

    /// The events of the CAR files at `paths`: each file's error names the file.
    public static func drafts(paths: [String], options: Options = Options()) throws -> [EventDraft] {
        let key = try options.didDocument.map { document throws(ATProtoError) in try signingKey(document) }
        var drafts: [EventDraft] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StrataError(.invalidInput, "cannot read file", at: InputLocation(source: path))
            }
            do {
                var repo = try RepositoryExport(car: Array(data))
                if let did = options.did, repo.commit.did != did {
                    throw ATProtoError("the export is \(repo.commit.did)'s, not \(did)'s")
                }
                if let key {
                    if let id = options.didDocument?["id"]?.stringValue, id != repo.commit.did {
                        throw ATProtoError("the commit is \(repo.commit.did)'s, the DID document is \(id)'s")
                    }
                    guard repo.commit.isSigned(by: key, allowHighS: options.allowHighS) else {
                        throw ATProtoError("the commit \(repo.commitCID) is not signed by the DID document's #atproto key"
                            + (options.allowHighS ? "" : " (a repository signed before low-S signatures were required needs --allow-high-s)"))
                    }
                }
                if let prefixes = options.collections {
                    repo.records = repo.records.filter { r in prefixes.contains { $0 == "*" || r.collection.hasPrefix($0) } }
                }
                drafts += try ATProtoEvents.drafts(repo, host: options.host, source: "ingest:car")
            } catch let error as ATProtoError {
                throw StrataError(.invalidInput, error.message, at: InputLocation(source: error.offset.map { "\(path) at byte \($0)" } ?? path))
            }
        }
        return drafts
    }
}
