import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import StrataCore
import Synchronization

/// Knows, within about a second, whether the database answers: a `SELECT 1` every `interval`,
/// each with a deadline. While it does not, the API answers 503 at once (`/health` included)
/// instead of letting requests queue for a connection; `strata_database_up` (1 or 0) follows every
/// check, and the outage is logged once when it starts and once when it ends, with its length.
public final class DatabaseProbe: Service, Sendable {
    public struct Status: Sendable, Equatable {
        public var up: Bool
        /// When the current state began.
        public var since: Date
        /// The last failure, while down.
        public var error: String?
    }

    let client: PostgresClient
    let logger: Logger
    public let interval: Duration
    public let timeout: Duration
    private let state: Mutex<Status>

    public init(client: PostgresClient, logger: Logger, interval: Duration = .milliseconds(500), timeout: Duration = .seconds(1)) {
        self.client = client
        self.logger = logger
        self.interval = interval
        self.timeout = timeout
        state = Mutex(Status(up: true, since: Date(), error: nil))
    }

    public var status: Status { state.withLock { $0 } }

    /// Throws the error clients get while the database is down (503 over HTTP).
    public func requireUp() throws {
        let s = status
        guard !s.up else { return }
        throw StrataError(.backend, """
            the database is unavailable (since \(RFC3339.format(s.since))\(s.error.map { ": \($0)" } ?? "")); \
            nothing was read or written, retry later
            """)
    }

    /// One probe: whether the database answered within the timeout.
    @discardableResult
    public func check() async -> Bool {
        let client = self.client
        let logger = self.logger
        do {
            try await withDeadline(timeout, "the database health check") {
                try await client.query("SELECT 1", logger: logger)
            }
            record(up: true, error: nil)
            return true
        } catch is CancellationError {
            return status.up
        } catch {
            record(up: false, error: PostgresErrors.message(error))
            return false
        }
    }

    func record(up: Bool, error: String?) {
        Gauge(label: "strata_database_up").record(up ? 1 : 0)
        let (changed, previous) = state.withLock { s -> (Bool, Status) in
            let old = s
            if s.up != up {
                s = Status(up: up, since: Date(), error: error)
                return (true, old)
            }
            s.error = error
            return (false, old)
        }
        guard changed else { return }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(previous.since))
        if up {
            logger.notice("database available again", metadata: ["outage_seconds": "\(seconds)"])
        } else {
            logger.error("database unavailable", metadata: ["error": "\(error ?? "")"])
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.check()
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
