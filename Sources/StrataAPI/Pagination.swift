import Foundation
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import PostgresNIO
import StrataCore

/// Cursor pagination: `limit` (default 100, at most 1000) and an opaque `cursor` holding the sort
/// key of the last row returned. Responses are `{"data": [...], "has_more": bool, "cursor": "..."}`.
public struct PageRequest: Sendable {
    public var limit: Int
    /// The decoded cursor: the sort key values of the last row of the previous page.
    public var after: [JSONValue]?

    public static let defaultLimit = 100
    public static let maximumLimit = 1000

    public init(_ request: Request, scope: String) throws {
        limit = try request.intQuery("limit", default: Self.defaultLimit, range: 1...Self.maximumLimit)!
        if let cursor = request.stringQuery("cursor") {
            after = try Cursor.decode(cursor, scope: scope)
        }
    }
}

/// Opaque cursors: base64url of `[scope, key...]`, so a cursor from one listing is refused by another.
public enum Cursor {
    public static func encode(_ key: [JSONValue], scope: String) -> String {
        let bytes = JSONWriter.bytes(.array([.string(scope)] + key))
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String, scope: String) throws -> [JSONValue] {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let value = try? JSONParser.parse(Array(data)), let items = value.arrayValue,
            items.first?.stringValue == scope
        else {
            throw APIError(.badRequest, "bad_cursor", "the cursor is malformed or belongs to another listing")
        }
        return Array(items.dropFirst())
    }
}

/// A page of rows that PostgreSQL rendered as JSON (`row_to_json`), spliced into the response
/// without re-parsing.
public struct JSONPage: Sendable {
    public var rows: [String]
    public var hasMore: Bool
    public var cursor: String?

    public func response() -> Response {
        var buffer = ByteBuffer()
        buffer.writeString("{\"data\":[")
        for (i, row) in rows.enumerated() {
            if i > 0 { buffer.writeString(",") }
            buffer.writeString(row)
        }
        buffer.writeString("],\"has_more\":\(hasMore)")
        if let cursor { buffer.writeString(",\"cursor\":\"\(cursor)\"") }
        buffer.writeString("}")
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
    }

    /// Runs `query`, which must select `(row_json text, key1, key2...)` ordered by the keys and
    /// limited to `page.limit + 1` rows; `keys` turns a row's key columns into cursor values.
    public static func fetch(
        _ client: PostgresClient, _ query: PostgresQuery, page: PageRequest, scope: String, logger: Logger,
        keys: (PostgresRandomAccessRow) throws -> [JSONValue]
    ) async throws -> JSONPage {
        // Bounded whatever the database does (a connection that died mid-query).
        let limit = page.limit
        let fetched = try await withDeadline(readDeadline, "the query") { () -> [(String, PostgresRandomAccessRow)] in
            var result: [(String, PostgresRandomAccessRow)] = []
            for try await row in try await client.query(query, logger: logger) {
                let random = row.makeRandomAccess()
                result.append((try random[0].decode(String.self), random))
                if result.count > limit { break }
            }
            return result
        }
        var rows: [String] = []
        var lastKey: [JSONValue] = []
        for (json, random) in fetched.prefix(limit) {
            rows.append(json)
            lastKey = try keys(random)
        }
        let hasMore = fetched.count > page.limit
        return JSONPage(rows: rows, hasMore: hasMore, cursor: hasMore ? Cursor.encode(lastKey, scope: scope) : nil)
    }

    /// The first column of the first row, as raw JSON, or nil.
    public static func one(_ client: PostgresClient, _ query: PostgresQuery, logger: Logger) async throws -> String? {
        try await withDeadline(readDeadline, "the query") {
            for try await row in try await client.query(query, logger: logger) {
                return try row.decode(String.self)
            }
            return nil
        }
    }

    /// The longest a read route's query may take.
    public static let readDeadline: Duration = .seconds(15)
}

/// A JSON object response from raw JSON text.
public func rawJSONResponse(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}
