import Foundation
import PostgresNIO
import StrataCore

/// A `postgres://user:password@host:port/database?sslmode=...` URL turned into a client configuration.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: String

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme)
        else {
            throw StrataError(.invalidConfiguration, "database URL must look like postgres://user:password@host:5432/database, got '\(Self.redact(text))'")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StrataError(.invalidConfiguration, "database URL has no host: '\(Self.redact(text))'")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? self.user : path
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard ["disable", "prefer", "require"].contains(mode) else {
            throw StrataError(.invalidConfiguration, "unsupported sslmode '\(mode)' (use disable, prefer or require)")
        }
        self.sslMode = mode
    }

    /// The URL with the password hidden, for logs and errors.
    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    static func redact(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let colon = text[..<at].lastIndex(of: ":"),
            text[..<colon].contains("//")
        else { return text }
        let schemeEnd = text.range(of: "//")!.upperBound
        if colon < schemeEnd { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    public func clientConfiguration(maximumConnections: Int = 20) throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "require": tls = .require(.makeClientConfiguration())
        case "prefer": tls = .prefer(.makeClientConfiguration())
        default: tls = .disable
        }
        var config = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        config.options.maximumConnections = maximumConnections
        config.options.minimumConnections = 0
        config.options.connectTimeout = .seconds(10)
        // Strata's statements are short; PostgreSQL's JIT compiles expressions once a plan's estimated
        // cost passes jit_above_cost, which for a 50,000-event log read took longer (~10 ms) than the
        // read itself. Off for Strata's sessions only.
        config.options.additionalStartupParameters = [("jit", "off")]
        return config
    }
}
