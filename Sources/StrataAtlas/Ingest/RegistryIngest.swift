import Foundation
import StrataAtlasModel
import StrataCore

extension AtlasIngest {
    /// The registry responses in the shared data set, grouped by package: each group is one
    /// package's responses, as `strata ingest registry` takes them (one invocation per package).
    public static let sampleRegistryGroups: [[String]] = [
            ["crates_package.json", "crates_dependencies.json", "crates_reverse_dependencies.json"], ["npm_package.json", "npm_downloads.json"],
            ["pypi_package.json", "pypi_stats_recent.json"], ["pubdev_package.json", "pubdev_metrics.json", "pubdev_search.json"],
            ["pubdev_package_minimal.json", "pubdev_search_empty.json"],
            ["packagist_package.json", "packagist_downloads.json", "packagist_dependents.json"],
            ["packagist_package_dev_only.json", "packagist_dependents_empty.json"],
            ["depsdev_package_stellar_sdk.json", "depsdev_requirements_stellar_sdk.json", "depsdev_project_batch_stellarcn.json"],
        ]

    /// Registry API responses (crates.io, npm, PyPI, pub.dev, Packagist, deps.dev) as
    /// `registry.package.observed` and `registry.repository.observed` events.
    public func registryDrafts(paths: [String]) throws -> [EventDraft] {
        let inputs = try files(paths, extensions: [".json"]).map { (path: $0, bytes: try read($0)) }
        return try Self.registryDrafts(RegistryParser.observations(from: inputs), source: "ingest:registry")
    }

    /// The events of parsed registry responses (from files or a crawl).
    public static func registryDrafts(_ parsed: RegistryParser.Result, source: String) -> [EventDraft] {
        var drafts: [EventDraft] = []
        for o in parsed.observations {
            var payload: [String: JSONValue] = [
                "ecosystem": .string(o.ecosystem), "purl": .string(o.purl),
                "dependencies": .array(o.dependencies.map { d in
                    ["purl": .string(d.purl), "version_range": d.versionRange.map(JSONValue.string) ?? .null]
                }),
                "dependents": .array(o.dependents.map(JSONValue.string)),
                "releases": .array(o.releases.map { r in ["version": .string(r.version), "date": r.date.map(JSONValue.string) ?? .null] }),
            ]
            if let v = o.latestVersion { payload["latest_version"] = .string(v) }
            if let v = o.repositoryURL { payload["repository_url"] = .string(v) }
            if let v = o.downloads30d { payload["downloads_30d"] = .int(v) }
            if let v = o.stars { payload["stars"] = .int(v) }
            if let v = o.forks { payload["forks"] = .int(v) }
            drafts.append(EventDraft(topic: AtlasEvents.registryTopic, key: o.purl, type: AtlasEvents.packageObserved,
                source: source, payload: .object(payload), location: InputLocation(source: "registry \(o.purl)")))
        }
        for s in parsed.repositorySignals {
            var payload: [String: JSONValue] = ["repository_url": .string(s.repository)]
            if let v = s.stars { payload["stars"] = .int(v) }
            if let v = s.forks { payload["forks"] = .int(v) }
            drafts.append(EventDraft(topic: AtlasEvents.registryTopic, key: s.repository, type: AtlasEvents.repositoryObserved,
                source: source, payload: .object(payload), location: InputLocation(source: "registry \(s.repository)")))
        }
        return drafts
    }
}
