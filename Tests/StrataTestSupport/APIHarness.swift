import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StrataAPI
import StrataApp
import StrataCore
import StrataProjections

/// Drives the API in-process (Hummingbird's router test client) against a fresh database.
public enum APIHarness {
    public static let token = "test-token"

    public static func withAPI<T: Sendable>(
        routes: [any APIRoutes] = RouteRegistry.all(), _ body: @Sendable (StrataContext, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        try await TestEnvironment.withStrata { strata in
            try await strata.registerProjections(ProjectionRegistry.all())
            let router = buildRouter(strata.apiDependencies(writeToken: token, metrics: false), routes: routes)
            let app = Application(router: router, logger: strata.logger)
            return try await app.test(.router) { client in try await body(strata, client) }
        }
    }
}

extension TestClientProtocol {
    /// GETs `uri` and parses the JSON body.
    public func json(_ uri: String, method: HTTPRequest.Method = .get, headers: HTTPFields = [:], body: String? = nil)
        async throws -> (status: HTTPResponse.Status, json: JSONValue)
    {
        let response = try await executeRequest(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let bytes = Array(response.body.readableBytesView)
        let value = bytes.isEmpty ? JSONValue.null : ((try? JSONParser.parse(bytes)) ?? .string(String(decoding: bytes, as: UTF8.self)))
        return (response.status, value)
    }
}
