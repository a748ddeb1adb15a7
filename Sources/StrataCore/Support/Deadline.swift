import Foundation
import Synchronization

/// Every wait has a deadline. `withDeadline` runs an operation and gives up on it after `limit`:
/// the operation's task is cancelled and the caller gets a `StrataError(.backend)` naming what
/// timed out (code `.timeout`), at once — even if the operation ignores cancellation (a connection that died without
/// telling its reader), so no caller can hang on it. An operation given up on finishes (or not) on
/// its own; its result is dropped.
@discardableResult
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: @autoclosure () -> String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let description = what()
    let race = DeadlineRace<T>()
    let work = Task { try await operation() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.install(continuation)
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await work.value) } catch { result = .failure(error) }
                race.finish(result)
            }
            Task {
                try? await Task.sleep(for: limit)
                if race.finish(.failure(StrataError(.timeout, "\(description) did not complete within \(limit)"))) {
                    work.cancel()
                }
            }
        }
    } onCancel: {
        work.cancel()
        race.finish(.failure(CancellationError()))
    }
}

/// Whichever of the operation, the timer or cancellation finishes first resumes the caller.
final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?, done: Bool)>((nil, nil, false))

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { s in
            if let early = s.early {
                s.early = nil
                return early
            }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Returns whether this call decided the outcome.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (decided, continuation) = state.withLock { s -> (Bool, CheckedContinuation<T, any Error>?) in
            guard !s.done else { return (false, nil) }
            s.done = true
            guard let c = s.continuation else {
                s.early = result
                return (true, nil)
            }
            s.continuation = nil
            return (true, c)
        }
        continuation?.resume(with: result)
        return decided
    }
}
