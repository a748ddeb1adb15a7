import Foundation
import StrataCore

/// Runs the built `strata` executable, as a user would.
public enum CLIRunner {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The `strata` binary beside the test bundle (`swift build` / `swift test` build both).
    public static var executable: URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("strata")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return TestEnvironment.repositoryRoot.appendingPathComponent(".build/debug/strata")
    }

    /// No CLI call of the suite takes this long; one that does is killed and fails the test.
    public static let deadline = Duration.seconds(600)

    /// Waits for the process on a Dispatch thread: the suite's tests share two cooperative threads,
    /// and a CLI call blocking one of them for seconds stalls every other test's async work (a
    /// projection's open transaction among them).
    public static func run(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) async throws -> Output {
        let (path, root) = (executable.path, TestEnvironment.repositoryRoot.path)
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SpawnedProcess.Output, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try SpawnedProcess.run(path, arguments, environment: env, directory: root, input: Data(stdin.utf8), timeout: deadline) })
            }
        }
        return Output(status: output.status.shellStatus, stdout: String(decoding: output.stdout, as: UTF8.self),
            stderr: String(decoding: output.stderr, as: UTF8.self))
    }
}
