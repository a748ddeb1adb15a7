import Foundation
import StrataCore
import Synchronization

/// A `strata work` process, started and killed like an operator (or a crash) would.
///
/// Spawned through SpawnedProcess (posix_spawn, no leaked descriptors) and reaped with waitpid:
/// Foundation's Process would notice this process's exit only once every process that inherited
/// its descriptors had ended (another worker started meanwhile), and its waits have no deadline.
public final class WorkerProcess: Sendable {
    let child: SpawnedProcess
    public let id: String
    let log: URL
    /// The exit status, once reaped.
    private let status = Mutex<SpawnedProcess.Status?>(nil)

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
        child = try SpawnedProcess.spawn(CLIRunner.executable.path, arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            directory: TestEnvironment.repositoryRoot.path, stdout: log.path)
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { !reaped() }

    /// Whether it ended by SIGKILL.
    public var wasKilled: Bool { reaped() && status.withLock { $0 } == .signaled(SIGKILL) }

    /// How long `kill()` and `stop()` wait for the exit before they give up (and SIGKILL).
    public static let exitDeadline = Duration.seconds(60)

    /// SIGKILL: no clean-up, no lease release: a crash. Waits (bounded) until it is reaped.
    public func kill() {
        child.signal(SIGKILL)
        waitForExit(.seconds(30))
    }

    /// SIGTERM and wait (bounded: SIGKILL after `exitDeadline`): a graceful stop.
    public func stop() {
        guard !reaped() else { return }
        child.signal(SIGTERM)
        if !waitForExit(Self.exitDeadline) {
            child.signal(SIGKILL)
            waitForExit(.seconds(30))
        }
    }

    @discardableResult
    private func waitForExit(_ timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !reaped() {
            if ContinuousClock.now >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Whether the process has exited, reaping it (`waitpid`).
    public func reaped() -> Bool {
        status.withLock { status in
            if status == nil { status = child.poll() }
            return status != nil
        }
    }

    /// SIGTERM, then waits up to `timeout`; returns how long the process took to exit, or nil if it
    /// was still running then (it is then killed).
    public func stop(within timeout: Duration) async -> Duration? {
        let start = ContinuousClock.now
        child.signal(SIGTERM)
        while !reaped() {
            if ContinuousClock.now - start > timeout {
                await killAndReap()
                return nil
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return ContinuousClock.now - start
    }

    /// SIGKILL and reap.
    public func killAndReap() async {
        child.signal(SIGKILL)
        for _ in 0..<600 where !reaped() { try? await Task.sleep(for: .milliseconds(50)) }
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    deinit {
        if !reaped() {
            child.signal(SIGKILL)
            waitForExit(.seconds(10))
        }
        try? FileManager.default.removeItem(at: log)
    }
}
