import Foundation
import StrataCore

/// Where the tests of the pure Atlas model find their data, without the database test harness.
enum Fixtures {
    /// The repository's root, found from this file.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The real datasets: the workspace's `../shared/data` when present, else the copy under
    /// `Tests/Fixtures/shared-data` (so a clone anywhere tests the same way).
    static var sharedData: URL {
        let workspace = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
        if FileManager.default.fileExists(atPath: workspace.appendingPathComponent("stellar/etl").path) { return workspace }
        return repositoryRoot.appendingPathComponent("Tests/Fixtures/shared-data")
    }

    /// The event schemas in the repository.
    static func schemas() throws -> SchemaCatalog {
        try SchemaCatalog.load(from: repositoryRoot.appendingPathComponent("schemas"))
    }
}
