import CStrataShims
import Foundation

/// A child process started with posix_spawn: stdin, stdout and stderr from files (or /dev/null),
/// every other descriptor of this process closed in the child, optionally in a process group of its
/// own, reaped with `waitpid`.
///
/// Foundation's Process is not used anywhere in Strata. On Linux it leaks descriptors into the
/// child and notices an exit only once every holder of them has closed it, so a grandchild (a
/// postmaster started by `pg_ctl`, a shell's background job, another process spawned meanwhile
/// that inherited them) keeps a finished child "running" and `waitUntilExit` never returns.
public struct SpawnedProcess: Sendable {
    public let pid: pid_t
    public let executable: String
    /// Signals go to the whole process group (the child leads its own).
    public let ownsProcessGroup: Bool

    public enum Status: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        public var exitCode: Int32? {
            if case .exited(let c) = self { return c }
            return nil
        }

        /// The status as a shell reports it: the exit code, or 128 + the signal.
        public var shellStatus: Int32 {
            switch self {
            case .exited(let c): c
            case .signaled(let s): 128 + s
            }
        }
    }

    /// Starts `executable` (found on PATH when `searchPath`) with `arguments`. `environment` nil
    /// inherits this process's. `stdout` and `stderr` are files created or truncated (`stderr` nil:
    /// the same file as stdout).
    public static func spawn(
        _ executable: String, _ arguments: [String], searchPath: Bool = false, environment: [String: String]? = nil,
        directory: String? = nil, stdin: String = "/dev/null", stdout: String = "/dev/null", stderr: String? = nil,
        processGroup: Bool = false
    ) throws -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let stderr {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        strata_spawn_add_closefrom(&actions, 3)
        if let directory { strata_spawn_add_chdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal dispositions and no blocked signals, whatever this
        // process ignores or blocks (a server ignores SIGPIPE; ServiceLifecycle handles SIGTERM).
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if processGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = searchPath
            ? posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
            : posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw StrataError(.invalidConfiguration, "could not start '\(executable)': \(String(cString: strerror(result)))")
        }
        return SpawnedProcess(pid: pid, executable: executable, ownsProcessGroup: processGroup)
    }

    /// The exit status once the process has ended (reaping it), else nil. Once reaped, a second call
    /// answers `.signaled(0)` (the status is gone): keep the first answer.
    public func poll() -> Status? {
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, WNOHANG) } while r == -1 && errno == EINTR
        guard r == pid else { return r == -1 ? .signaled(0) : nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        return (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }

    /// Sends `signal` to the process (its whole group when it leads one).
    public func signal(_ signal: Int32) {
        _ = kill(ownsProcessGroup ? -pid : pid, signal)
    }

    /// Waits for the exit up to `timeout`, polling; nil if it is still running then.
    public func wait(timeout: Duration) async -> Status? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(2)
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// `wait(timeout:)` for synchronous callers: blocks the calling thread.
    public func waitBlocking(timeout: Duration) -> Status? {
        let deadline = ContinuousClock.now + timeout
        var pause: UInt32 = 2_000
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }

    /// What `run` collected.
    public struct Output: Sendable {
        public var status: Status
        public var stdout: Data
        public var stderr: Data
    }

    /// Runs a command to its end with `input` as its stdin, collecting stdout and stderr through
    /// files (no pipe a chatty child could fill). A child still running after `timeout` is killed
    /// (SIGKILL, its process group too) and the call fails naming the command and the deadline.
    public static func run(
        _ executable: String, _ arguments: [String], searchPath: Bool = false, environment: [String: String]? = nil,
        directory: String? = nil, input: Data? = nil, timeout: Duration
    ) throws -> Output {
        let base = NSTemporaryDirectory() + "strata-run-\(UUID().uuidString.prefix(12))"
        let paths = (stdin: base + ".in", stdout: base + ".out", stderr: base + ".err")
        defer {
            for path in [paths.stdin, paths.stdout, paths.stderr] { _ = unlink(path) }
        }
        if let input { _ = FileManager.default.createFile(atPath: paths.stdin, contents: input, attributes: [.posixPermissions: 0o600]) }
        let child = try spawn(executable, arguments, searchPath: searchPath, environment: environment, directory: directory,
            stdin: input == nil ? "/dev/null" : paths.stdin, stdout: paths.stdout, stderr: paths.stderr, processGroup: true)
        guard let status = child.waitBlocking(timeout: timeout) else {
            child.signal(SIGKILL)
            _ = child.waitBlocking(timeout: .seconds(5))
            throw StrataError(.timeout, "\(([executable] + arguments).joined(separator: " ")) did not finish within \(timeout); killed")
        }
        return Output(status: status, stdout: FileManager.default.contents(atPath: paths.stdout) ?? Data(),
            stderr: FileManager.default.contents(atPath: paths.stderr) ?? Data())
    }
}
