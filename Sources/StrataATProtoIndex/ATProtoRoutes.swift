import Foundation
import Hummingbird
import Logging
import PostgresNIO
import StrataAPI
import StrataATProto
import StrataCore
import StrataPostgres

/// `GET /xrpc/com.atproto.sync.listReposByCollection` (the lexicon's parameters, output and error
/// names), `GET /v1/atproto/repos/{did}` and `GET /v1/atproto/repos/{did}/records`.
public struct ATProtoRoutes: APIRoutes {
    public init() {}

    public func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger
        /// A query of the atproto view: 503 naming what to run while the view does not exist yet.
        @Sendable func view<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            do {
                return try await body()
            } catch where PostgresErrors.isMissingView(error) {
                throw APIError(.serviceUnavailable, "atproto_projection_missing",
                    "the atproto projection has no view yet: run `strata work` (or serve) with the atproto topic")
            }
        }

        JetstreamRoutes.registerSSE(on: router, log: deps.log)

        router.get("/xrpc/com.atproto.sync.listReposByCollection") { request, _ -> Response in
            guard let collection = request.stringQuery("collection") else {
                throw APIError(.badRequest, "InvalidRequest", "Error: Params must have the property \"collection\"")
            }
            guard Syntax.isValidNSID(collection) else {
                throw APIError(.badRequest, "InvalidRequest", "Error: collection must be a valid nsid, got '\(collection.prefix(320))'")
            }
            let limit: Int
            do {
                limit = try request.intQuery("limit", default: 500, range: 1...2000)!
            } catch let error as APIError {
                throw APIError(.badRequest, "InvalidRequest", error.message)
            }
            let cursor = request.stringQuery("cursor") ?? ""
            let dids = try await view {
                try await withDeadline(JSONPage.readDeadline, "the query") {
                    var out: [String] = []
                    for try await row in try await db.query("""
                        SELECT c.did FROM atproto.collections c JOIN atproto.repos r ON r.did = c.did
                         WHERE c.collection = \(collection) AND r.active AND c.did > \(cursor) ORDER BY c.did LIMIT \(limit + 1)
                        """, logger: logger)
                    { out.append(try row.decode(String.self)) }
                    return out
                }
            }
            var body: [String: JSONValue] = ["repos": .array(dids.prefix(limit).map { .object(["did": .string($0)]) })]
            if dids.count > limit, let last = dids.prefix(limit).last { body["cursor"] = .string(last) }
            return JSONResponse.make(.object(body))
        }

        /// The host's state and removal count, or nil when unknown.
        @Sendable func host(_ hostname: String) async throws -> (state: String, removals: Int)? {
            try await view {
                try await withDeadline(JSONPage.readDeadline, "the query") { () -> (state: String, removals: Int)? in
                    for try await (state, removals) in try await db.query("SELECT state, removals FROM atproto.hosts WHERE hostname = \(hostname)", logger: logger)
                        .decode((String, Int).self) { return (state, removals) }
                    return nil
                }
            }
        }
        @Sendable func hostname(_ request: inout Request) async throws -> String {
            let body = try await request.jsonBody(limit: 4096)
            guard let value = try? JSONParser.parse(body), let raw = value["hostname"]?.stringValue else {
                throw APIError(.badRequest, "InvalidRequest", "Error: Input must have the property \"hostname\"")
            }
            do { return try CrawlHostname.normalize(raw) } catch { throw APIError(.badRequest, "InvalidRequest", "Error: \(error.message)") }
        }
        /// Asks for a crawl: nothing appended when the host is already listed; refused when banned.
        @Sendable func askForCrawl(_ name: String, by: String) async throws {
            let known = try await host(name)
            if known?.state == "banned" { throw APIError(.badRequest, "HostBanned", "Error: \(name) is banned from crawling") }
            if known?.state == "active" { return }
            _ = try await deps.append([ATProtoEvents.hostDraft(ATProtoEvents.hostRequested, hostname: name, removals: known?.removals ?? 0, by: by,
                at: Date(), source: "http")])
        }

        router.post("/xrpc/com.atproto.sync.requestCrawl") { request, _ -> Response in
            var request = request
            try await askForCrawl(try await hostname(&request), by: "requestCrawl")
            return rawJSONResponse("{}")
        }

        router.get("/v1/atproto/hosts") { request, _ -> Response in
            let state = request.stringQuery("state")
            if let state, !["active", "banned", "removed"].contains(state) {
                throw APIError(.badRequest, "bad_state", "state must be active, banned or removed, got '\(state.prefix(40))'")
            }
            return try await view {
                let json = try await JSONPage.one(db, """
                    SELECT json_build_object('hosts', coalesce(json_agg(json_build_object('hostname', h.hostname, 'state', h.state,
                        'requested_at', h.requested_at, 'requested_by', h.requested_by, 'banned_at', h.banned_at, 'reason', h.reason,
                        'removals', h.removals, 'cursor', h.cursor, 'cursor_at', h.cursor_at, 'updated_at', h.updated_at) ORDER BY h.hostname), '[]'::json))::text
                      FROM atproto.hosts h WHERE \(state)::text IS NULL OR h.state = \(state)
                    """, logger: logger)
                return rawJSONResponse(json ?? #"{"hosts":[]}"#)
            }
        }

        router.post("/v1/atproto/hosts") { request, _ -> Response in
            try request.requireWriteToken(deps)
            var request = request
            let name = try await hostname(&request)
            let known = try await host(name)
            if known?.state == "banned" { throw APIError(.conflict, "host_banned", "\(name) is banned: remove it first") }
            try await askForCrawl(name, by: request.stringQuery("by") ?? "api")
            return JSONResponse.make(["message": "listed", "hostname": .string(name)], status: .accepted)
        }

        router.post("/v1/atproto/hosts/:hostname/ban") { request, context -> Response in
            try request.requireWriteToken(deps)
            let raw = try context.parameters.require("hostname")
            let name: String
            do { name = try CrawlHostname.normalize(raw) } catch let error as ATProtoError { throw APIError(.badRequest, "bad_hostname", error.message) }
            var request = request
            let reason = (try? JSONParser.parse(try await request.jsonBody(limit: 4096)))?["reason"]?.stringValue
            let removals = try await host(name)?.removals ?? 0
            _ = try await deps.append([ATProtoEvents.hostDraft(ATProtoEvents.hostBanned, hostname: name, removals: removals,
                by: request.stringQuery("by") ?? "api", reason: reason, at: Date(), source: "http")])
            return JSONResponse.make(["message": "banned", "hostname": .string(name)], status: .accepted)
        }

        router.delete("/v1/atproto/hosts/:hostname") { request, context -> Response in
            try request.requireWriteToken(deps)
            let raw = try context.parameters.require("hostname")
            let name: String
            do { name = try CrawlHostname.normalize(raw) } catch let error as ATProtoError { throw APIError(.badRequest, "bad_hostname", error.message) }
            guard let known = try await host(name), known.state != "removed" else { throw APIError.notFound("no host '\(name)' is listed") }
            _ = try await deps.append([ATProtoEvents.hostDraft(ATProtoEvents.hostRemoved, hostname: name, removals: known.removals,
                by: request.stringQuery("by") ?? "api", at: Date(), source: "http")])
            return JSONResponse.make(["message": "removed", "hostname": .string(name)], status: .accepted)
        }

        router.get("/v1/atproto/repos/:did") { _, context -> Response in
            let did = try context.parameters.require("did")
            guard Syntax.isValidDID(did) else { throw APIError(.badRequest, "bad_did", "'\(did.prefix(200))' is not a DID") }
            let json = try await view {
                try await JSONPage.one(db, """
                    SELECT json_build_object('did', r.did, 'rev', r.rev, 'active', r.active, 'status', r.status, 'host', r.host,
                        'commit', r.commit_cid, 'data', r.data_cid, 'synced_at', r.synced_at, 'updated_at', r.updated_at,
                        'sync', r.sync_state, 'desync_reason', r.desync_reason, 'desync_rev', r.desync_rev, 'handle', r.handle,
                        'collections', coalesce((SELECT json_agg(json_build_object('collection', c.collection, 'records', c.records) ORDER BY c.collection)
                                                   FROM atproto.collections c WHERE c.did = r.did), '[]'::json))::text
                      FROM atproto.repos r WHERE r.did = \(did)
                    """, logger: logger)
            }
            guard let json else { throw APIError.notFound("no repository '\(did)' is indexed") }
            return rawJSONResponse(json)
        }

        router.get("/v1/atproto/repos/:did/records") { request, context -> Response in
            let did = try context.parameters.require("did")
            guard Syntax.isValidDID(did) else { throw APIError(.badRequest, "bad_did", "'\(did.prefix(200))' is not a DID") }
            let collection = request.stringQuery("collection")
            if let collection, !Syntax.isValidNSID(collection) {
                throw APIError(.badRequest, "bad_collection", "'\(collection.prefix(320))' is not an NSID")
            }
            let page = try PageRequest(request, scope: "atproto_records")
            let after = page.after ?? []
            let afterCollection = after.first?.stringValue ?? ""
            let afterKey = after.dropFirst().first?.stringValue ?? ""
            return try await view {
                try await JSONPage.fetch(db, """
                    SELECT json_build_object('collection', x.collection, 'rkey', x.rkey, 'cid', x.cid, 'rev', x.rev, 'record', x.record)::text,
                           x.collection, x.rkey
                      FROM atproto.records x
                     WHERE x.did = \(did) AND (\(collection)::text IS NULL OR x.collection = \(collection))
                       AND (x.collection, x.rkey) > (\(afterCollection)::text COLLATE "C", \(afterKey)::text COLLATE "C")
                     ORDER BY x.collection, x.rkey LIMIT \(page.limit + 1)
                    """, page: page, scope: "atproto_records", logger: logger) {
                    [.string(try $0[1].decode(String.self)), .string(try $0[2].decode(String.self))]
                }.response()
            }
        }
    }
}
