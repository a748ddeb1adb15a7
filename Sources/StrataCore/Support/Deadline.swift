import Foundation
import Synchronization

/// Every wait has a deadline. `withDeadline` runs an operation and gives up on it after `limit`:
/// the operation's task is cancelled and the caller gets a `StrataError(.timeout)` naming what
/// timed out, at once — even if the operation ignores cancellation (a connection that died without
/// telling its reader), so no caller can hang on it. An operation given up on finishes (or not) on
/// its own; its result is dropped. When the operation finishes first, its timer is cancelled.
@discardableResult
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: @autoclosure () -> String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let description = what()
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if race.finish(.failure(StrataError(.timeout, "\(description) did not complete within \(limit)"))) { work.cancel() }
            }
            race.install(continuation, work: work, timer: timer)
        }
    } onCancel: {
        race.cancel()
    }
}

/// Whichever of the operation, the timer or the caller's cancellation comes first resumes the
/// caller, once; then the timer is cancelled (and on the caller's cancellation, the operation).
final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        /// An outcome decided before the continuation was installed.
        var early: Result<T, any Error>?
        var done = false
        var cancelled = false
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
        let (early, cancelled) = state.withLock { s -> (Result<T, any Error>?, Bool) in
            if s.early == nil {
                s.continuation = continuation
                s.work = work
                s.timer = timer
            }
            defer { s.early = nil }
            return (s.early, s.cancelled)
        }
        if cancelled { work.cancel() }
        if let early {
            timer.cancel()
            continuation.resume(with: early)
        }
    }

    func cancel() {
        let work = state.withLock { s -> Task<Void, Never>? in
            s.cancelled = true
            return s.work
        }
        work?.cancel()
        finish(.failure(CancellationError()))
    }

    /// Returns whether this call decided the outcome.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (decided, continuation, timer) = state.withLock { s -> (Bool, CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            guard !s.done else { return (false, nil, nil) }
            s.done = true
            guard let c = s.continuation else {
                s.early = result
                return (true, nil, nil)
            }
            s.continuation = nil
            return (true, c, s.timer)
        }
        timer?.cancel()
        continuation?.resume(with: result)
        return decided
    }
}
