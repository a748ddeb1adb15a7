import CStrataShims
import Foundation
import StrataCore

/// A job's process: spawned with posix_spawn in a process group of its own (so a timeout or cancel
/// reaches whatever it started, a shell's children too), stdin from /dev/null, stdout and stderr to
/// a file, and no other descriptor of this process. Foundation's Process is not used: on Linux it
/// notices an exit only when every holder of a descriptor it leaks into the child has closed it, so
/// a grandchild still running keeps a finished run "running".
struct ChildProcess: Sendable {
    let pid: pid_t
    let executable: String

    enum Status: Equatable {
        case exited(Int32)
        case signaled(Int32)

        var exitCode: Int32? {
            if case .exited(let c) = self { return c }
            return nil
        }
    }

    static func spawn(_ executable: String, _ arguments: [String], searchPath: Bool, environment: [String: String], directory: String?,
        output: String) throws -> ChildProcess
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        strata_spawn_add_closefrom(&actions, 3)
        if let directory { strata_spawn_add_chdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
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
        return ChildProcess(pid: pid, executable: executable)
    }

    /// The exit status once the process has ended (reaping it), else nil.
    func poll() -> Status? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return r == -1 && errno == ECHILD ? .signaled(0) : nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        return (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }

    /// Signals the whole process group.
    func signal(_ signal: Int32) {
        _ = kill(-pid, signal)
    }
}
