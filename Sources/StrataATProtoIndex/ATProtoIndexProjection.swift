import Foundation
import PostgresNIO
import StrataCore
import StrataProjections

/// The ATProto index: repositories (latest revision, account status), their current records, and
/// which repositories hold records of each collection (for `listReposByCollection`).
///
/// Each event is applied in log order (a repository's events share a partition), guarded by
/// revision: a put or delete older than what the index holds for that record changes nothing, so
/// an old export replayed after newer firehose commits cannot bring back stale records. Every
/// column comes from the events, so a replay gives the same tables.
public struct ATProtoIndexProjection: Projection {
    public let name = "atproto"
    public let topics = [ATProtoEvents.topic]
    public let version = 3

    public init() {}

    public func createTables(_ context: ProjectionContext) async throws {
        try await context.execute("""
            CREATE TABLE \(context.table("repos")) (
                did text PRIMARY KEY, rev text COLLATE "C" NOT NULL DEFAULT '', commit_cid text, data_cid text, host text,
                active boolean NOT NULL DEFAULT true, status text, status_seq bigint, synced_at timestamptz, updated_at timestamptz NOT NULL,
                sync_state text NOT NULL DEFAULT 'synced', desync_reason text, desync_rev text COLLATE "C", handle text, identity_seq bigint
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("records")) (
                did text NOT NULL, collection text COLLATE "C" NOT NULL, rkey text COLLATE "C" NOT NULL, cid text NOT NULL,
                rev text COLLATE "C" NOT NULL, record jsonb NOT NULL, PRIMARY KEY (did, collection, rkey)
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("collections")) (
                collection text COLLATE "C" NOT NULL, did text COLLATE "C" NOT NULL, records bigint NOT NULL, PRIMARY KEY (collection, did)
            )
            """)
        try await context.execute("CREATE INDEX ON \(context.table("collections")) (did)")
        try await context.execute("""
            CREATE TABLE \(context.table("hosts")) (
                hostname text PRIMARY KEY, state text NOT NULL, requested_at timestamptz, requested_by text, banned_at timestamptz,
                reason text, removals int NOT NULL DEFAULT 0, cursor bigint, cursor_at timestamptz, updated_at timestamptz NOT NULL
            )
            """)
    }

    /// Consecutive puts, applied as one statement per table: per record the put a sequential
    /// application would leave (the newest revision; of equal ones, the later), per repository the
    /// newest revision, the last host named and the latest time.
    struct PendingPuts {
        struct Put {
            var did, collection, rkey, cid, rev, record: String
        }
        struct Key: Hashable {
            var did, collection, rkey: String
        }
        var puts: [Key: Put] = [:]
        var repos: [String: (rev: String, host: String?, at: Date)] = [:]

        var isEmpty: Bool { puts.isEmpty }

        mutating func add(_ put: Put, host: String?, at: Date) {
            let key = Key(did: put.did, collection: put.collection, rkey: put.rkey)
            // A put older than the one pending for its record has no effect, as it would have none in turn.
            if puts[key].map({ put.rev.utf8.lexicographicallyPrecedes($0.rev.utf8) }) != true { puts[key] = put }
            if let r = repos[put.did] {
                repos[put.did] = (r.rev.utf8.lexicographicallyPrecedes(put.rev.utf8) ? put.rev : r.rev, host ?? r.host, max(r.at, at))
            } else {
                repos[put.did] = (put.rev, host, at)
            }
        }
    }

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        let repos = context.table("repos")
        let records = context.table("records")
        var touched: Set<String> = []
        var pending = PendingPuts()
        for event in events {
            let p = try JSONParser.parse(event.payload)
            if event.type != ATProtoEvents.recordPut, !pending.isEmpty {
                try await flush(&pending, context)
            }
            if event.type.hasPrefix("atproto.host.") {
                try await applyHost(event, p, context)
                continue
            }
            guard let did = p["did"]?.stringValue else { throw ProjectionError("event \(event.position) has no 'did'") }
            let rev = p["rev"]?.stringValue ?? ""
            let host = p["host"]?.stringValue
            let at = event.appendedAt
            switch event.type {
            case ATProtoEvents.recordPut:
                guard let collection = p["collection"]?.stringValue, let rkey = p["rkey"]?.stringValue, let cid = p["cid"]?.stringValue,
                    let record = p["record"]
                else { throw ProjectionError("event \(event.position): a record put needs collection, rkey, cid and record") }
                pending.add(.init(did: did, collection: collection, rkey: rkey, cid: cid, rev: rev, record: JSONWriter.string(record)), host: host, at: at)
            case ATProtoEvents.recordDeleted:
                guard let collection = p["collection"]?.stringValue, let rkey = p["rkey"]?.stringValue else {
                    throw ProjectionError("event \(event.position): a record delete needs collection and rkey")
                }
                try await context.query("""
                    DELETE FROM \(unescaped: records) WHERE did = \(did) AND collection = \(collection) AND rkey = \(rkey) AND rev <= \(rev)
                    """)
                try await upsertRepo(context, repos, did: did, rev: rev, host: host, at: at)
            case ATProtoEvents.repoSynced:
                let keys = (p["keys"]?.arrayValue ?? []).compactMap(\.stringValue)
                try await context.query("""
                    DELETE FROM \(unescaped: records) WHERE did = \(did) AND rev <= \(rev) AND NOT ((collection || '/' || rkey) = ANY(\(keys)))
                    """)
                try await upsertRepo(context, repos, did: did, rev: rev, host: host, at: at)
                try await context.query("""
                    UPDATE \(unescaped: repos) SET commit_cid = \(p["commit"]?.stringValue), data_cid = \(p["data"]?.stringValue), synced_at = \(at)
                     WHERE did = \(did) AND rev <= \(rev)
                    """)
                // A whole export at or past the commit that could not be applied ends the desynchronization.
                try await context.query("""
                    UPDATE \(unescaped: repos) SET sync_state = 'synced', desync_reason = NULL, desync_rev = NULL
                     WHERE did = \(did) AND sync_state = 'desynchronized' AND coalesce(desync_rev, '') <= \(rev)
                    """)
            case ATProtoEvents.identity:
                let seq = p["seq"]?.intValue.map(Int64.init)
                try await context.query("""
                    INSERT INTO \(unescaped: repos) AS r (did, host, handle, identity_seq, updated_at) VALUES (\(did), \(host), \(p["handle"]?.stringValue), \(seq), \(at))
                    ON CONFLICT (did) DO UPDATE SET handle = EXCLUDED.handle, identity_seq = EXCLUDED.identity_seq, host = coalesce(EXCLUDED.host, r.host),
                        updated_at = greatest(r.updated_at, EXCLUDED.updated_at)
                     WHERE r.identity_seq IS NULL OR EXCLUDED.identity_seq IS NULL OR r.identity_seq <= EXCLUDED.identity_seq
                    """)
            case ATProtoEvents.repoDesynchronized:
                let failed = p["rev"]?.stringValue
                try await context.query("""
                    INSERT INTO \(unescaped: repos) AS r (did, host, sync_state, desync_reason, desync_rev, updated_at)
                    VALUES (\(did), \(host), 'desynchronized', \(p["reason"]?.stringValue), \(failed), \(at))
                    ON CONFLICT (did) DO UPDATE SET sync_state = 'desynchronized', desync_reason = EXCLUDED.desync_reason,
                        desync_rev = greatest(r.desync_rev, EXCLUDED.desync_rev), host = coalesce(EXCLUDED.host, r.host),
                        updated_at = greatest(r.updated_at, EXCLUDED.updated_at)
                     WHERE EXCLUDED.desync_rev IS NULL OR r.rev < EXCLUDED.desync_rev
                    """)
            case ATProtoEvents.accountStatus:
                let active = p["active"]?.boolValue ?? true
                let seq = p["seq"]?.intValue.map(Int64.init)
                try await context.query("""
                    INSERT INTO \(unescaped: repos) AS r (did, host, active, status, status_seq, updated_at)
                    VALUES (\(did), \(host), \(active), \(p["status"]?.stringValue), \(seq), \(at))
                    ON CONFLICT (did) DO UPDATE SET active = EXCLUDED.active, status = EXCLUDED.status, status_seq = EXCLUDED.status_seq,
                        host = coalesce(EXCLUDED.host, r.host), updated_at = EXCLUDED.updated_at
                     WHERE r.status_seq IS NULL OR EXCLUDED.status_seq IS NULL OR r.status_seq <= EXCLUDED.status_seq
                    """)
            default:
                throw ProjectionError("event \(event.position): unknown atproto event type '\(event.type)'")
            }
            touched.insert(did)
        }
        if !pending.isEmpty { try await flush(&pending, context) }
        // Which repositories hold which collections, recomputed for the repositories this batch touched.
        let dids = touched.sorted()
        guard !dids.isEmpty else { return }
        let collections = context.table("collections")
        try await context.query("DELETE FROM \(unescaped: collections) WHERE did = ANY(\(dids))")
        try await context.query("""
            INSERT INTO \(unescaped: collections) (collection, did, records)
            SELECT collection, did, count(*) FROM \(unescaped: records) WHERE did = ANY(\(dids)) GROUP BY collection, did
            """)
    }

    /// Applies the pending puts: one upsert of records, one of repositories.
    private func flush(_ pending: inout PendingPuts, _ context: ProjectionContext) async throws {
        let puts = pending.puts.values.sorted { ($0.did, $0.collection, $0.rkey) < ($1.did, $1.collection, $1.rkey) }
        try await context.query("""
            INSERT INTO \(unescaped: context.table("records")) AS r (did, collection, rkey, cid, rev, record)
            SELECT d, c, k, i, v, j::jsonb FROM unnest(\(puts.map(\.did)), \(puts.map(\.collection)), \(puts.map(\.rkey)), \(puts.map(\.cid)),
                \(puts.map(\.rev)), \(puts.map(\.record))) AS x(d, c, k, i, v, j)
            ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = EXCLUDED.cid, rev = EXCLUDED.rev, record = EXCLUDED.record
             WHERE r.rev <= EXCLUDED.rev
            """)
        let repos = pending.repos.sorted { $0.key < $1.key }
        try await context.query("""
            INSERT INTO \(unescaped: context.table("repos")) AS r (did, rev, host, updated_at)
            SELECT d, v, CASE WHEN hh THEN h END, a FROM unnest(\(repos.map(\.key)), \(repos.map(\.value.rev)), \(repos.map { $0.value.host ?? "" }),
                \(repos.map { $0.value.host != nil }), \(repos.map(\.value.at))) AS x(d, v, h, hh, a)
            ON CONFLICT (did) DO UPDATE SET rev = greatest(r.rev, EXCLUDED.rev), host = coalesce(EXCLUDED.host, r.host),
                updated_at = greatest(r.updated_at, EXCLUDED.updated_at)
            """)
        pending = PendingPuts()
    }

    /// A host's state: `active` (to crawl), `banned` (requests refused), `removed` (until asked again).
    private func applyHost(_ event: Event, _ p: JSONValue, _ context: ProjectionContext) async throws {
        guard let hostname = p["hostname"]?.stringValue else { throw ProjectionError("event \(event.position) has no 'hostname'") }
        let hosts = context.table("hosts")
        let at = p["at"]?.stringValue.flatMap(RFC3339.parse) ?? event.appendedAt
        let by = p["by"]?.stringValue
        switch event.type {
        case ATProtoEvents.hostRequested:
            try await context.query("""
                INSERT INTO \(unescaped: hosts) AS h (hostname, state, requested_at, requested_by, updated_at) VALUES (\(hostname), 'active', \(at), \(by), \(at))
                ON CONFLICT (hostname) DO UPDATE SET state = 'active', requested_at = EXCLUDED.requested_at, requested_by = EXCLUDED.requested_by,
                    updated_at = EXCLUDED.updated_at
                 WHERE h.state = 'removed'
                """)
        case ATProtoEvents.hostBanned:
            try await context.query("""
                INSERT INTO \(unescaped: hosts) AS h (hostname, state, banned_at, reason, requested_by, updated_at)
                VALUES (\(hostname), 'banned', \(at), \(p["reason"]?.stringValue), \(by), \(at))
                ON CONFLICT (hostname) DO UPDATE SET state = 'banned', banned_at = EXCLUDED.banned_at, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at
                """)
        case ATProtoEvents.hostCursor:
            // Log order decides (a host whose sequence was reset gets the lower number).
            try await context.query("""
                INSERT INTO \(unescaped: hosts) AS h (hostname, state, requested_by, cursor, cursor_at, updated_at)
                VALUES (\(hostname), 'active', 'firehose', \(p["seq"]?.intValue.map(Int64.init)), \(at), \(at))
                ON CONFLICT (hostname) DO UPDATE SET cursor = EXCLUDED.cursor, cursor_at = EXCLUDED.cursor_at
                """)
        case ATProtoEvents.hostRemoved:
            try await context.query("""
                INSERT INTO \(unescaped: hosts) AS h (hostname, state, removals, updated_at) VALUES (\(hostname), 'removed', 1, \(at))
                ON CONFLICT (hostname) DO UPDATE SET state = 'removed', removals = h.removals + 1, banned_at = NULL, reason = NULL,
                    updated_at = EXCLUDED.updated_at
                """)
        default:
            throw ProjectionError("event \(event.position): unknown atproto event type '\(event.type)'")
        }
    }

    private func upsertRepo(_ context: ProjectionContext, _ repos: String, did: String, rev: String, host: String?, at: Date) async throws {
        try await context.query("""
            INSERT INTO \(unescaped: repos) AS r (did, rev, host, updated_at) VALUES (\(did), \(rev), \(host), \(at))
            ON CONFLICT (did) DO UPDATE SET rev = greatest(r.rev, EXCLUDED.rev), host = coalesce(EXCLUDED.host, r.host),
                updated_at = greatest(r.updated_at, EXCLUDED.updated_at)
            """)
    }
}
