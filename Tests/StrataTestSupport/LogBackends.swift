import Foundation
import StrataApp
import StrataCore

/// The log backends the contract tests run against. Each test is written once, against
/// `EventLog` and `EventProducer`, and runs once per backend.
public enum LogBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case postgres

    public var description: String { rawValue }

    /// A fresh, empty log with the repository's topology (or `topology`) declared.
    public func withLog<T: Sendable>(
        topology: Topology? = nil, _ body: @Sendable (any EventLog, EventProducer) async throws -> T
    ) async throws -> T {
        switch self {
        case .postgres:
            return try await TestEnvironment.withStrata(topology: topology) { strata in
                try await body(strata.log, strata.producer)
            }
        }
    }
}

/// A demo event for tests.
public func demoDraft(key: String, amount: Int = 1, note: String? = nil, id: String? = nil, topic: String = "demo") -> EventDraft {
    var payload: [String: JSONValue] = ["amount": .int(amount)]
    if let note { payload["note"] = .string(note) }
    return EventDraft(topic: topic, key: key, type: "demo.event", id: id, source: "test", payload: .object(payload))
}
