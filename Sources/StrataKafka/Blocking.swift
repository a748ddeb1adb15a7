import Dispatch

/// Runs a blocking librdkafka call (a flush, a transaction step, a watermark query, a fetch wait) on
/// a Dispatch thread, never on Swift's cooperative pool, and resumes the caller with its result.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Carries a value that is not `Sendable` (C pointers) to the one thread that uses it next.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
