import Foundation
import Logging
import PostgresNIO
import Synchronization


/// Point lookups by transaction hash against a running `strata serve` (another process), at a fixed
/// request rate. Open loop: each request's latency is measured from the moment it was due, so a
/// slow server cannot hide its queueing (no coordinated omission).
public struct LookupBenchmark: Sendable {
    public var baseURL: String
    public var rate: Int
    public var seconds: Int

    public init(baseURL: String, rate: Int = 1000, seconds: Int = 30) {
        self.baseURL = baseURL
        self.rate = rate
        self.seconds = seconds
    }

    public struct Report: Sendable {
        public var requests: Int
        public var errors: Int
        public var achievedRate: Double
        public var latencies: LatencyRecorder

        public var markdown: String {
            """
            | measurement | result |
            |---|---|
            | GET /v1/transactions/{hash}, \(grouped(Double(requests))) requests at \(grouped(achievedRate)) requests/s from a second process on loopback | p50 \(ms(latencies.percentile(50))), p90 \(ms(latencies.percentile(90))), **p99 \(ms(latencies.percentile(99)))**, max \(ms(latencies.percentile(100))); \(errors) errors |
            """
        }
    }

    /// Open loop over `connections` keep-alive connections, each on its own thread: request i is
    /// due at start + i/rate and goes out on connection i mod connections; its latency counts from
    /// when it was due.
    public func run(hashes: [String], connections: Int = 16) async throws -> Report {
        precondition(!hashes.isEmpty)
        guard let url = URL(string: baseURL), let host = url.host, let port = url.port else {
            throw HTTPLoadError("--url must look like http://127.0.0.1:8080")
        }
        let total = rate * seconds
        let intervalNanos = UInt64(1_000_000_000 / rate)
        // Connections are opened (and warmed) by their threads, before the first request is due.
        let start = DispatchTime.now().uptimeNanoseconds + 500_000_000
        let results = LockedResults()
        let group = DispatchGroup()
        for k in 0..<connections {
            group.enter()
            Thread.detachNewThread {
                var recorder = LatencyRecorder()
                var errors = 0
                guard let connection = try? HTTPConnection(host: host, port: UInt16(port)),
                    (try? connection.get("/v1/transactions/\(hashes[k % hashes.count])", host: host)) != nil
                else {
                    results.add(recorder, (total - k + connections - 1) / connections)
                    group.leave()
                    return
                }
                var i = k
                while i < total {
                    let due = start + UInt64(i) * intervalNanos
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now < due { usleep(useconds_t((due - now) / 1000)) }
                    let status = (try? connection.get("/v1/transactions/\(hashes[i % hashes.count])", host: host)) ?? 0
                    let done = DispatchTime.now().uptimeNanoseconds
                    recorder.record(.nanoseconds(Int64(done > due ? done - due : 0)))
                    if status != 200 { errors += 1 }
                    i += connections
                }
                results.add(recorder, errors)
                group.leave()
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { continuation.resume() }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let (latencies, errors) = results.value
        return Report(requests: total, errors: errors, achievedRate: Double(total) / elapsed, latencies: latencies)
    }
}

/// Results from the load threads.
final class LockedResults: Sendable {
    private let state = Mutex<(LatencyRecorder, Int)>((LatencyRecorder(), 0))
    func add(_ recorder: LatencyRecorder, _ errors: Int) {
        state.withLock { $0.0.merge(recorder); $0.1 += errors }
    }
    var value: (LatencyRecorder, Int) { state.withLock { $0 } }
}

