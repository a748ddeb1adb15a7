import StrataCore

/// Group commit for small appends to one partition.
///
/// Appends to a partition serialize on its row lock until commit, so concurrent single-event
/// producers would each wait a full commit (a WAL flush) in turn. Instead, while one append to a
/// partition is in flight, later ones queue; when it commits, the first queued caller becomes the
/// leader and appends everything queued in one transaction. Each caller's events stay contiguous
/// and atomic; if a merged append fails, each caller's batch is retried on its own, so one bad
/// batch cannot fail the others.
actor AppendCoalescer {
    typealias Flush = @Sendable ([PreparedEvent]) async throws -> [AppendReceipt]

    private final class Pending: Sendable {
        let events: [PreparedEvent]
        let continuation: CheckedContinuation<Wake, Never>
        init(events: [PreparedEvent], continuation: CheckedContinuation<Wake, Never>) {
            self.events = events
            self.continuation = continuation
        }
    }

    private enum Wake: Sendable {
        case done(Result<[AppendReceipt], any Error>)
        case lead([Pending])
    }

    private var inFlight: Set<PartitionKey> = []
    private var queues: [PartitionKey: [Pending]] = [:]

    func append(_ events: [PreparedEvent], to key: PartitionKey, flush: Flush) async throws -> [AppendReceipt] {
        var group: [Pending]?
        if inFlight.contains(key) {
            let wake = await withCheckedContinuation { continuation in
                queues[key, default: []].append(Pending(events: events, continuation: continuation))
            }
            switch wake {
            case .done(let result): return try result.get()
            case .lead(let members): group = members
            }
        } else {
            inFlight.insert(key)
        }
        // Leading: append our events (and the queued members'), then hand over.
        let own: Result<[AppendReceipt], any Error>
        if let members = group {
            let results = await flushGroup(members.map(\.events), flush: flush)
            own = results[0]
            for (member, result) in zip(members.dropFirst(), results.dropFirst()) {
                member.continuation.resume(returning: .done(result))
            }
        } else {
            own = await flushGroup([events], flush: flush)[0]
        }
        if let next = queues.removeValue(forKey: key), let leader = next.first {
            // The leader's own Pending is first in its group; it resumes the others when done.
            leader.continuation.resume(returning: .lead(next))
        } else {
            inFlight.remove(key)
        }
        return try own.get()
    }

    /// Appends the batches as one, or one by one if that fails.
    private func flushGroup(_ batches: [[PreparedEvent]], flush: Flush) async -> [Result<[AppendReceipt], any Error>] {
        if batches.count == 1 {
            do { return [.success(try await flush(batches[0]))] } catch { return [.failure(error)] }
        }
        do {
            let receipts = try await flush(batches.flatMap { $0 })
            var results: [Result<[AppendReceipt], any Error>] = []
            var start = 0
            for batch in batches {
                results.append(.success(Array(receipts[start..<(start + batch.count)])))
                start += batch.count
            }
            return results
        } catch {
            var results: [Result<[AppendReceipt], any Error>] = []
            for batch in batches {
                do { results.append(.success(try await flush(batch))) } catch { results.append(.failure(error)) }
            }
            return results
        }
    }
}
