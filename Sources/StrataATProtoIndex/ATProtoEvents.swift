import Foundation
import StrataATProto
import StrataCore

/// The `atproto` topic: repository records as events, keyed by the repository's DID (so one
/// repository's events are ordered).
///
/// - `atproto.record.put`: a record's value at a revision (a repository export's records, a
///   firehose create or update). Its id is `did/collection/rkey@rev:cid`: appending the same
///   export twice adds nothing; the same content again at a later revision (deleted, then created
///   again) is a new event.
/// - `atproto.record.deleted`: a record removed at a revision.
/// - `atproto.repo.synced`: a whole repository as of a commit (after that export's puts): every
///   record key it holds; the index drops the repository's other records older than the commit.
/// - `atproto.account.status`: a repository's account became active or inactive (takendown,
///   suspended, deleted, deactivated); inactive accounts are left out of listings.
/// - `atproto.repo.desynchronized`: the firehose subscriber could not apply a commit (it does not
///   verify, `since` shows a gap, a `#sync`, `tooBig`); the repository is fetched whole again.
/// - `atproto.identity`: a firehose `#identity` (the account's handle, when given).
/// - `atproto.host.cursor`: a host's firehose position, in the same append as the events it produced.
public enum ATProtoEvents {
    public static let topic = "atproto"
    public static let recordPut = "atproto.record.put"
    public static let recordDeleted = "atproto.record.deleted"
    public static let repoSynced = "atproto.repo.synced"
    public static let accountStatus = "atproto.account.status"
    /// Hosts (keyed by hostname): asked to be crawled (requestCrawl, or an operator), banned, removed.
    public static let hostRequested = "atproto.host.requested"
    public static let hostBanned = "atproto.host.banned"
    public static let hostRemoved = "atproto.host.removed"
    /// A host's last firehose sequence number whose events are in the log (keyed by hostname),
    /// appended in the same batch as those events.
    public static let hostCursor = "atproto.host.cursor"
    /// A repository whose firehose commits could not be applied, to be fetched whole again.
    public static let repoDesynchronized = "atproto.repo.desynchronized"
    /// An account's identity changed (a firehose `#identity`): its handle, when the frame names one.
    public static let identity = "atproto.identity"

    public static func identityDraft(did: String, handle: String?, seq: Int64, host: String?, source: String) -> EventDraft {
        var payload: [String: JSONValue] = ["seq": .int(seq)]
        if let handle { payload["handle"] = .string(handle) }
        if let host { payload["host"] = .string(host) }
        return draft(identity, did: did, id: "atproto:\(did):identity:\(host ?? "-"):\(seq)", source: source, payload)
    }

    /// `backfilled`: a crawl of the host finished since the subscriber started following it (a
    /// subscriber that finds no such cursor backfills the host again).
    public static func cursorDraft(hostname: String, seq: Int64, backfilled: Bool, at: Date, source: String) -> EventDraft {
        var d = EventDraft(topic: topic, key: hostname, type: hostCursor, id: "atproto:host:\(hostname):cursor:\(seq)\(backfilled ? ":backfilled" : "")",
            source: source, payload: ["hostname": .string(hostname), "seq": .int(seq), "backfilled": .bool(backfilled), "at": .string(RFC3339.format(at))])
        d.semanticID = true
        return d
    }

    public static func desynchronizedDraft(did: String, reason: String, rev: String?, seq: Int64?, host: String?, source: String) -> EventDraft {
        var payload: [String: JSONValue] = ["reason": .string(String(reason.prefix(2000)))]
        if let rev { payload["rev"] = .string(rev) }
        if let seq { payload["seq"] = .int(seq) }
        if let host { payload["host"] = .string(host) }
        return draft(repoDesynchronized, did: did, id: "atproto:\(did):desynchronized:\(host ?? "-"):\(seq.map(String.init) ?? rev ?? "-")", source: source, payload)
    }

    /// `removals`: how often the host was removed before (so a host requested again after a removal
    /// is a new event, and requests while it is listed are one).
    public static func hostDraft(_ type: String, hostname: String, removals: Int, by: String?, reason: String? = nil, at: Date, source: String) -> EventDraft {
        var payload: [String: JSONValue] = ["hostname": .string(hostname), "at": .string(RFC3339.format(at))]
        if let by { payload["by"] = .string(by) }
        if let reason { payload["reason"] = .string(reason) }
        let suffix = type == hostRequested ? "requested:\(removals)" : type == hostRemoved ? "removed:\(removals)" : "banned:\(removals):\(Int64(at.timeIntervalSince1970 * 1000))"
        var d = EventDraft(topic: topic, key: hostname, type: type, id: "atproto:host:\(hostname):\(suffix)", source: source, payload: .object(payload))
        d.semanticID = true
        return d
    }

    static func draft(_ type: String, did: String, id: String, source: String, _ payload: [String: JSONValue]) -> EventDraft {
        var p = payload
        p["did"] = .string(did)
        var d = EventDraft(topic: topic, key: did, type: type, id: id, source: source, payload: .object(p))
        d.semanticID = true
        return d
    }

    /// `operation`: `create` or `update`, when a firehose commit said which (an export's records have none).
    public static func putDraft(did: String, collection: String, rkey: String, cid: CID, record: JSONValue, rev: String, host: String?,
        source: String, operation: String? = nil) -> EventDraft
    {
        var payload: [String: JSONValue] = [
            "collection": .string(collection), "rkey": .string(rkey), "cid": .string(cid.string), "record": record, "rev": .string(rev),
        ]
        if let host { payload["host"] = .string(host) }
        if let operation { payload["operation"] = .string(operation) }
        return draft(recordPut, did: did, id: "atproto:\(did)/\(collection)/\(rkey)@\(rev):\(cid.string)", source: source, payload)
    }

    public static func deletedDraft(did: String, collection: String, rkey: String, rev: String, source: String) -> EventDraft {
        draft(recordDeleted, did: did, id: "atproto:\(did)/\(collection)/\(rkey)@\(rev):deleted", source: source,
            ["collection": .string(collection), "rkey": .string(rkey), "rev": .string(rev)])
    }

    public static func syncedDraft(did: String, rev: String, commit: CID, data: CID, keys: [String], host: String?, source: String) -> EventDraft {
        var payload: [String: JSONValue] = [
            "rev": .string(rev), "commit": .string(commit.string), "data": .string(data.string), "keys": .array(keys.map(JSONValue.string)),
        ]
        if let host { payload["host"] = .string(host) }
        return draft(repoSynced, did: did, id: "atproto:\(did)@\(rev):synced:\(commit.string)", source: source, payload)
    }

    /// `seq` (a firehose sequence) or else `marker` (a revision) makes the id: the same status seen
    /// again at the same point appends nothing, a status that comes back later is a new event.
    public static func statusDraft(did: String, active: Bool, status: String?, seq: Int64?, host: String?, source: String,
        marker: String? = nil) -> EventDraft
    {
        var payload: [String: JSONValue] = ["active": .bool(active)]
        if let status { payload["status"] = .string(status) }
        if let seq { payload["seq"] = .int(seq) }
        if let host { payload["host"] = .string(host) }
        let id = "atproto:\(did):status:\(active ? "active" : (status ?? "inactive")):\(seq.map(String.init) ?? marker ?? "-")"
        return draft(accountStatus, did: did, id: id, source: source, payload)
    }

    /// The events of a verified repository export: one put per record, then the repository's sync.
    /// Records must be valid data model (no floats): a record that is not is an error naming it.
    public static func drafts(_ repo: RepositoryExport, host: String?, source: String) throws(ATProtoError) -> [EventDraft] {
        var drafts: [EventDraft] = []
        drafts.reserveCapacity(repo.records.count + 1)
        var keys: [String] = []
        keys.reserveCapacity(repo.records.count)
        // Format-2 commits have no rev: "" sorts before every TID.
        let rev = repo.commit.rev
        for record in repo.records {
            let json: JSONValue
            do { json = try DataModelJSON.json(record.value) } catch {
                throw ATProtoError("\(repo.commit.did): record \(record.collection)/\(record.rkey): \(error.message)")
            }
            drafts.append(putDraft(did: repo.commit.did, collection: record.collection, rkey: record.rkey, cid: record.cid, record: json, rev: rev,
                host: host, source: source))
            keys.append("\(record.collection)/\(record.rkey)")
        }
        drafts.append(syncedDraft(did: repo.commit.did, rev: rev, commit: repo.commitCID, data: repo.commit.data, keys: keys, host: host, source: source))
        return drafts
    }
}
