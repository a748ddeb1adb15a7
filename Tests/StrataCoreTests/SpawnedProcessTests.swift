import Foundation
import StrataCore
import Testing

/// The one way Strata (and its tests) start processes: no descriptor leaks into the child, no pipe
/// to fill, a deadline on every wait.
@Suite struct SpawnedProcessTests {
    @Test func aChattyChildIsCollectedWhole() throws {
        // 1 MiB on each stream: a pipe read one stream after the other would deadlock at 64 KiB.
        let out = try SpawnedProcess.run("sh", ["-c", "head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2; exit 3"],
            searchPath: true, timeout: .seconds(60))
        #expect(out.status == .exited(3))
        #expect(out.stdout.count == 1_048_576 && out.stdout.allSatisfy { $0 == UInt8(ascii: "o") })
        #expect(out.stderr.count == 1_048_576 && out.stderr.allSatisfy { $0 == UInt8(ascii: "e") })
    }

    @Test func stdinIsGivenAndTheExitIsSeenWhileAGrandchildLivesOn() throws {
        let start = ContinuousClock.now
        // The background sleep keeps no descriptor of ours: the exit is seen at once.
        let out = try SpawnedProcess.run("sh", ["-c", "sleep 20 & read line; echo got $line"], searchPath: true,
            input: Data("hello\n".utf8), timeout: .seconds(60))
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(out.status == .exited(0))
        #expect(String(decoding: out.stdout, as: UTF8.self) == "got hello\n")
    }

    @Test func aChildPastItsDeadlineIsKilledAndNamed() throws {
        let start = ContinuousClock.now
        let error = #expect(throws: StrataError.self) {
            try SpawnedProcess.run("sleep", ["30"], searchPath: true, timeout: .milliseconds(500))
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(error?.code == .timeout)
        #expect(error.map { "\($0)" }?.contains("sleep 30") == true)
    }

    @Test func noDescriptorLeaksIntoTheChild() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)  // not close-on-exec
        defer { fds.forEach { close($0) } }
        let out = try SpawnedProcess.run("ls", ["/proc/self/fd"], searchPath: true, timeout: .seconds(30))
        let open = String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(open.contains(0) && open.contains(1) && open.contains(2))
        #expect(!open.contains(fds[0]) && !open.contains(fds[1]), "the child holds \(open), the pipe is \(fds)")
    }

    @Test func aMissingProgramIsAClearError() {
        let error = #expect(throws: StrataError.self) {
            try SpawnedProcess.spawn("/nonexistent/strata-tool", [])
        }
        #expect(error.map { "\($0)" }?.contains("/nonexistent/strata-tool") == true)
    }

    @Test func aProcessGroupIsSignalledWhole() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-spawn-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pidFile = dir.appendingPathComponent("grandchild").path
        let child = try SpawnedProcess.spawn("sh", ["-c", "sleep 60 & echo $! > \(pidFile); wait"], searchPath: true, processGroup: true)
        var grandchild: pid_t?
        for _ in 0..<200 where grandchild == nil {
            grandchild = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let sleeper = try #require(grandchild)
        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(10)) == .signaled(SIGTERM))
        // The grandchild got the signal too (it is gone, or a zombie waiting for init).
        var gone = false
        for _ in 0..<200 where !gone {
            let state = (try? String(contentsOfFile: "/proc/\(sleeper)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
            gone = state == nil || state == "Z"
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone)
    }
}
