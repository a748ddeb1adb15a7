import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import StrataPostgres
import StrataCore

/// An API error: an HTTP status and a JSON body `{"error": code, "message": text}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]
    public var location: InputLocation?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, location: InputLocation? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.location = location
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        // `detail` repeats the message for clients written against PG Atlas (FastAPI's convention).
        var body: [String: JSONValue] = ["error": .string(code), "message": .string(message), "detail": .string(message)]
        if let location {
            var l: [String: JSONValue] = ["source": .string(location.source)]
            if let line = location.line { l["line"] = .int(line) }
            if let column = location.column { l["column"] = .int(column) }
            body["location"] = .object(l)
        }
        var response = JSONResponse.make(.object(body), status: status)
        for field in headers { response.headers.append(field) }
        return response
    }

    /// Maps Strata's errors onto HTTP: bad input 422, unknown things 404, conflicts 409, database 503.
    public static func from(_ error: StrataError) -> APIError {
        let status: HTTPResponse.Status
        switch error.code {
        case .malformedJSON, .invalidEnvelope, .schemaViolation, .unknownEventType, .payloadTooLarge, .invalidInput:
            status = error.code == .payloadTooLarge ? .contentTooLarge : .unprocessableContent
        case .unknownTopic, .notFound: status = .notFound
        case .conflict: status = .conflict
        case .backend, .embeddedDatabase, .timeout: status = .serviceUnavailable
        case .upstream: status = .badGateway
        default: status = .internalServerError
        }
        return APIError(status, error.code.name, error.message, location: error.location)
    }
}

/// Turns any error thrown by a handler into an APIError.
public struct ErrorMappingMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as StrataError {
            throw APIError.from(error)
        } catch let error as HTTPError {
            throw APIError(error.status, "http_error", error.body ?? error.status.reasonPhrase)
        } catch let error as PSQLError {
            throw Self.database(error, context)
        } catch let error as PostgresTransactionError {
            throw Self.database(error, context)
        } catch is NIOTooManyBytesError {
            // A body collected past its limit anywhere (handlers use `jsonBody(limit:)`, which names it).
            throw APIError(.contentTooLarge, "body_too_large", "the request body is larger than this route accepts")
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, "cancelled", "the request was cancelled")
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(.internalServerError, "internal", "internal error")
        }
    }
}

extension ErrorMappingMiddleware {
    /// A database error a handler let through: a data exception (class 22: text PostgreSQL cannot
    /// hold, a value out of range) is the request's fault (422); a broken statement (42, XX) is
    /// ours (500, logged); anything else (connection lost, server shutting down) is 503.
    static func database(_ error: any Error, _ context: Context) -> APIError {
        let state = PostgresErrors.sqlState(error) ?? ""
        if state.hasPrefix("42") || state.hasPrefix("XX") {
            context.logger.error("database error", metadata: ["sqlstate": "\(state)", "error": "\(PostgresErrors.message(error))"])
            return APIError(.internalServerError, "internal", "internal error")
        }
        return APIError.from(PostgresErrors.wrap(error, "the database") as? StrataError ?? StrataError(.backend, "the database failed"))
    }
}

/// JSON responses from JSONValue (canonical, sorted keys).
public enum JSONResponse {
    public static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = JSONWriter.bytes(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
