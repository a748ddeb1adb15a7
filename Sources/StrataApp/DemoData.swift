import Foundation
import StrataAtlas
import StrataCore
import StrataLedger

/// Sample data for `strata serve --demo`: something in every view on a fresh install. Idempotent:
/// loading twice adds nothing. The real datasets are used when they are present (the shared data
/// folder beside the checkout, or STRATA_DEMO_DATA).
public enum DemoData {
    /// `dataDirectory`: the real datasets (`STRATA_DEMO_DATA` for `strata serve --demo`); nil looks
    /// for the workspace's `../shared/data`, else the copy the tests use.
    public static func load(into strata: StrataContext, dataDirectory: String? = nil) async throws {
        var drafts: [EventDraft] = []
        for i in 0..<1000 {
            drafts.append(EventDraft(topic: "demo", key: "account-\(i % 20)", type: "demo.event", id: "demo-\(i)", source: "demo",
                payload: ["amount": .int((i * 37) % 500), "note": .string("demo event \(i)")]))
        }
        var loaded = ["\(try await append(drafts, strata)) demo events"]
        let fm = FileManager.default
        let data = URL(fileURLWithPath: dataDirectory
            ?? (fm.fileExists(atPath: "../shared/data/stellar") ? "../shared/data" : "Tests/Fixtures/shared-data"))
        let etl = data.appendingPathComponent("stellar/etl")
        if fm.fileExists(atPath: etl.path) {
            let files = ["10_ledgers.json", "10_ledgers_txs.json", "10_ledgers_ops.json", "10_ledgers_effects.json", "10_ledgers_trades.json",
                         "contract_events_52271338-52271350.json", "2024_ledgers.json"].map { etl.appendingPathComponent($0).path }
            let ledgers = try LedgerIngest(schemas: strata.schemas).read(paths: files.filter(fm.fileExists))
            loaded.append("\(try await append(ledgers.drafts, strata)) ledgers")
        }
        let atlas = AtlasIngest(schemas: strata.schemas)
        let spdx = data.appendingPathComponent("atlas/sbom/spdx-2.3")
        if fm.fileExists(atPath: spdx.path) {
            var sboms: [EventDraft] = []
            for file in try fm.contentsOfDirectory(atPath: spdx.path).sorted() where file.hasSuffix(".json") {
                // The demo skips the deliberately invalid examples and those that do not name a repository.
                if let draft = try? atlas.sbomDraft(Array(try Data(contentsOf: spdx.appendingPathComponent(file))), source: file, repository: nil) {
                    sboms.append(draft)
                }
            }
            loaded.append("\(try await append(sboms, strata)) SBOMs")
        }
        let grants = data.appendingPathComponent("atlas/opengrants")
        if fm.fileExists(atPath: grants.path) {
            loaded.append("\(try await append(try atlas.grantDrafts(paths: [grants.path]), strata)) grant records")
        }
        let registry = data.appendingPathComponent("atlas/registry")
        if fm.fileExists(atPath: registry.path) {
            var observations: [EventDraft] = []
            for group in AtlasIngest.sampleRegistryGroups {
                observations += try atlas.registryDrafts(paths: group.map { registry.appendingPathComponent($0).path })
            }
            loaded.append("\(try await append(observations, strata)) registry observations")
        }
        if let history = try? AtlasIngest.readGitHistory(path: ".", months: nil), !history.commits.isEmpty {
            let repo = history.repository ?? "strata-dev/strata"
            loaded.append("\(try await append(AtlasIngest.commitDrafts(history.commits, repository: repo, source: "git"), strata)) commit batches of \(repo)")
        }
        FileHandle.standardError.write(Data("demo: appended \(loaded.joined(separator: ", ")) (already present ones are skipped)\n".utf8))
    }

    static func append(_ drafts: [EventDraft], _ strata: StrataContext) async throws -> Int {
        var added = 0
        for start in stride(from: 0, to: drafts.count, by: 200) {
            added += try await strata.producer.append(Array(drafts[start..<min(start + 200, drafts.count)])).filter { !$0.duplicate }.count
        }
        return added
    }
}
