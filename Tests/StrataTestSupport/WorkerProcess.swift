import Foundation

/// A `strata work` process, started and killed like an operator (or a crash) would.
public final class WorkerProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched from the creating test task; Process itself is
    // thread-safe for terminate/isRunning.
    let process = Process()
    public let id: String
    let log: URL

    public convenience init(
        databaseURL: String, id: String, extraArguments: [String] = [], topology: URL? = nil, environment: [String: String] = [:]
    ) throws {
        var arguments = ["work", "--database-url", databaseURL, "--worker-id", id, "--log-level", "info"] + extraArguments
        if let topology { arguments += ["--topology", topology.path] }
        try self.init(arguments: arguments, id: id, environment: environment)
    }

    /// Any `strata` command as a process of its own (`serve`, `work`, ...), its output in a log file.
    public init(arguments: [String], id: String, environment: [String: String] = [:]) throws {
        self.id = id
        log = FileManager.default.temporaryDirectory.appendingPathComponent("strata-worker-\(id)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = CLIRunner.executable
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

    /// Whether the process has exited, reaping it (`waitpid`, not Foundation's run-loop wait, which
    /// can spin forever on a child that exited while the test process was busy elsewhere).
    public func reaped() -> Bool {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid || (r == -1 && errno == ECHILD)
    }

    /// SIGTERM, then waits up to `timeout`; returns how long the process took to exit, or nil if it
    /// was still running then (it is then killed).
    public func stop(within timeout: Duration) async -> Duration? {
        let start = ContinuousClock.now
        Foundation.kill(pid, SIGTERM)
        while !reaped() {
            if ContinuousClock.now - start > timeout {
                await killAndReap()
                return nil
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return ContinuousClock.now - start
    }

    /// SIGKILL and reap, without Foundation's wait.
    public func killAndReap() async {
        Foundation.kill(pid, SIGKILL)
        for _ in 0..<100 where !reaped() { try? await Task.sleep(for: .milliseconds(50)) }
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    deinit {
        if !reaped() { Foundation.kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: log)
    }
}
