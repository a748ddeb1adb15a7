import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// Applies one batch of one partition to one generation: the view writes and the checkpoint commit
/// in one transaction, so a crash at any point leaves either the whole batch applied and the
/// checkpoint after it, or neither.
///
/// The checkpoint row is locked and compared with what the caller expects (compare-and-set): if
/// another worker applied events in the meantime (a lease changed hands), nothing is applied twice.
///
/// The transaction commits without waiting for its WAL to reach disk (`synchronous_commit = off`,
/// for this transaction only): a view is derived from the log, whose appends stay synchronous. A
/// database crash can lose the last batches committed this way (PostgreSQL flushes them within
/// about three `wal_writer_delay`s, 600 ms by default), but it loses their view writes and their
/// checkpoint together, so workers apply them again from the log and the view ends the same. Any
/// later synchronous commit (a generation switch, a dead-letter resolution) flushes them first.
/// Under I/O pressure this cut the live latency by about a third: one fsync fewer per batch, and
/// appends no longer queue behind the projections' fsyncs (docs/benchmarks.md).
struct BatchApplier: Sendable {
    let client: PostgresClient
    let projection: any Projection
    let settings: WorkerSettings
    let logger: Logger

    enum Outcome: Equatable {
        /// Applied; the checkpoint is now `next`.
        case applied(next: Int64, parked: Int)
        /// The checkpoint is not where the caller thought: continue from `actual`.
        case moved(actual: Int64)
        /// The generation no longer exists (switched away and dropped, or aborted).
        case gone
        /// The partition is halted by a poison event under the halt policy.
        case halted
    }

    /// Applies `events` (read from the checkpoint `expected`) and moves the checkpoint to `next`:
    /// past the last event, and past any holes after it the read stepped over (a backend without
    /// dense offsets). With no events, only the checkpoint moves (over holes).
    func apply(_ events: [Event], generation: Generation, expected: Int64, next: Int64? = nil, topic: String, partition: Int) async throws -> Outcome {
        let target = max(next ?? expected, events.last.map { $0.offset + 1 } ?? expected)
        guard let first = events.first, let last = events.last else {
            guard target > expected else { return .applied(next: expected, parked: 0) }
            return try await transaction([], generation: generation, expected: expected, next: target, topic: topic, partition: partition, isolatePoison: false)
        }
        // Offsets may have holes (Kafka), so the batch starts at or after the checkpoint; never before.
        guard first.offset >= expected, zip(events, events.dropFirst()).allSatisfy({ $0.offset < $1.offset }) else {
            throw StrataError(.backend, "the log returned offsets \(first.offset)-\(last.offset) out of order for a read from \(expected)")
        }
        do {
            return try await transaction(events, generation: generation, expected: expected, next: target, topic: topic, partition: partition, isolatePoison: false)
        } catch let failure as EventFailure {
            // Something in the batch failed: go event by event to find it, retry it, park it.
            logger.debug("batch failed; applying event by event", metadata: [
                "projection": "\(projection.name)", "offsets": "\(first.offset)-\(last.offset)", "error": "\(failure.message)",
            ])
            return try await transaction(events, generation: generation, expected: expected, next: target, topic: topic, partition: partition, isolatePoison: true)
        }
    }

    private func transaction(
        _ events: [Event], generation: Generation, expected: Int64, next target: Int64, topic: String, partition: Int, isolatePoison: Bool
    ) async throws -> Outcome {
        let name = projection.name
        do {
            return try await client.withTransaction(logger: logger) { conn in
                // `set_config(..., true)` is `SET LOCAL`, in the same round trip as the lock.
                let rows = try await conn.query("""
                    SELECT next_offset, halted_at IS NOT NULL, set_config('synchronous_commit', 'off', true) FROM strata.checkpoints
                     WHERE projection = \(name) AND generation = \(generation.number) AND topic = \(topic) AND partition = \(partition)
                     FOR UPDATE
                    """, logger: logger).decode((Int64, Bool, String).self)
                var checkpoint: (Int64, Bool)?
                for try await (next, halted, _) in rows { checkpoint = (next, halted) }
                guard let (current, halted) = checkpoint else { return .gone }
                if halted { return .halted }
                if current != expected { return .moved(actual: current) }

                let context = ProjectionContext(connection: conn, schema: quoted(generation.schema), generation: generation.number, logger: logger)
                var next = target
                var parked = 0
                if events.isEmpty {
                    // Only holes were read: nothing to apply.
                } else if !isolatePoison {
                    do {
                        try await projection.apply(events, context)
                    } catch {
                        if Self.isEventFailure(error) { throw EventFailure(message: Self.describe(error)) }
                        throw error
                    }
                } else if let halt = try await isolate(events[...], whole: false, generation: generation, context: context, parked: &parked) {
                    next = halt.offset
                    try await conn.query("""
                        UPDATE strata.checkpoints SET next_offset = \(next), updated_at = now(), halted_at = now(),
                               halted_reason = \("offset \(halt.offset): \(halt.error)")
                         WHERE projection = \(name) AND generation = \(generation.number) AND topic = \(topic) AND partition = \(partition)
                        """, logger: logger)
                    return .applied(next: next, parked: parked)
                }
                try await conn.query("""
                    UPDATE strata.checkpoints SET next_offset = \(next), updated_at = now()
                     WHERE projection = \(name) AND generation = \(generation.number) AND topic = \(topic) AND partition = \(partition)
                    """, logger: logger)
                return .applied(next: next, parked: parked)
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? EventFailure { throw inner }
            throw error
        }
    }

    /// Finds the failing events of a batch that failed: applies halves under savepoints, halving
    /// again where one fails, until a failing event is alone; it is retried and parked. A poison
    /// event in a batch of n costs about 2·log2(n) attempts, not n. Returns where (and why) the
    /// partition halts under the halt policy, nil otherwise.
    private func isolate(
        _ events: ArraySlice<Event>, whole: Bool, generation: Generation, context: ProjectionContext, parked: inout Int
    ) async throws -> (offset: Int64, error: String)? {
        guard events.count > 1 else {
            let event = events[events.startIndex]
            guard let error = try await applyIsolated(event, context: context) else { return nil }
            try await park(event, generation: generation, error: error, conn: context.connection)
            parked += 1
            return projection.poisonPolicy == .halt ? (event.offset, error) : nil
        }
        if whole {
            try await context.execute("SAVEPOINT strata_range")
            do {
                try await projection.apply(Array(events), context)
                try await context.execute("RELEASE SAVEPOINT strata_range")
                return nil
            } catch {
                guard Self.isEventFailure(error) else { throw error }
                try await context.execute("ROLLBACK TO SAVEPOINT strata_range")
                try await context.execute("RELEASE SAVEPOINT strata_range")
            }
        }
        let middle = events.startIndex + events.count / 2
        if let halt = try await isolate(events[..<middle], whole: true, generation: generation, context: context, parked: &parked) {
            return halt
        }
        return try await isolate(events[middle...], whole: true, generation: generation, context: context, parked: &parked)
    }

    /// Applies one event under a savepoint, retrying with backoff; returns the last error if it
    /// never succeeded.
    private func applyIsolated(_ event: Event, context: ProjectionContext) async throws -> String? {
        var lastError = ""
        for attempt in 1...settings.maxAttempts {
            try await context.execute("SAVEPOINT strata_event")
            do {
                try await projection.apply([event], context)
                try await context.execute("RELEASE SAVEPOINT strata_event")
                return nil
            } catch {
                guard Self.isEventFailure(error) else { throw error }
                try await context.execute("ROLLBACK TO SAVEPOINT strata_event")
                lastError = Self.describe(error)
                logger.warning("event failed", metadata: [
                    "projection": "\(projection.name)", "event": "\(event.position)", "attempt": "\(attempt)", "error": "\(lastError)",
                ])
                if attempt < settings.maxAttempts {
                    try await Task.sleep(for: settings.retryBackoff * (1 << (attempt - 1)))
                }
            }
        }
        return lastError
    }

    private func park(_ event: Event, generation: Generation, error: String, conn: PostgresConnection) async throws {
        try await conn.query("""
            INSERT INTO strata.dead_letters (projection, generation, topic, partition, log_offset, event_id, event_type, error, attempts)
            VALUES (\(projection.name), \(generation.number), \(event.topic), \(event.partition), \(event.offset), \(event.id),
                    \(event.type), \(error), \(settings.maxAttempts))
            ON CONFLICT (projection, generation, topic, partition, log_offset)
            DO UPDATE SET error = EXCLUDED.error, attempts = strata.dead_letters.attempts + EXCLUDED.attempts,
                          status = \(DeadLetters.Status.parked.rawValue), parked_at = now(), resolved_at = NULL
            """, logger: logger)
        logger.error("parked a poison event", metadata: [
            "projection": "\(projection.name)", "event": "\(event.position)", "policy": "\(projection.poisonPolicy.rawValue)", "error": "\(error)",
        ])
    }

    /// Errors that are about the event (the projection refused it, or the database rejected what it
    /// wrote) as opposed to the infrastructure (a lost connection), which must not park events.
    static func isEventFailure(_ error: any Error) -> Bool {
        switch error {
        case is ProjectionError, is StrataError, is DecodingError: return true
        case let e as PSQLError:
            guard let state = e.serverInfo?[.sqlState] else { return false }
            // 08 connection, 53 resources, 57 operator intervention (shutdown), 58 system.
            return !["08", "53", "57", "58"].contains(String(state.prefix(2)))
        default: return false
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? ProjectionError { return e.message }
        return PostgresErrors.message(error)
    }
}

struct EventFailure: Error {
    var message: String
}
