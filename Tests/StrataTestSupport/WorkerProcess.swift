import Foundation

/// A `strata work` process, started and killed like an operator (or a crash) would.
public final class WorkerProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched from the creating test task; Process itself is
    // thread-safe for terminate/isRunning.
    let process = Process()
    public let id: String
    let log: URL

    public init(
        databaseURL: String, id: String, extraArguments: [String] = [], topology: URL? = nil, environment: [String: String] = [:]
    ) throws {
        self.id = id
        log = FileManager.default.temporaryDirectory.appendingPathComponent("strata-worker-\(id)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = CLIRunner.executable
        var arguments = ["work", "--database-url", databaseURL, "--worker-id", id, "--log-level", "info"] + extraArguments
        if let topology { arguments += ["--topology", topology.path] }
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Whether it ended by SIGKILL.
    public var wasKilled: Bool {
        !process.isRunning && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    /// SIGKILL: no clean-up, no lease release: a crash.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM and wait: a graceful stop.
    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: log)
    }
}
