import Foundation
import Logging
import PostgresNIO

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Point lookups by transaction hash against a running `strata serve` (another process), at a fixed
/// request rate. Open loop: each request's latency is measured from the moment it was due, so a
/// slow server cannot hide its queueing (no coordinated omission).
public struct LookupBenchmark: Sendable {
    public var baseURL: String
    public var rate: Int
    public var seconds: Int
    public var concurrency: Int

    public init(baseURL: String, rate: Int = 1000, seconds: Int = 30, concurrency: Int = 64) {
        self.baseURL = baseURL
        self.rate = rate
        self.seconds = seconds
        self.concurrency = concurrency
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

    public func run(hashes: [String]) async throws -> Report {
        precondition(!hashes.isEmpty)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = concurrency
        configuration.timeoutIntervalForRequest = 10
        let session = URLSession(configuration: configuration)
        let clock = ContinuousClock()
        let total = rate * seconds
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
        // Warm up the connections.
        for hash in hashes.prefix(concurrency) { _ = try? await session.data(from: URL(string: "\(baseURL)/v1/transactions/\(hash)")!) }
        let start = clock.now
        let collector = Collector()
        try await withThrowingDiscardingTaskGroup { group in
            for i in 0..<total {
                let due = start + interval * i
                if clock.now < due { try await clock.sleep(until: due) }
                let url = URL(string: "\(baseURL)/v1/transactions/\(hashes[i % hashes.count])")!
                group.addTask {
                    var ok = false
                    if let (_, response) = try? await session.data(from: url) { ok = (response as? HTTPURLResponse)?.statusCode == 200 }
                    await collector.record(clock.now - due, ok: ok)
                }
            }
        }
        let results = await collector.results
        let elapsed = clock.now - start
        return Report(requests: total, errors: results.1, achievedRate: Double(total) / elapsed.seconds, latencies: results.0)
    }
}

/// Gathers latencies from concurrent requests.
actor Collector {
    private var recorder = LatencyRecorder()
    private var errors = 0

    func record(_ latency: Duration, ok: Bool) {
        recorder.record(latency)
        if !ok { errors += 1 }
    }

    var results: (LatencyRecorder, Int) { (recorder, errors) }
}
