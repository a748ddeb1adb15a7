import Foundation
import Hummingbird
import Logging
import PostgresNIO
import StrataAPI
import StrataATProto
import StrataCore

/// `GET /xrpc/com.atproto.sync.listReposByCollection` (the lexicon's parameters, output and error
/// names), `GET /v1/atproto/repos/{did}` and `GET /v1/atproto/repos/{did}/records`.
public struct ATProtoRoutes: APIRoutes {
    public init() {}

    public func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger
        @Sendable func missing(_ error: PSQLError) -> APIError? {
            guard error.serverInfo?[.sqlState] == "42P01" || error.serverInfo?[.sqlState] == "3F000" else { return nil }
            return APIError(.serviceUnavailable, "atproto_projection_missing",
                "the atproto projection has no view yet: run `strata work` (or serve) with the atproto topic")
        }

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
            var dids: [String] = []
            do {
                dids = try await withDeadline(JSONPage.readDeadline, "the query") {
                    var out: [String] = []
                    for try await row in try await db.query("""
                        SELECT c.did FROM atproto.collections c JOIN atproto.repos r ON r.did = c.did
                         WHERE c.collection = \(collection) AND r.active AND c.did > \(cursor) ORDER BY c.did LIMIT \(limit + 1)
                        """, logger: logger)
                    { out.append(try row.decode(String.self)) }
                    return out
                }
            } catch let error as PSQLError {
                throw missing(error) ?? error
            }
            var body: [String: JSONValue] = ["repos": .array(dids.prefix(limit).map { .object(["did": .string($0)]) })]
            if dids.count > limit, let last = dids.prefix(limit).last { body["cursor"] = .string(last) }
            return JSONResponse.make(.object(body))
        }

        router.get("/v1/atproto/repos/:did") { _, context -> Response in
            let did = try context.parameters.require("did")
            guard Syntax.isValidDID(did) else { throw APIError(.badRequest, "bad_did", "'\(did.prefix(200))' is not a DID") }
            let json: String?
            do {
                json = try await JSONPage.one(db, """
                    SELECT json_build_object('did', r.did, 'rev', r.rev, 'active', r.active, 'status', r.status, 'host', r.host,
                        'commit', r.commit_cid, 'data', r.data_cid, 'synced_at', r.synced_at, 'updated_at', r.updated_at,
                        'collections', coalesce((SELECT json_agg(json_build_object('collection', c.collection, 'records', c.records) ORDER BY c.collection)
                                                   FROM atproto.collections c WHERE c.did = r.did), '[]'::json))::text
                      FROM atproto.repos r WHERE r.did = \(did)
                    """, logger: logger)
            } catch let error as PSQLError {
                throw missing(error) ?? error
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
            do {
                return try await JSONPage.fetch(db, """
                    SELECT json_build_object('collection', x.collection, 'rkey', x.rkey, 'cid', x.cid, 'rev', x.rev, 'record', x.record)::text,
                           x.collection, x.rkey
                      FROM atproto.records x
                     WHERE x.did = \(did) AND (\(collection)::text IS NULL OR x.collection = \(collection))
                       AND (x.collection, x.rkey) > (\(afterCollection)::text COLLATE "C", \(afterKey)::text COLLATE "C")
                     ORDER BY x.collection, x.rkey LIMIT \(page.limit + 1)
                    """, page: page, scope: "atproto_records", logger: logger) {
                    [.string(try $0[1].decode(String.self)), .string(try $0[2].decode(String.self))]
                }.response()
            } catch let error as PSQLError {
                throw missing(error) ?? error
            }
        }
    }
}
