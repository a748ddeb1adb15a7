import Foundation
import StrataATProto
import StrataCore

/// Reading a repository export (`getRepo` CAR): Strata's `RepositoryExport` (every block's sha-256
/// checked against its CID, the commit decoded, the MST walked with its checks — key order,
/// prefixes, every key's height — and every record decoded as strict DAG-CBOR) beside the Python
/// `libipld` package doing the same in the same run: the CAR framing read, every block hashed with
/// hashlib and compared, the commit, every MST node and every record decoded by libipld, the keys
/// rebuilt from their prefixes (no order or height checks).
public struct CARBenchmark: Sendable {
    public var car: [UInt8]
    public var name: String
    public var seconds: Double
    public var rounds: Int
    /// A Python interpreter that can `import libipld`; nil runs Strata's side alone.
    public var python: String?

    public init(car: [UInt8], name: String, seconds: Double = 5, rounds: Int = 3, python: String?) {
        self.car = car
        self.name = name
        self.seconds = seconds
        self.rounds = max(1, rounds)
        self.python = python
    }

    /// The largest `.car` (or `.repo`) file in `folder`.
    public static func largestCAR(in folder: String) throws -> (name: String, bytes: [UInt8]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".car") || $0.hasSuffix(".repo") }
        let sized = names.compactMap { n in FileManager.default.contents(atPath: "\(folder)/\(n)").map { (n, Array($0)) } }
        guard let largest = sized.max(by: { $0.1.count < $1.1.count }) else { throw StrataError(.invalidInput, "no CAR files in \(folder)") }
        return largest
    }

    public struct Report: Sendable {
        public var name: String
        public var bytes: Int
        public var records: Int
        public var strata: [Double]
        public var reference: [Double]
        public var referenceVersion: String?

        public var markdown: String {
            let mb = Double(bytes) / 1_000_000
            func rates(_ r: [Double]) -> String {
                r.map { grouped($0 * Double(records)) }.joined(separator: " / ") + " records/s ("
                    + r.map { String(format: "%.1f", $0 * mb) }.joined(separator: " / ") + " MB/s)"
            }
            var lines = [
                "| measurement | result |",
                "|---|---|",
                "| input | \(name): \(String(format: "%.2f", mb)) MB, \(records) records |",
                "| Strata: blocks verified + MST walked and checked + records decoded, \(strata.count) rounds | \(rates(strata)) |",
            ]
            if !reference.isEmpty {
                lines.append("| Python libipld \(referenceVersion ?? ""): the same with hashlib, \(reference.count) rounds | \(rates(reference)) |")
                lines.append("| Strata / libipld, medians | **\(String(format: "%.2f", median(strata) / max(median(reference), 1e-9)))x** |")
            } else {
                lines.append("| Python libipld | not measured (pass --python with an interpreter that has libipld) |")
            }
            return lines.joined(separator: "\n")
        }
    }

    public func run() throws -> Report {
        let records = try RepositoryExport(car: car, rebuild: false).records.count
        var strata: [Double] = []
        var reference: [Double] = []
        var version: String?
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-car-\(UUID().uuidString.prefix(8)).car")
        try Data(car).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        for round in 1...rounds {
            progress("round \(round)/\(rounds): Strata for \(seconds) s...")
            strata.append(try measureStrata())
            progress("  \(grouped(strata.last! * Double(records))) records/s")
            if let python {
                progress("round \(round)/\(rounds): libipld for \(seconds) s...")
                let (rate, v, count) = try measurePython(python, input: input.path)
                guard count == records else { throw StrataError(.backend, "libipld read \(count) records, Strata \(records)") }
                reference.append(rate)
                version = v
                progress("  \(grouped(rate * Double(records))) records/s")
            }
        }
        return Report(name: name, bytes: car.count, records: records, strata: strata, reference: reference, referenceVersion: version)
    }

    /// Exports read per second.
    func measureStrata() throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let budget = Duration.milliseconds(Int64(seconds * 1000))
        var reads = 0
        var checksum = 0
        while clock.now - start < budget {
            checksum &+= try RepositoryExport(car: car, rebuild: false).records.count
            reads += 1
        }
        if checksum == 42 { progress("") }
        return Double(reads) / (clock.now - start).seconds
    }

    func measurePython(_ python: String, input: String) throws -> (Double, String, Int) {
        let script = """
            import hashlib, importlib.metadata, json, sys, time
            import libipld
            def varint(b, i):
                shift = value = 0
                while True:
                    x = b[i]; i += 1; value |= (x & 0x7f) << shift
                    if x < 0x80: return value, i
                    shift += 7
            def read(data):
                length, i = varint(data, 0)
                header = libipld.decode_dag_cbor(data[i:i + length]); i += length
                blocks = {}
                while i < len(data):
                    length, i = varint(data, i); end = i + length; start = i
                    _, i = varint(data, i); _, i = varint(data, i); _, i = varint(data, i); size, i = varint(data, i)
                    digest = data[i:i + size]; i += size
                    body = data[i:end]
                    if hashlib.sha256(body).digest() != digest: raise ValueError("block hash")
                    blocks[data[start:i]] = body; i = end
                commit = libipld.decode_dag_cbor(blocks[header["roots"][0]])
                count = 0
                def walk(cid):
                    nonlocal count
                    node = libipld.decode_dag_cbor(blocks[cid])
                    if node["l"] is not None: walk(node["l"])
                    previous = b""
                    for e in node["e"]:
                        key = previous[:e["p"]] + e["k"]; previous = key
                        libipld.decode_dag_cbor(blocks[e["v"]]); count += 1
                        if e["t"] is not None: walk(e["t"])
                walk(commit["data"])
                return count
            data = open(sys.argv[1], "rb").read()
            budget = float(sys.argv[2])
            records = read(data)
            start = time.perf_counter(); n = 0
            while time.perf_counter() - start < budget:
                read(data); n += 1
            print(json.dumps({"rate": n / (time.perf_counter() - start), "version": importlib.metadata.version("libipld"), "records": records}))
            """
        let run = try SpawnedProcess.run(python, ["-c", script, input, String(seconds)], timeout: .seconds(seconds * 4 + 120))
        guard run.status == .exited(0), let json = try? JSONParser.parse(Array(run.stdout)), let rate = json["rate"]?.doubleValue else {
            throw StrataError(.invalidConfiguration, "the libipld reference failed (\(python)): \(String(decoding: run.stderr, as: UTF8.self).suffix(600))")
        }
        return (rate, json["version"]?.stringValue ?? "?", json["records"]?.intValue ?? -1)
    }
}
