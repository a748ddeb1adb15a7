import PostgresNIO
import StrataCore

/// SQLSTATE handling for errors that come out of postgres-nio, possibly wrapped in a transaction error.
public enum PostgresErrors {
    public static func sqlState(_ error: any Error) -> String? {
        if let e = error as? PSQLError { return e.serverInfo?[.sqlState] }
        if let t = error as? PostgresTransactionError {
            if let inner = t.closureError { return sqlState(inner) }
            if let inner = t.commitError { return sqlState(inner) }
            if let inner = t.beginError { return sqlState(inner) }
        }
        return nil
    }

    /// Whether the error says a projection's view is not there yet (undefined table or schema).
    public static func isMissingView(_ error: any Error) -> Bool {
        let state = sqlState(error)
        return state == "42P01" || state == "3F000"
    }

    public static func message(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let m = e.serverInfo?[.message] {
                let detail = e.serverInfo?[.detail].map { " (\($0))" } ?? ""
                return m + detail
            }
            return "\(e.code)"
        }
        if let t = error as? PostgresTransactionError {
            if let inner = t.closureError { return message(inner) }
            if let inner = t.commitError { return message(inner) }
            if let inner = t.beginError { return message(inner) }
        }
        if let s = error as? StrataError { return s.message }
        return "\(error)"
    }

    /// The server's primary message alone (no detail), if the error came from the server.
    public static func primaryMessage(_ error: any Error) -> String? {
        if let e = error as? PSQLError { return e.serverInfo?[.message] }
        if let t = error as? PostgresTransactionError {
            return [t.closureError, t.commitError, t.beginError].lazy.compactMap { $0.flatMap(primaryMessage) }.first
        }
        return nil
    }

    public static func isUniqueViolation(_ error: any Error) -> Bool { sqlState(error) == "23505" }
    /// Deadlock or serialization failure: the transaction can simply be retried.
    public static func isRetryable(_ error: any Error) -> Bool { ["40P01", "40001"].contains(sqlState(error) ?? "") }

    /// Passes StrataErrors through; wraps everything else as a backend error with the server's message.
    public static func wrap(_ error: any Error, _ what: String) -> any Error {
        if let s = error as? StrataError { return s }
        if let t = error as? PostgresTransactionError, let inner = t.closureError as? StrataError { return inner }
        if error is CancellationError { return error }
        // Class 22 (data exception: bad encoding, a value out of range, text PostgreSQL cannot hold)
        // is the input's fault, not the database's: clients must not retry it as an outage.
        if let state = sqlState(error), state.hasPrefix("22") {
            return StrataError(.invalidInput, "\(what): \(message(error))")
        }
        return StrataError(.backend, "\(what): \(message(error))")
    }
}
