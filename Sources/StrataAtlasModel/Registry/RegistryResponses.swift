import Foundation
import StrataCore

/// Reads one response's fields, failing with the file's name and the field's path.
struct ResponseReader {
    let path: String
    let what: String

    func fail(_ message: String) -> StrataError {
        StrataError(.invalidInput, "\(what): \(message)", at: InputLocation(source: path))
    }

    func object(_ value: JSONValue?, _ field: String) throws(StrataError) -> [String: JSONValue] {
        guard let value else { throw fail("\(field) is missing") }
        guard let o = value.objectValue else { throw fail("\(field) must be an object, found \(value.typeName)") }
        return o
    }

    /// Absent or null gives nil; another type fails.
    func optionalObject(_ value: JSONValue?, _ field: String) throws(StrataError) -> [String: JSONValue]? {
        guard let value, !value.isNull else { return nil }
        guard let o = value.objectValue else { throw fail("\(field) must be an object, found \(value.typeName)") }
        return o
    }

    func array(_ value: JSONValue?, _ field: String) throws(StrataError) -> [JSONValue] {
        guard let value else { throw fail("\(field) is missing") }
        guard let a = value.arrayValue else { throw fail("\(field) must be an array, found \(value.typeName)") }
        return a
    }

    func optionalArray(_ value: JSONValue?, _ field: String) throws(StrataError) -> [JSONValue]? {
        guard let value, !value.isNull else { return nil }
        guard let a = value.arrayValue else { throw fail("\(field) must be an array, found \(value.typeName)") }
        return a
    }

    /// A non-empty string.
    func string(_ value: JSONValue?, _ field: String) throws(StrataError) -> String {
        guard let value else { throw fail("\(field) is missing") }
        guard let s = value.stringValue else { throw fail("\(field) must be a string, found \(value.typeName)") }
        guard !s.isEmpty else { throw fail("\(field) is empty") }
        return s
    }

    /// Absent, null or empty gives nil; another type fails.
    func optionalString(_ value: JSONValue?, _ field: String) throws(StrataError) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let s = value.stringValue else { throw fail("\(field) must be a string, found \(value.typeName)") }
        return s.isEmpty ? nil : s
    }

    /// A count: an integer (a fractional number is truncated); absent or null gives nil.
    func optionalCount(_ value: JSONValue?, _ field: String) throws(StrataError) -> Int64? {
        guard let value, !value.isNull else { return nil }
        if let n = value.int64Value { return n }
        if let d = value.doubleValue, d.isFinite, abs(d) < 9.2e18 { return Int64(d) }
        throw fail("\(field) must be a number, found \(value.typeName)")
    }

    func count(_ value: JSONValue?, _ field: String) throws(StrataError) -> Int64 {
        guard let n = try optionalCount(value, field) else { throw fail("\(field) is missing") }
        return n
    }

    /// The first of `values` that is a non-empty string.
    func firstString(_ values: [(JSONValue?, String)]) throws(StrataError) -> String? {
        for (value, field) in values {
            if let s = try optionalString(value, field) { return s }
        }
        return nil
    }

    /// The first of `values` that is a count.
    func firstCount(_ values: [(JSONValue?, String)]) throws(StrataError) -> Int64? {
        for (value, field) in values {
            if let n = try optionalCount(value, field) { return n }
        }
        return nil
    }

    /// The first of `values` that normalizes to a repository URL.
    func repository(_ values: [(JSONValue?, String)]) throws(StrataError) -> String? {
        for (value, field) in values {
            if let s = try optionalString(value, field), let url = RegistryIdentifiers.repositoryURL(s) { return url }
        }
        return nil
    }
}

/// Recognizes a response by its shape.
enum ResponseShape {
    /// The registries and kind the content fits, or nil when it fits none.
    static func detect(_ value: JSONValue, fileNamePrefix: RegistryDocument.Registry?) -> (
        candidates: [RegistryDocument.Registry], kind: RegistryDocument.Kind
    )? {
        guard let obj = value.objectValue else { return nil }
        if obj["crate"]?.objectValue != nil { return ([.crates], .package) }
        if let deps = obj["dependencies"]?.arrayValue, deps.allSatisfy({ $0["crate_id"] != nil }) {
            return obj["versions"] != nil || obj["meta"] != nil ? ([.crates], .dependents) : ([.crates], .dependencies)
        }
        if obj["dist-tags"]?.objectValue != nil { return ([.npm], .package) }
        if obj["downloads"]?.doubleValue != nil, obj["package"]?.stringValue != nil { return ([.npm], .downloads) }
        if let info = obj["info"]?.objectValue, obj["releases"] != nil || obj["urls"] != nil || info["version"] != nil {
            return ([.pypi], .package)
        }
        if obj["data"]?["last_month"] != nil { return ([.pypi], .downloads) }
        if let latest = obj["latest"]?.objectValue, latest["pubspec"] != nil || latest["version"] != nil {
            return ([.pub], .package)
        }
        if obj["score"]?.objectValue != nil || obj["scorecard"]?.objectValue != nil { return ([.pub], .metrics) }
        if let packages = obj["packages"]?.arrayValue {
            if packages.isEmpty { return ([.pub, .packagist], .dependents) }
            if packages.allSatisfy({ $0["package"]?.stringValue != nil }) { return ([.pub], .dependents) }
            if packages.allSatisfy({ $0["name"]?.stringValue != nil }) { return ([.packagist], .dependents) }
            return nil
        }
        if let package = obj["package"]?.objectValue {
            if package["versions"]?.objectValue != nil { return ([.packagist], .package) }
            if package["downloads"]?.objectValue != nil { return ([.packagist], .downloads) }
            return nil
        }
        if obj["requirements"]?.arrayValue != nil { return ([.depsdev], .requirements) }
        if obj["system"]?.stringValue != nil || obj["packageKey"]?.objectValue != nil, obj["versions"]?.arrayValue != nil {
            return ([.depsdev], .package)
        }
        if obj["responses"]?.arrayValue != nil { return ([.depsdev], .projectBatch) }
        let projectFields = ["project_id", "projectKey", "stars_count", "starsCount", "forks_count", "forksCount"]
        if !obj.isEmpty, obj.values.allSatisfy({ v in projectFields.contains { v[$0] != nil } }) {
            return ([.depsdev], .projectBatch)
        }
        if obj.isEmpty, fileNamePrefix == .depsdev { return ([.depsdev], .projectBatch) }
        return nil
    }
}

/// Extracts each kind of response into a ``Fragment`` and the package it names.
enum ResponseExtractor {
    typealias Dependency = RegistryObservation.Dependency
    typealias Release = RegistryObservation.Release

    static func extract(
        _ value: JSONValue, registry: RegistryDocument.Registry, kind: RegistryDocument.Kind, path: String
    ) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        switch (registry, kind) {
        case (.crates, .package): return try cratesPackage(value, path)
        case (.crates, .dependencies): return try cratesDependencies(value, path)
        case (.crates, .dependents): return try cratesReverseDependencies(value, path)
        case (.npm, .package): return try npmPackage(value, path)
        case (.npm, .downloads): return try npmDownloads(value, path)
        case (.pypi, .package): return try pypiPackage(value, path)
        case (.pypi, .downloads): return try pypiStats(value, path)
        case (.pub, .package): return try pubPackage(value, path)
        case (.pub, .metrics): return try pubMetrics(value, path)
        case (.pub, .dependents): return try pubSearch(value, path)
        case (.packagist, .package): return try packagistPackage(value, path)
        case (.packagist, .downloads): return try packagistDownloads(value, path)
        case (.packagist, .dependents): return try packagistDependents(value, path)
        case (.depsdev, .package): return try depsDevPackage(value, path)
        case (.depsdev, .requirements): return try depsDevRequirements(value, path)
        case (.depsdev, .projectBatch): return try depsDevProjectBatch(value, path)
        default:
            throw StrataError(.invalidInput, "no \(registry) \(kind.rawValue) response is known", at: InputLocation(source: path))
        }
    }

    // MARK: - crates.io

    static func cratesPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "crates.io package response")
        let crate = try r.object(value["crate"], "crate")
        let name = try r.string(crate["name"], "crate.name")
        var f = Fragment(ecosystem: "cargo")
        f.latestVersion = try r.firstString([
            (crate["max_stable_version"], "crate.max_stable_version"), (crate["max_version"], "crate.max_version"),
            (crate["newest_version"], "crate.newest_version"),
        ])
        f.repositoryURL = try r.repository([(crate["repository"], "crate.repository"), (crate["homepage"], "crate.homepage")])
        f.downloads30d = try r.optionalCount(crate["recent_downloads"], "crate.recent_downloads").map { $0 / 3 }
        var releases: [Release] = []
        for (i, v) in (try r.optionalArray(value["versions"], "versions") ?? []).enumerated() {
            let num = try r.string(v["num"], "versions[\(i)].num")
            releases.append(Release(version: num, date: RegistryText.rfc3339(try r.optionalString(v["created_at"], "versions[\(i)].created_at"))))
            if let id = try r.optionalCount(v["id"], "versions[\(i)].id") { f.versionIDs[num] = id }
        }
        f.releases = releases
        return (RegistryIdentifiers.cargo(name), f)
    }

    /// `GET /api/v1/crates/{name}/{version}/dependencies`: normal dependencies (optional ones too).
    static func cratesDependencies(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "crates.io dependencies response")
        var f = Fragment()
        var dependencies: [Dependency] = []
        var versionIDs = Set<Int64>()
        for (i, d) in try r.array(value["dependencies"], "dependencies").enumerated() {
            let crate = try r.string(d["crate_id"], "dependencies[\(i)].crate_id")
            if let id = try r.optionalCount(d["version_id"], "dependencies[\(i)].version_id") { versionIDs.insert(id) }
            let kind = try r.optionalString(d["kind"], "dependencies[\(i)].kind")
            guard kind == nil || kind == "normal" else { continue }
            dependencies.append(Dependency(purl: RegistryIdentifiers.cargo(crate), versionRange: try r.optionalString(d["req"], "dependencies[\(i)].req")))
        }
        guard versionIDs.count <= 1 else { throw r.fail("the dependencies belong to \(versionIDs.count) different versions") }
        f.dependenciesVersionID = versionIDs.first
        f.dependencies = dependencies
        return (nil, f)
    }

    /// `GET /api/v1/crates/{name}/reverse_dependencies`: the crates whose versions depend on this one
    /// with kind normal.
    static func cratesReverseDependencies(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "crates.io reverse dependencies response")
        var crateOfVersion: [Int64: String] = [:]
        for (i, v) in (try r.optionalArray(value["versions"], "versions") ?? []).enumerated() {
            let id = try r.count(v["id"], "versions[\(i)].id")
            crateOfVersion[id] = try r.string(v["crate"], "versions[\(i)].crate")
        }
        var dependents: [String] = []
        var targets = Set<String>()
        for (i, d) in try r.array(value["dependencies"], "dependencies").enumerated() {
            if let target = try r.optionalString(d["crate_id"], "dependencies[\(i)].crate_id") { targets.insert(target) }
            let kind = try r.optionalString(d["kind"], "dependencies[\(i)].kind")
            guard kind == nil || kind == "normal" else { continue }
            let versionID = try r.count(d["version_id"], "dependencies[\(i)].version_id")
            guard let crate = crateOfVersion[versionID] else {
                throw r.fail("dependencies[\(i)].version_id \(versionID) is not among versions[].id")
            }
            dependents.append(RegistryIdentifiers.cargo(crate))
        }
        guard targets.count <= 1 else { throw r.fail("the dependencies point at \(targets.count) different crates: \(targets.sorted().joined(separator: ", "))") }
        var f = Fragment()
        f.dependents = dependents
        return (targets.first.map(RegistryIdentifiers.cargo), f)
    }

    // MARK: - npm

    /// The registry's package document (`GET registry.npmjs.org/{name}`).
    static func npmPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "npm package response")
        let name = try r.string(value["name"], "name")
        let tags = try r.object(value["dist-tags"], "dist-tags")
        let versions = try r.optionalObject(value["versions"], "versions") ?? [:]
        let time = try r.optionalObject(value["time"], "time") ?? [:]
        var f = Fragment(ecosystem: "npm")
        f.latestVersion = try r.optionalString(tags["latest"], "dist-tags.latest")
        var latestDocument: JSONValue?
        if let latest = f.latestVersion {
            guard let document = versions[latest] else { throw r.fail("dist-tags.latest is \(latest) but versions has no \(latest)") }
            guard document.objectValue != nil else { throw r.fail("versions[\"\(latest)\"] must be an object, found \(document.typeName)") }
            latestDocument = document
        }
        var dependencies: [Dependency] = []
        let field = "versions[\"\(f.latestVersion ?? "")\"].dependencies"
        for (dep, range) in try r.optionalObject(latestDocument?["dependencies"], field) ?? [:] {
            dependencies.append(Dependency(purl: RegistryIdentifiers.npm(dep), versionRange: range.stringValue))
        }
        f.dependencies = dependencies
        f.repositoryURL = try npmRepository(latestDocument?["repository"], "versions[\"\(f.latestVersion ?? "")\"].repository", r)
        if f.repositoryURL == nil { f.repositoryURL = try npmRepository(value["repository"], "repository", r) }
        var releases: [Release] = []
        for version in versions.keys {
            releases.append(Release(version: version, date: RegistryText.rfc3339(time[version]?.stringValue)))
        }
        f.releases = releases
        return (RegistryIdentifiers.npm(name), f)
    }

    /// `repository` is an object with `url`, or a string (a URL or a `github:owner/repo` /
    /// `owner/repo` shorthand).
    static func npmRepository(_ value: JSONValue?, _ field: String, _ r: ResponseReader) throws(StrataError) -> String? {
        guard let value, !value.isNull else { return nil }
        let text: String?
        if value.objectValue != nil {
            text = try r.optionalString(value["url"], field + ".url")
        } else {
            text = try r.optionalString(value, field)
        }
        guard let text else { return nil }
        if let url = RegistryIdentifiers.repositoryURL(text) { return url }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, parts.allSatisfy({ !$0.isEmpty && !$0.contains(":") && !$0.contains("@") }) {
            return RegistryIdentifiers.repositoryURL("https://github.com/" + text)
        }
        return nil
    }

    /// `GET api.npmjs.org/downloads/point/last-month/{name}`.
    static func npmDownloads(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "npm downloads response")
        var f = Fragment()
        f.downloads30d = try r.count(value["downloads"], "downloads")
        return (try r.optionalString(value["package"], "package").map(RegistryIdentifiers.npm), f)
    }

    // MARK: - PyPI

    /// `GET pypi.org/pypi/{name}/json`.
    static func pypiPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "PyPI package response")
        let info = try r.object(value["info"], "info")
        let name = try r.string(info["name"], "info.name")
        var f = Fragment(ecosystem: "pypi")
        f.latestVersion = try r.optionalString(info["version"], "info.version")
        var dependencies: [Dependency] = []
        for (i, entry) in (try r.optionalArray(info["requires_dist"], "info.requires_dist") ?? []).enumerated() {
            let text = try r.string(entry, "info.requires_dist[\(i)]")
            // PG Atlas skips what `packaging` cannot parse.
            guard let requirement = PythonRequirement(text) else { continue }
            if let marker = requirement.marker, marker.contains("extra") { continue }
            dependencies.append(Dependency(purl: RegistryIdentifiers.pypi(requirement.name), versionRange: requirement.specifier))
        }
        f.dependencies = dependencies
        let urls = try r.optionalObject(info["project_urls"], "info.project_urls") ?? [:]
        var candidates: [(JSONValue?, String)] = []
        for key in ["Repository", "Source", "Source Code", "Homepage", "Home"] {
            let value = urls[key] ?? urls.first(where: { $0.key.lowercased() == key.lowercased() })?.value
            candidates.append((value, "info.project_urls[\"\(key)\"]"))
        }
        f.repositoryURL = try r.repository(candidates)
        var releases: [Release] = []
        for (version, files) in try r.optionalObject(value["releases"], "releases") ?? [:] {
            var earliest: (text: String, date: Date)?
            for (i, file) in try r.array(files, "releases[\"\(version)\"]").enumerated() {
                let field = "releases[\"\(version)\"][\(i)]"
                let raw = try r.firstString([
                    (file["upload_time_iso_8601"], field + ".upload_time_iso_8601"), (file["upload_time"], field + ".upload_time"),
                ])
                guard let text = RegistryText.rfc3339(raw), let date = RFC3339.parse(text) else { continue }
                if earliest == nil || date < earliest!.date { earliest = (text, date) }
            }
            releases.append(Release(version: version, date: earliest?.text))
        }
        f.releases = releases
        return (RegistryIdentifiers.pypi(name), f)
    }

    /// `GET pypistats.org/api/packages/{name}/recent?period=month`.
    static func pypiStats(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "pypistats recent downloads response")
        let data = try r.object(value["data"], "data")
        var f = Fragment()
        f.downloads30d = try r.count(data["last_month"], "data.last_month")
        return (try r.optionalString(value["package"], "package").map(RegistryIdentifiers.pypi), f)
    }

    // MARK: - pub.dev

    /// `GET pub.dev/api/packages/{name}`.
    static func pubPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "pub.dev package response")
        let name = try r.string(value["name"], "name")
        let latest = try r.object(value["latest"], "latest")
        var f = Fragment(ecosystem: "pub")
        f.latestVersion = try r.string(latest["version"], "latest.version")
        let pubspec = try r.optionalObject(latest["pubspec"], "latest.pubspec") ?? [:]
        var dependencies: [Dependency] = []
        for (dep, constraint) in try r.optionalObject(pubspec["dependencies"], "latest.pubspec.dependencies") ?? [:] {
            if dep == "flutter" || constraint["sdk"] != nil { continue }
            dependencies.append(Dependency(purl: RegistryIdentifiers.pub(dep), versionRange: constraint.stringValue))
        }
        f.dependencies = dependencies
        f.repositoryURL = try r.repository([
            (pubspec["repository"], "latest.pubspec.repository"), (pubspec["homepage"], "latest.pubspec.homepage"),
        ])
        var releases: [Release] = []
        for (i, v) in (try r.optionalArray(value["versions"], "versions") ?? []).enumerated() {
            let version = try r.string(v["version"], "versions[\(i)].version")
            releases.append(Release(version: version, date: RegistryText.rfc3339(try r.optionalString(v["published"], "versions[\(i)].published"))))
        }
        f.releases = releases
        return (RegistryIdentifiers.pub(name), f)
    }

    /// `GET pub.dev/api/packages/{name}/metrics`.
    static func pubMetrics(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "pub.dev metrics response")
        var f = Fragment()
        let score = try r.optionalObject(value["score"], "score") ?? [:]
        f.downloads30d = try r.optionalCount(score["downloadCount30Days"], "score.downloadCount30Days")
        let scorecard = try r.optionalObject(value["scorecard"], "scorecard") ?? [:]
        return (try r.optionalString(scorecard["packageName"], "scorecard.packageName").map(RegistryIdentifiers.pub), f)
    }

    /// `GET pub.dev/api/search?q=dependency:{name}`: the packages that depend on it.
    static func pubSearch(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "pub.dev search response")
        var f = Fragment()
        var dependents: [String] = []
        for (i, p) in try r.array(value["packages"], "packages").enumerated() {
            dependents.append(RegistryIdentifiers.pub(try r.string(p["package"], "packages[\(i)].package")))
        }
        f.dependents = dependents
        return (nil, f)
    }

    // MARK: - Packagist

    /// `GET packagist.org/packages/{vendor}/{name}.json`.
    static func packagistPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "Packagist package response")
        let package = try r.object(value["package"], "package")
        let name = try r.string(package["name"], "package.name")
        let versions = try r.object(package["versions"], "package.versions")
        var f = Fragment(ecosystem: "composer")
        func isDev(_ v: String) -> Bool { v.hasPrefix("dev-") || v.hasSuffix("-dev") }
        let stable = versions.keys.filter { !isDev($0) }
        let latest: String? =
            if let best = stable.max(by: { a, b in
                let (x, y) = (RegistryText.composerTuple(a), RegistryText.composerTuple(b))
                return x != y ? RegistryText.tupleLess(x, y) : a < b
            }) {
                best
            } else if versions["dev-main"] != nil {
                "dev-main"
            } else if versions["dev-master"] != nil {
                "dev-master"
            } else {
                versions.keys.sorted().first
            }
        f.latestVersion = latest
        var dependencies: [Dependency] = []
        if let latest {
            let field = "package.versions[\"\(latest)\"]"
            let document = try r.object(versions[latest], field)
            for (dep, range) in try r.optionalObject(document["require"], field + ".require") ?? [:] {
                // Platform packages: php and its variants, extensions, libraries, Composer itself.
                if dep == "php" || dep == "composer-plugin-api" || dep.hasPrefix("ext-") || dep.hasPrefix("lib-") || !dep.contains("/") {
                    continue
                }
                dependencies.append(Dependency(purl: RegistryIdentifiers.composer(dep), versionRange: range.stringValue))
            }
            let source = try r.optionalObject(document["source"], field + ".source") ?? [:]
            f.repositoryURL = try r.repository([(source["url"], field + ".source.url"), (package["repository"], "package.repository")])
        }
        f.dependencies = dependencies
        var releases: [Release] = []
        for version in stable {
            let document = try r.object(versions[version], "package.versions[\"\(version)\"]")
            releases.append(Release(version: version, date: RegistryText.rfc3339(try r.optionalString(document["time"], "package.versions[\"\(version)\"].time"))))
        }
        f.releases = releases
        return (RegistryIdentifiers.composer(name), f)
    }

    /// `GET packagist.org/packages/{vendor}/{name}/downloads.json`.
    static func packagistDownloads(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "Packagist downloads response")
        let package = try r.object(value["package"], "package")
        let downloads = try r.object(package["downloads"], "package.downloads")
        let total = try r.object(downloads["total"], "package.downloads.total")
        var f = Fragment()
        f.downloads30d = try r.count(total["monthly"], "package.downloads.total.monthly")
        return (try r.optionalString(package["name"], "package.name").map(RegistryIdentifiers.composer), f)
    }

    /// `GET packagist.org/packages/{vendor}/{name}/dependents.json`.
    static func packagistDependents(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "Packagist dependents response")
        var f = Fragment()
        var dependents: [String] = []
        for (i, p) in try r.array(value["packages"], "packages").enumerated() {
            dependents.append(RegistryIdentifiers.composer(try r.string(p["name"], "packages[\(i)].name")))
        }
        f.dependents = dependents
        return (nil, f)
    }

    // MARK: - deps.dev

    /// The package key's system and name: `system`/`name` or `packageKey`/`versionKey`.
    static func depsDevKey(_ value: JSONValue, _ r: ResponseReader) throws(StrataError) -> (type: String, name: String, ecosystem: String) {
        let key = value["packageKey"] ?? value["versionKey"] ?? value
        let system = try r.string(key["system"], key == value ? "system" : "packageKey.system")
        let name = try r.string(key["name"], key == value ? "name" : "packageKey.name")
        guard let type = RegistryIdentifiers.purlType(depsDevSystem: system) else {
            throw r.fail("unknown system \(system) (expected PYPI, NPM, CARGO, MAVEN, GO, RUBYGEMS or NUGET)")
        }
        return (type, name, "depsdev:" + type)
    }

    /// GetPackage: the versions with their publication times and the default version.
    static func depsDevPackage(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "deps.dev package response")
        let key = try depsDevKey(value, r)
        var f = Fragment(ecosystem: key.ecosystem)
        var releases: [Release] = []
        var flaggedDefault: String?
        for (i, v) in try r.array(value["versions"], "versions").enumerated() {
            let version: String
            if let plain = try r.optionalString(v["version"], "versions[\(i)].version") {
                version = plain
            } else {
                version = try r.string(v["versionKey"]?["version"], "versions[\(i)].versionKey.version")
            }
            let published = try r.firstString([
                (v["published_at"], "versions[\(i)].published_at"), (v["publishedAt"], "versions[\(i)].publishedAt"),
            ])
            releases.append(Release(version: version, date: RegistryText.rfc3339(published)))
            if (v["is_default"] ?? v["isDefault"])?.boolValue == true { flaggedDefault = version }
        }
        f.releases = releases
        f.latestVersion = try r.firstString([(value["default_version"], "default_version"), (value["defaultVersion"], "defaultVersion")])
            ?? flaggedDefault
        return ("pkg:\(key.type)/\(key.name)", f)
    }

    /// GetRequirements: the declared dependencies of one version, in the package's own system.
    static func depsDevRequirements(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "deps.dev requirements response")
        let key = try depsDevKey(value, r)
        var f = Fragment()
        f.dependenciesVersion = try r.firstString([(value["version"], "version"), (value["versionKey"]?["version"], "versionKey.version")])
        var dependencies: [Dependency] = []
        for (i, q) in try r.array(value["requirements"], "requirements").enumerated() {
            let name = try r.string(q["name"], "requirements[\(i)].name")
            let constraint = try r.firstString([
                (q["version_constraint"], "requirements[\(i)].version_constraint"),
                (q["versionConstraint"], "requirements[\(i)].versionConstraint"),
            ])
            dependencies.append(Dependency(purl: "pkg:\(key.type)/\(name)", versionRange: constraint))
        }
        f.dependencies = dependencies
        return ("pkg:\(key.type)/\(key.name)", f)
    }

    /// GetProjectBatch: stars and forks per project, as a map keyed by project id or as the API's
    /// `responses` list.
    static func depsDevProjectBatch(_ value: JSONValue, _ path: String) throws(StrataError) -> (purl: String?, fragment: Fragment) {
        let r = ResponseReader(path: path, what: "deps.dev project batch response")
        var projects: [(id: String?, project: JSONValue, field: String)] = []
        if let responses = value["responses"]?.arrayValue {
            for (i, response) in responses.enumerated() {
                guard let project = response["project"], !project.isNull else { continue }
                projects.append((response["request"]?["projectKey"]?["id"]?.stringValue, project, "responses[\(i)].project"))
            }
        } else {
            for (id, project) in (value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                projects.append((id, project, "[\"\(id)\"]"))
            }
        }
        var f = Fragment()
        for (key, project, field) in projects {
            _ = try r.object(project, field)
            let id = try r.firstString([(project["project_id"], field + ".project_id"), (project["projectKey"]?["id"], field + ".projectKey.id")])
                ?? key
            guard let id, let repository = RegistryIdentifiers.repositoryURL("https://" + id) else {
                throw r.fail("\(field) has no project id (like github.com/owner/repo)")
            }
            let stars = try r.firstCount([(project["stars_count"], field + ".stars_count"), (project["starsCount"], field + ".starsCount")])
            let forks = try r.firstCount([(project["forks_count"], field + ".forks_count"), (project["forksCount"], field + ".forksCount")])
            f.signals.append(RepositorySignals(repository: repository, stars: stars, forks: forks))
        }
        return (nil, f)
    }
}
