import Foundation
import StrataCore
import StrataStellarXDR

/// Decoding raw `LedgerCloseMeta` XDR: Strata's checked walk (`LedgerCloseMetaSummary`: every byte
/// checked, the header hash verified, only the summary built) beside the Python `stellar-sdk`
/// decoding the same bytes into its full object tree (`LedgerCloseMeta.from_xdr_bytes`), in the
/// same run, alternating rounds.
public struct XDRBenchmark: Sendable {
    /// The ledgers to decode, each a whole `LedgerCloseMeta`.
    public var ledgers: [[UInt8]]
    public var seconds: Double
    public var rounds: Int
    /// A Python interpreter that can `import stellar_sdk`; nil runs Strata's side alone.
    public var python: String?

    public init(ledgers: [[UInt8]], seconds: Double = 5, rounds: Int = 3, python: String?) {
        self.ledgers = ledgers
        self.seconds = seconds
        self.rounds = max(1, rounds)
        self.python = python
    }

    /// Every ledger in a folder of fixtures: base64 files (one ledger per line) and zstd batches.
    public static func loadLedgers(from folder: String) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() where !name.hasSuffix("-events") && !name.hasPrefix(".") {
            let path = "\(folder)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = Array(data)
            if Zstd.isFrame(bytes) {
                let raw = try Zstd.decompress(bytes)
                for ledger in try LedgerCloseMetaBatch.decode(raw).ledgers { out.append(Array(raw[ledger.byteRange])) }
            } else if let text = String(data: data, encoding: .utf8) {
                for line in text.split(whereSeparator: \.isNewline) {
                    if let decoded = Data(base64Encoded: String(line)) { out.append(Array(decoded)) }
                }
            }
        }
        guard !out.isEmpty else { throw StrataError(.invalidInput, "no LedgerCloseMeta fixtures in \(folder)") }
        return out
    }

    public struct Report: Sendable {
        public var ledgers: Int
        public var bytes: Int
        public var strata: [Double]
        public var reference: [Double]
        public var referenceVersion: String?

        public var markdown: String {
            let all = { (rates: [Double]) in rates.map(grouped).joined(separator: " / ") }
            let mb = Double(bytes) / Double(ledgers) / 1_000_000
            var lines = [
                "| measurement | result |",
                "|---|---|",
                "| input | \(ledgers) LedgerCloseMeta, \(String(format: "%.2f", Double(bytes) / 1_000_000)) MB |",
                "| Strata: checked walk + summary, \(strata.count) rounds | \(all(strata)) ledgers/s (\(strata.map { String(format: "%.0f", $0 * mb) }.joined(separator: " / ")) MB/s) |",
            ]
            if !reference.isEmpty {
                lines.append("| Python stellar-sdk \(referenceVersion ?? ""): `LedgerCloseMeta.from_xdr_bytes`, \(reference.count) rounds | \(all(reference)) ledgers/s (\(reference.map { String(format: "%.1f", $0 * mb) }.joined(separator: " / ")) MB/s) |")
                lines.append("| Strata / stellar-sdk, medians | **\(String(format: "%.1f", median(strata) / max(median(reference), 1e-9)))x** |")
            } else {
                lines.append("| Python stellar-sdk | not measured (pass --python with an interpreter that has stellar-sdk) |")
            }
            return lines.joined(separator: "\n")
        }
    }

    public func run() throws -> Report {
        let bytes = ledgers.reduce(0) { $0 + $1.count }
        var strata: [Double] = []
        var reference: [Double] = []
        var version: String?
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-xdr-\(UUID().uuidString.prefix(8)).txt")
        try Data(ledgers.map { Data($0).base64EncodedString() }.joined(separator: "\n").utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        for round in 1...rounds {
            progress("round \(round)/\(rounds): Strata for \(seconds) s...")
            strata.append(try measureStrata())
            progress("  \(grouped(strata.last!)) ledgers/s")
            if let python {
                progress("round \(round)/\(rounds): stellar-sdk for \(seconds) s...")
                let (rate, v) = try measurePython(python, input: input.path)
                reference.append(rate)
                version = v
                progress("  \(grouped(rate)) ledgers/s")
            }
        }
        return Report(ledgers: ledgers.count, bytes: bytes, strata: strata, reference: reference, referenceVersion: version)
    }

    func measureStrata() throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let budget = Duration.milliseconds(Int64(seconds * 1000))
        var decoded = 0
        var checksum: UInt64 = 0
        while clock.now - start < budget {
            for ledger in ledgers {
                let summary = try LedgerCloseMetaSummary.decode(ledger)
                checksum &+= UInt64(summary.sequence) &+ UInt64(summary.transactionCount)
                decoded += 1
            }
        }
        // Keep the result observable so the work cannot be optimized away.
        if checksum == 42 { progress("") }
        return Double(decoded) / (clock.now - start).seconds
    }

    func measurePython(_ python: String, input: String) throws -> (Double, String) {
        let script = """
            import base64, json, sys, time
            import stellar_sdk
            from stellar_sdk import xdr
            ledgers = [base64.b64decode(line) for line in open(sys.argv[1]).read().split() if line]
            budget = float(sys.argv[2])
            start = time.perf_counter(); n = 0
            while time.perf_counter() - start < budget:
                for b in ledgers:
                    xdr.LedgerCloseMeta.from_xdr_bytes(b); n += 1
            print(json.dumps({"rate": n / (time.perf_counter() - start), "version": stellar_sdk.__version__}))
            """
        let run = try SpawnedProcess.run(python, ["-c", script, input, String(seconds)], timeout: .seconds(seconds * 4 + 120))
        let output = run.stdout
        let errors = run.stderr
        guard run.status == .exited(0), let json = try? JSONParser.parse(Array(output)), let rate = json["rate"]?.doubleValue else {
            throw StrataError(.invalidConfiguration, "the stellar-sdk reference failed (\(python)): \(String(decoding: errors, as: UTF8.self).suffix(600))")
        }
        return (rate, json["version"]?.stringValue ?? "?")
    }
}
