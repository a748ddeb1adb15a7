import Foundation
import Synchronization

/// What the long-running sources of a process (a data lake follower, ...) last reported, for
/// `/health`: a source that is down makes the process degraded, with its error as the reason.
public final class SourceHealth: Sendable {
    public struct Status: Sendable, Equatable {
        public var name: String
        public var up: Bool
        /// Where the source stands ("at ledger 1023"), or why it is down.
        public var detail: String
        /// Since when it has been up, or down.
        public var since: Date
    }

    private let state = Mutex<[String: Status]>([:])

    public init() {}

    public func report(_ name: String, up: Bool, detail: String) {
        state.withLock { all in
            let since = all[name].flatMap { $0.up == up ? $0.since : nil } ?? Date()
            all[name] = Status(name: name, up: up, detail: detail, since: since)
        }
    }

    /// Every source, by name.
    public var statuses: [Status] { state.withLock { $0.values.sorted { $0.name < $1.name } } }
}
