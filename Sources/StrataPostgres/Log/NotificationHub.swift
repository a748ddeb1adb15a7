/// A partition of a topic.
struct PartitionKey: Hashable, Sendable {
    var topic: String
    var partition: Int
}

/// Fans the log's append notifications out to readers waiting for a partition to grow.
actor NotificationHub {
    struct Waiter: Hashable, Sendable {
        let id: Int
        let key: PartitionKey
        let offset: Int64
    }

    private(set) var isListening = false
    private var nextID = 0
    /// The highest end offset announced per partition since listening began.
    private var announced: [PartitionKey: Int64] = [:]
    private var pending: [Int: (waiter: Waiter, continuation: CheckedContinuation<Bool, Never>?)] = [:]
    /// Waiters woken before they started waiting.
    private var woken: Set<Int> = []

    func setListening(_ listening: Bool) {
        isListening = listening
        if !listening {
            announced.removeAll()
            // Notifications may be lost while disconnected: wake everyone to re-read.
            for (id, entry) in pending {
                if let c = entry.continuation { c.resume(returning: true) } else { woken.insert(id) }
            }
            pending.removeAll()
        }
    }

    func register(_ key: PartitionKey, beyond offset: Int64) -> Waiter {
        nextID += 1
        let waiter = Waiter(id: nextID, key: key, offset: offset)
        if let end = announced[key], end > offset {
            woken.insert(waiter.id)
        } else {
            pending[waiter.id] = (waiter, nil)
        }
        return waiter
    }

    func cancel(_ waiter: Waiter) {
        woken.remove(waiter.id)
        if let entry = pending.removeValue(forKey: waiter.id) { entry.continuation?.resume(returning: false) }
    }

    /// Suspends until the waiter's partition grows beyond its offset, or the timeout passes.
    nonisolated func wait(_ waiter: Waiter, timeout: Duration) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { await self.suspend(waiter) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            let outcome: Result<Bool, any Error>
            do {
                outcome = .success(try await group.next() ?? false)
            } catch {
                outcome = .failure(error)
            }
            group.cancelAll()
            // Resumes the suspended child if it is still waiting, so the group can finish.
            await self.cancel(waiter)
            return try outcome.get()
        }
    }

    private func suspend(_ waiter: Waiter) async -> Bool {
        if woken.remove(waiter.id) != nil { return true }
        guard pending[waiter.id] != nil else { return false }
        return await withCheckedContinuation { continuation in
            pending[waiter.id] = (waiter, continuation)
        }
    }

    func notify(_ key: PartitionKey, end: Int64) {
        if end > announced[key, default: -1] { announced[key] = end }
        for (id, entry) in pending where entry.waiter.key == key && end > entry.waiter.offset {
            pending.removeValue(forKey: id)
            if let c = entry.continuation { c.resume(returning: true) } else { woken.insert(id) }
        }
    }

    /// `topic|partition|endOffset`
    static func parse(_ payload: String) -> (PartitionKey, Int64)? {
        let parts = payload.split(separator: "|")
        guard parts.count == 3, let p = Int(parts[1]), let end = Int64(parts[2]) else { return nil }
        return (PartitionKey(topic: String(parts[0]), partition: p), end)
    }
}
