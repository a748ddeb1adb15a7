import StrataCore

/// What one package registry says about one package, normalized across registries (PG Atlas's
/// crawler contract): the package's id, its latest version, repository, forward dependencies,
/// dependents, 30-day downloads and releases.
public struct RegistryObservation: Sendable, Equatable {
    /// "cargo", "npm", "pypi", "pub", "composer", or "depsdev:<purl type>" (e.g. "depsdev:pypi").
    public var ecosystem: String
    /// The package id without a version, e.g. `pkg:npm/%40npmcli/arborist` (see ``RegistryIdentifiers``).
    public var purl: String
    public var latestVersion: String?
    /// Normalized: https, no "git+", no trailing ".git" or "/", no fragment or query.
    public var repositoryURL: String?
    /// Forward dependencies of the latest version, sorted by purl (then range).
    public var dependencies: [Dependency]
    /// Purls of packages that depend on this one, sorted, without the package itself.
    public var dependents: [String]
    public var downloads30d: Int64?
    /// Filled from a deps.dev project response whose repository equals ``repositoryURL``.
    public var stars: Int64?
    public var forks: Int64?
    /// Sorted by date (undated last), then by version.
    public var releases: [Release]

    public struct Dependency: Sendable, Equatable {
        public var purl: String
        /// The range exactly as the registry gives it (PyPI: the specifier without spaces).
        public var versionRange: String?

        public init(purl: String, versionRange: String?) {
            self.purl = purl
            self.versionRange = versionRange
        }
    }

    public struct Release: Sendable, Equatable {
        public var version: String
        /// RFC 3339, as the registry gives it; nil when the registry gives none (or no valid one).
        public var date: String?

        public init(version: String, date: String?) {
            self.version = version
            self.date = date
        }
    }

    public init(
        ecosystem: String, purl: String, latestVersion: String? = nil, repositoryURL: String? = nil,
        dependencies: [Dependency] = [], dependents: [String] = [], downloads30d: Int64? = nil,
        stars: Int64? = nil, forks: Int64? = nil, releases: [Release] = []
    ) {
        self.ecosystem = ecosystem
        self.purl = purl
        self.latestVersion = latestVersion
        self.repositoryURL = repositoryURL
        self.dependencies = dependencies
        self.dependents = dependents
        self.downloads30d = downloads30d
        self.stars = stars
        self.forks = forks
        self.releases = releases
    }
}

/// Popularity of a source repository, from deps.dev's project batch response.
public struct RepositorySignals: Sendable, Equatable {
    /// e.g. `https://github.com/owner/repo` (deps.dev's project id with `https://`).
    public var repository: String
    public var stars: Int64?
    public var forks: Int64?

    public init(repository: String, stars: Int64?, forks: Int64?) {
        self.repository = repository
        self.stars = stars
        self.forks = forks
    }
}

/// One registry API response, recognized and parsed (see ``RegistryParser/document(path:bytes:)``).
public struct RegistryDocument: Sendable, Equatable {
    public enum Registry: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case crates, npm, pypi, pub, packagist, depsdev

        /// The file-name prefix that names this registry (`crates_serde.json`).
        public var fileNamePrefix: String {
            switch self {
            case .crates: "crates_"
            case .npm: "npm_"
            case .pypi: "pypi_"
            case .pub: "pubdev_"
            case .packagist: "packagist_"
            case .depsdev: "depsdev_"
            }
        }

        public var description: String {
            switch self {
            case .crates: "crates.io"
            case .npm: "npm"
            case .pypi: "PyPI"
            case .pub: "pub.dev"
            case .packagist: "Packagist"
            case .depsdev: "deps.dev"
            }
        }
    }

    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The package's metadata (crates.io crate, npm packument, PyPI JSON, pub.dev package,
        /// Packagist package, deps.dev GetPackage).
        case package
        /// crates.io's dependencies of one version.
        case dependencies
        /// deps.dev's requirements of one version.
        case requirements
        /// crates.io reverse dependencies, pub.dev `dependency:` search, Packagist dependents.
        case dependents
        /// npm point downloads, pypistats recent, Packagist downloads.
        case downloads
        /// pub.dev metrics (30-day downloads).
        case metrics
        /// deps.dev project batch (stars and forks of repositories).
        case projectBatch
    }

    /// The file the response came from.
    public var path: String
    /// Nil only for an empty result list (`{"packages": []}`) that could be pub.dev's or
    /// Packagist's and whose file name does not say which.
    public var registry: Registry?
    public var kind: Kind
    /// The package the response names, when it names one (a crates.io dependencies response or a
    /// pub.dev search result does not).
    public var packagePurl: String?

    /// Registries this document may belong to (one, except for an unnamed empty result list).
    var candidates: [Registry]
    var fragment: Fragment
}

/// The pieces of an observation one response contributes.
struct Fragment: Sendable, Equatable {
    var ecosystem: String?
    var latestVersion: String?
    var repositoryURL: String?
    var dependencies: [RegistryObservation.Dependency]?
    var dependents: [String]?
    var downloads30d: Int64?
    var releases: [RegistryObservation.Release]?
    var signals: [RepositorySignals] = []
    /// The version the dependencies belong to (deps.dev requirements, crates.io version id).
    var dependenciesVersion: String?
    var dependenciesVersionID: Int64?
    /// crates.io: version number -> version id, to check the dependencies response's version.
    var versionIDs: [String: Int64] = [:]
}
