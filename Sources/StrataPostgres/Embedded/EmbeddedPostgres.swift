import Foundation
import StrataCore

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL cluster under a local data directory, created and run with the system's
/// `initdb` and `pg_ctl`. It is what Strata runs on when no database URL is given.
///
/// Layout of `directory`:
/// - `pgdata/`: the cluster (owned by the `postgres` user when Strata runs as root, because
///   PostgreSQL refuses to run as root);
/// - `embedded.json`: port, user and generated password (mode 0600);
/// - `pgdata/server.log`: the server log.
///
/// The cluster listens on 127.0.0.1 only, with password (SCRAM) authentication. `start` is
/// idempotent and safe against concurrent callers (a file lock), so every `strata` command can call it.
public struct EmbeddedPostgres: Sendable {
    public struct Settings: Sendable, Codable, Equatable {
        public var port: Int
        public var user: String
        public var password: String
        public var database: String
    }

    public enum Status: Sendable, Equatable, CustomStringConvertible {
        case notInitialized
        case stopped
        case running(pid: Int)

        public var description: String {
            switch self {
            case .notInitialized: "not initialized"
            case .stopped: "stopped"
            case .running(let pid): "running (pid \(pid))"
            }
        }
    }

    public let directory: URL
    /// Extra `postgresql.conf` settings written at initialization (tests turn fsync off).
    public let serverSettings: [String: String]

    public init(directory: URL, serverSettings: [String: String] = [:]) {
        self.directory = directory.standardizedFileURL
        self.serverSettings = serverSettings
    }

    var dataDirectory: URL { directory.appendingPathComponent("pgdata") }
    var settingsFile: URL { directory.appendingPathComponent("embedded.json") }
    /// Inside the data directory, because the server user must be able to write it.
    public var logFile: URL { dataDirectory.appendingPathComponent("server.log") }

    /// The default: `$STRATA_DATA_DIR`, else `.strata` in the working directory.
    public static func defaultDirectory(environment: [String: String]) -> URL {
        if let dir = environment["STRATA_DATA_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".strata")
    }

    public func settings() throws -> Settings? {
        guard let data = try? Data(contentsOf: settingsFile) else { return nil }
        do {
            return try JSONDecoder().decode(Settings.self, from: data)
        } catch {
            throw StrataError(.embeddedDatabase, "cannot read \(settingsFile.path): \(error)")
        }
    }

    public func status() throws -> Status {
        guard try settings() != nil, FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path)
        else { return .notInitialized }
        let tools = try PostgresTools.locate()
        let result = try runAsServerUser(tools.pgCtl, ["status", "-D", dataDirectory.path])
        if result.status == 0, let pid = pidFromPostmaster() { return .running(pid: pid) }
        return .stopped
    }

    /// Creates the cluster if needed and starts it if it is not running. Returns how to connect.
    @discardableResult
    public func start() throws -> Settings {
        try withLock {
            let settings = try initializeIfNeeded()
            if case .running = try status() { return settings }
            let tools = try PostgresTools.locate()
            let result = try runAsServerUser(tools.pgCtl, [
                "start", "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-s",
            ])
            guard result.status == 0 else {
                throw StrataError(.embeddedDatabase, """
                    PostgreSQL did not start (pg_ctl exited \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
                    last lines of \(logFile.path):
                    \(tailOfLog())
                    """)
            }
            return settings
        }
    }

    /// How `stop` shuts the server down (`pg_ctl -m`).
    public enum ShutdownMode: String, Sendable {
        /// Open transactions roll back, then a clean checkpoint.
        case fast
        /// Every server process quits at once, as in a crash; the next start recovers from the WAL.
        case immediate
    }

    /// Stops the cluster (by default a fast shutdown).
    public func stop(mode: ShutdownMode = .fast) throws {
        try withLock {
            guard case .running = try status() else { return }
            let tools = try PostgresTools.locate()
            let result = try runAsServerUser(tools.pgCtl, ["stop", "-D", dataDirectory.path, "-m", mode.rawValue, "-w", "-t", "60", "-s"])
            guard result.status == 0 else {
                throw StrataError(.embeddedDatabase, "pg_ctl stop failed (\(result.status)): \(result.output)")
            }
        }
    }

    /// The connection URL of the running cluster.
    public func url(settings: Settings) -> String {
        "postgres://\(settings.user):\(settings.password)@127.0.0.1:\(settings.port)/\(settings.database)"
    }

    // MARK: - Initialization

    private func initializeIfNeeded() throws -> Settings {
        if let existing = try settings(),
            FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path)
        {
            return existing
        }
        let fm = FileManager.default
        let tools = try PostgresTools.locate()
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            if fm.fileExists(atPath: dataDirectory.path) { try fm.removeItem(at: dataDirectory) }
            try fm.createDirectory(at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StrataError(.embeddedDatabase, "cannot create \(dataDirectory.path): \(error.localizedDescription)")
        }
        let settings = Settings(port: try Self.freePort(), user: "strata", password: Self.randomPassword(), database: "strata")
        let passwordFile = directory.appendingPathComponent(".initdb-password")
        guard fm.createFile(atPath: passwordFile.path, contents: Data(settings.password.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw StrataError(.embeddedDatabase, "cannot write \(passwordFile.path)")
        }
        defer { try? fm.removeItem(at: passwordFile) }
        if ServerUser.needed {
            try ServerUser.chown([dataDirectory.path, passwordFile.path])
            try ServerUser.checkCanReach(directory)
        }
        let initResult = try runAsServerUser(tools.initdb, [
            "-D", dataDirectory.path, "-U", settings.user, "--pwfile=\(passwordFile.path)", "--auth=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync",
        ])
        guard initResult.status == 0 else {
            throw StrataError(.embeddedDatabase, "initdb failed (\(initResult.status)):\n\(initResult.output)")
        }
        var conf: [String: String] = [
            "listen_addresses": "'127.0.0.1'",
            "port": String(settings.port),
            "unix_socket_directories": "''",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "logging_collector": "off",
            "log_min_messages": "warning",
        ]
        for (k, v) in serverSettings { conf[k] = v }
        let lines = conf.keys.sorted().map { "\($0) = \(conf[$0]!)" }.joined(separator: "\n")
        let confPath = dataDirectory.appendingPathComponent("postgresql.conf").path
        guard let handle = FileHandle(forWritingAtPath: confPath) else {
            throw StrataError(.embeddedDatabase, "cannot open \(confPath)")
        }
        handle.seekToEndOfFile()
        handle.write(Data("\n# Strata embedded cluster\n\(lines)\n".utf8))
        handle.closeFile()
        // The default database is created from the first start; settings are written last so an
        // interrupted initialization is redone rather than half-used.
        let encoded = try JSONEncoder().encode(settings)
        try encoded.write(to: settingsFile, options: .atomic)
        chmod(settingsFile.path, 0o600)
        try createDatabase(settings: settings, tools: tools)
        return settings
    }

    private func createDatabase(settings: Settings, tools: PostgresTools) throws {
        let start = try runAsServerUser(tools.pgCtl, ["start", "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-s"])
        guard start.status == 0 else {
            throw StrataError(.embeddedDatabase, "PostgreSQL did not start after initdb:\n\(start.output)\n\(tailOfLog())")
        }
        let result = try Shell.run(try tools.psql().path, [
            "-h", "127.0.0.1", "-p", String(settings.port), "-U", settings.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
            "-c", "CREATE DATABASE \(settings.database)",
        ], environment: ["PGPASSWORD": settings.password])
        guard result.status == 0 else {
            throw StrataError(.embeddedDatabase, "cannot create database '\(settings.database)': \(result.output)")
        }
    }

    private func tailOfLog() -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    private func pidFromPostmaster() -> Int? {
        guard let text = try? String(contentsOf: dataDirectory.appendingPathComponent("postmaster.pid"), encoding: .utf8)
        else { return nil }
        return text.split(separator: "\n").first.flatMap { Int($0) }
    }

    private func runAsServerUser(_ tool: URL, _ arguments: [String]) throws -> Shell.Result {
        if ServerUser.needed {
            return try Shell.run("/usr/sbin/runuser", ["-u", ServerUser.name, "--", tool.path] + arguments,
                currentDirectory: "/")
        }
        return try Shell.run(tool.path, arguments)
    }

    /// Serializes start/stop/initialize across processes.
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("lock").path
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw StrataError(.embeddedDatabase, "cannot open lock file \(path)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StrataError(.embeddedDatabase, "cannot lock \(path)") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    // MARK: - Helpers

    static func randomPassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    /// Asks the kernel for a free loopback port.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StrataError(.embeddedDatabase, "cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard bound == 0 else { throw StrataError(.embeddedDatabase, "cannot bind a socket to find a free port") }
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw StrataError(.embeddedDatabase, "getsockname failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// PostgreSQL refuses to run as root; when Strata is root, the server runs as `postgres`.
enum ServerUser {
    static let name = "postgres"
    static var needed: Bool { geteuid() == 0 }

    static func chown(_ paths: [String]) throws {
        guard let pw = getpwnam(name) else {
            throw StrataError(.embeddedDatabase, """
                running as root, PostgreSQL must run as the '\(name)' user, which does not exist; \
                install PostgreSQL (apt-get install postgresql) or run Strata as an ordinary user
                """)
        }
        for path in paths where Glibc.chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) != 0 {
            throw StrataError(.embeddedDatabase, "cannot give \(path) to the '\(name)' user (errno \(errno))")
        }
    }

    /// The server user must be able to reach the data directory through every parent folder.
    static func checkCanReach(_ directory: URL) throws {
        let result = try Shell.run("/usr/sbin/runuser", ["-u", name, "--", "test", "-x", directory.path], currentDirectory: "/")
        if result.status != 0 {
            throw StrataError(.embeddedDatabase, """
                the '\(name)' user cannot reach \(directory.path) (a parent folder is not searchable by others); \
                set STRATA_DATA_DIR (or --data-dir) to a folder it can reach, such as /var/lib/strata
                """)
        }
    }
}

/// Where the PostgreSQL server binaries are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin.
struct PostgresTools {
    let bin: URL
    var initdb: URL { bin.appendingPathComponent("initdb") }
    var pgCtl: URL { bin.appendingPathComponent("pg_ctl") }

    /// psql lives beside the server binaries on Debian, in /usr/bin elsewhere.
    func psql(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let dirs = [bin.path] + (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/psql") {
            return URL(fileURLWithPath: dir + "/psql")
        }
        throw StrataError(.embeddedDatabase, "psql not found (install postgresql-client)")
    }

    static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresTools {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let explicit = environment["STRATA_PG_BIN"] { candidates.append(URL(fileURLWithPath: explicit)) }
        for dir in (environment["PATH"] ?? "").split(separator: ":") { candidates.append(URL(fileURLWithPath: String(dir))) }
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
                candidates.append(URL(fileURLWithPath: "/usr/lib/postgresql/\(v)/bin"))
            }
        }
        for dir in candidates where fm.isExecutableFile(atPath: dir.appendingPathComponent("initdb").path)
            && fm.isExecutableFile(atPath: dir.appendingPathComponent("pg_ctl").path)
        {
            return PostgresTools(bin: dir)
        }
        throw StrataError(.embeddedDatabase, """
            PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; \
            install them (Debian/Ubuntu: apt-get install postgresql) or pass --database-url
            """)
    }
}

/// Runs a command and collects its combined output.
///
/// Through SpawnedProcess, not Foundation's Process: `pg_ctl start` leaves a postmaster running, and
/// Process leaks descriptors into it that it then waits on, so it would never see pg_ctl exit. Here
/// the child gets only stdin (/dev/null) and stdout/stderr (a file); every other descriptor is closed.
enum Shell {
    struct Result {
        var status: Int32
        var output: String
    }

    /// initdb, pg_ctl (whose own waits are shorter) and psql all finish well within this.
    static let deadline = Duration.seconds(600)

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], currentDirectory: String? = nil) throws -> Result {
        let outputPath = NSTemporaryDirectory() + "strata-shell-\(UUID().uuidString).out"
        defer { unlink(outputPath) }
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let child: SpawnedProcess
        do {
            child = try SpawnedProcess.spawn(executable, arguments, environment: env, directory: currentDirectory, stdout: outputPath)
        } catch {
            throw StrataError(.embeddedDatabase, "cannot run \(executable): \(error)")
        }
        guard let status = child.waitBlocking(timeout: deadline) else {
            child.signal(SIGKILL)
            _ = child.waitBlocking(timeout: .seconds(5))
            throw StrataError(.embeddedDatabase, "\(executable) \(arguments.first ?? "") did not finish within \(deadline); killed")
        }
        let output = FileManager.default.contents(atPath: outputPath) ?? Data()
        return Result(status: status.shellStatus, output: String(decoding: output, as: UTF8.self))
    }
}
