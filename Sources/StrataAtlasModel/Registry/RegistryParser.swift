import StrataCore

/// Turns saved package-registry API responses (crates.io, npm, PyPI + pypistats, pub.dev,
/// Packagist, deps.dev) into one ``RegistryObservation`` per package, following PG Atlas's
/// crawlers.
///
/// Each file is recognized by its content; a file-name prefix (`crates_`, `npm_`, `pypi_`,
/// `pubdev_`, `packagist_`, `depsdev_`) must agree with the content and decides the one case the
/// content cannot (an empty `{"packages": []}`, which pub.dev search and Packagist dependents both
/// return). Responses about a package (its dependencies, dependents, downloads, metrics,
/// requirements) join the package response that names the same package; one that does not name
/// its package joins the only package response of its registry in the input.
public enum RegistryParser {
    public typealias Result = (observations: [RegistryObservation], repositorySignals: [RepositorySignals])

    /// Parses, groups and merges `files`. Observations are sorted by ecosystem, then purl;
    /// repository signals by repository.
    public static func observations(from files: [(path: String, bytes: [UInt8])]) throws(StrataError) -> Result {
        var documents: [RegistryDocument] = []
        for file in files { documents.append(try document(path: file.path, bytes: file.bytes)) }
        return try observations(merging: documents)
    }

    /// Parses and recognizes one response.
    public static func document(path: String, bytes: [UInt8]) throws(StrataError) -> RegistryDocument {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw StrataError(.invalidInput, "not a registry response: \(error)", at: InputLocation(source: path, line: error.line, column: error.column))
        }
        return try document(path: path, value: value)
    }

    /// Recognizes one already parsed response.
    public static func document(path: String, value: JSONValue) throws(StrataError) -> RegistryDocument {
        let prefix = fileNamePrefix(path)
        guard let shape = ResponseShape.detect(value, fileNamePrefix: prefix) else {
            let what: String =
                if let obj = value.objectValue {
                    obj.isEmpty ? "an empty object" : "an object with fields \(obj.keys.sorted().prefix(8).joined(separator: ", "))"
                } else {
                    "a top-level \(value.typeName)"
                }
            throw StrataError(.invalidInput, "not a recognized package-registry response: found \(what)", at: InputLocation(source: path))
        }
        var candidates = shape.candidates
        if let prefix {
            guard candidates.contains(prefix) else {
                throw StrataError(
                    .invalidInput,
                    "the file name says \(prefix) (\(prefix.fileNamePrefix)...) but the content is a \(candidates.map(\.description).joined(separator: " or ")) \(shape.kind.rawValue) response",
                    at: InputLocation(source: path))
            }
            candidates = [prefix]
        }
        let registry = candidates.count == 1 ? candidates[0] : nil
        var purl: String?
        var fragment = Fragment()
        if let registry {
            (purl, fragment) = try ResponseExtractor.extract(value, registry: registry, kind: shape.kind, path: path)
        } else {
            fragment.dependents = []  // the only ambiguous shape is an empty result list
        }
        return RegistryDocument(
            path: path, registry: registry, kind: shape.kind, packagePurl: purl, candidates: candidates, fragment: fragment)
    }

    /// The registry a file's name starts with (`crates_`, `npm_`, `pypi_`, `pubdev_`, `packagist_`, `depsdev_`).
    public static func fileNamePrefix(_ path: String) -> RegistryDocument.Registry? {
        let name = path.split(separator: "/").last.map { $0.lowercased() } ?? ""
        return RegistryDocument.Registry.allCases.first { name.hasPrefix($0.fileNamePrefix) }
    }

    /// Groups documents by package and merges each group into one observation.
    public static func observations(merging documents: [RegistryDocument]) throws(StrataError) -> Result {
        struct Group {
            var registry: RegistryDocument.Registry
            var packagePath: String
            var observation: RegistryObservation
            var versionIDs: [String: Int64]
            var dependenciesPath: String?
            var downloadsPath: String?
        }
        var groups: [Group] = []
        var signals: [String: (signal: RepositorySignals, path: String)] = [:]

        for doc in documents where doc.kind == .package {
            guard let registry = doc.registry, let purl = doc.packagePurl, let ecosystem = doc.fragment.ecosystem else { continue }
            if let other = groups.first(where: { $0.registry == registry && $0.observation.purl == purl }) {
                throw StrataError(
                    .invalidInput, "a second \(registry) package response for \(purl) (the first is \(other.packagePath))",
                    at: InputLocation(source: doc.path))
            }
            let f = doc.fragment
            groups.append(
                Group(
                    registry: registry, packagePath: doc.path,
                    observation: RegistryObservation(
                        ecosystem: ecosystem, purl: purl, latestVersion: f.latestVersion, repositoryURL: f.repositoryURL,
                        dependencies: f.dependencies ?? [], dependents: [], downloads30d: f.downloads30d,
                        releases: f.releases ?? []),
                    versionIDs: f.versionIDs,
                    dependenciesPath: f.dependencies == nil ? nil : doc.path,
                    downloadsPath: f.downloads30d == nil ? nil : doc.path))
        }

        for doc in documents where doc.kind != .package {
            let location = InputLocation(source: doc.path)
            if doc.kind == .projectBatch {
                for s in doc.fragment.signals {
                    if let earlier = signals[s.repository], earlier.signal != s {
                        throw StrataError(
                            .invalidInput, "\(s.repository) has other stars or forks in \(earlier.path)", at: location)
                    }
                    signals[s.repository] = (s, doc.path)
                }
                continue
            }
            // Which package the response belongs to.
            let index: Int
            if let purl = doc.packagePurl, let registry = doc.registry {
                guard let i = groups.firstIndex(where: { $0.registry == registry && $0.observation.purl == purl }) else {
                    throw StrataError(
                        .invalidInput,
                        "this \(registry) \(doc.kind.rawValue) response is about \(purl), but the input has no \(registry) package response for it",
                        at: location)
                }
                index = i
            } else {
                let matching = groups.indices.filter { doc.candidates.contains(groups[$0].registry) }
                let registries = doc.candidates.map(\.description).joined(separator: " or ")
                guard matching.count == 1 else {
                    let found = matching.isEmpty
                        ? "the input has no \(registries) package response"
                        : "the input has \(matching.count) \(registries) package responses (\(matching.map { groups[$0].observation.purl }.joined(separator: ", ")))"
                    throw StrataError(
                        .invalidInput,
                        "cannot tell which package this \(registries) \(doc.kind.rawValue) response belongs to: it names none and \(found)",
                        at: location)
                }
                index = matching[0]
            }

            let f = doc.fragment
            var group = groups[index]
            if let dependencies = f.dependencies {
                if let earlier = group.dependenciesPath {
                    throw StrataError(
                        .invalidInput, "\(group.observation.purl) already has its dependencies from \(earlier)", at: location)
                }
                if let version = f.dependenciesVersion, version != group.observation.latestVersion {
                    throw StrataError(
                        .invalidInput,
                        "the requirements are for version \(version) of \(group.observation.purl), but its default version is \(group.observation.latestVersion ?? "unknown")",
                        at: location)
                }
                if let id = f.dependenciesVersionID, let latest = group.observation.latestVersion, let latestID = group.versionIDs[latest],
                    id != latestID
                {
                    let version = group.versionIDs.first { $0.value == id }?.key ?? "id \(id)"
                    throw StrataError(
                        .invalidInput,
                        "the dependencies are for version \(version) of \(group.observation.purl), not its latest stable version \(latest)",
                        at: location)
                }
                group.observation.dependencies = dependencies
                group.dependenciesPath = doc.path
            }
            if let downloads = f.downloads30d {
                if let earlier = group.downloadsPath {
                    throw StrataError(
                        .invalidInput, "\(group.observation.purl) already has its downloads from \(earlier)", at: location)
                }
                group.observation.downloads30d = downloads
                group.downloadsPath = doc.path
            }
            if let dependents = f.dependents {
                // Several pages of dependents add up.
                group.observation.dependents += dependents
            }
            groups[index] = group
        }

        let sortedSignals = signals.values.map(\.signal).sorted { $0.repository < $1.repository }
        var observations: [RegistryObservation] = []
        for group in groups {
            var o = group.observation
            o.dependencies = RegistryText.sortDependencies(o.dependencies)
            o.dependents = Set(o.dependents).subtracting([o.purl]).sorted()
            o.releases = RegistryText.sortReleases(o.releases)
            if let url = o.repositoryURL?.lowercased(), let s = sortedSignals.first(where: { $0.repository.lowercased() == url }) {
                o.stars = s.stars
                o.forks = s.forks
            }
            observations.append(o)
        }
        observations.sort { ($0.ecosystem, $0.purl) < ($1.ecosystem, $1.purl) }
        return (observations, sortedSignals)
    }
}
