import Foundation
import StrataAtlasModel
import StrataCore
import Testing

@Suite struct RegistryParserTests {
    typealias Dependency = RegistryObservation.Dependency
    typealias Release = RegistryObservation.Release
    typealias File = (path: String, bytes: [UInt8])

    static var registry: URL { Fixtures.sharedData.appendingPathComponent("atlas/registry") }

    static func file(_ name: String) throws -> File {
        let url = registry.appendingPathComponent(name)
        return (url.path, Array(try Data(contentsOf: url)))
    }

    static func files(_ names: String...) throws -> [File] { try names.map(file) }

    static func inline(_ path: String, _ json: String) -> File { (path, Array(json.utf8)) }

    /// The one observation `names` make.
    static func observation(_ names: String...) throws -> RegistryObservation {
        let result = try RegistryParser.observations(from: try names.map(file))
        #expect(result.observations.count == 1, "\(names)")
        #expect(result.repositorySignals.isEmpty)
        return try #require(result.observations.first)
    }

    /// Parsing `files` fails with invalid_input located at `path`, and the message contains `text`.
    static func expectFailure(
        _ files: [File], at path: String, containing text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let result = try RegistryParser.observations(from: files)
            Issue.record("accepted: \(result)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
            #expect(error.location?.source == path, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(path), "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - One package per registry, from the real responses

    @Test func crates() throws {
        let o = try Self.observation("crates_package.json", "crates_dependencies.json", "crates_reverse_dependencies.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "cargo", purl: "pkg:cargo/serde", latestVersion: "1.0.228",
                    repositoryURL: "https://github.com/serde-rs/serde",
                    // tempfile is a dev-dependency; serde_derive is optional but normal.
                    dependencies: [
                        Dependency(purl: "pkg:cargo/serde_core", versionRange: "=1.0.228"),
                        Dependency(purl: "pkg:cargo/serde_derive", versionRange: "^1"),
                    ],
                    // libvpx-native-sys depends on serde as a build dependency only.
                    dependents: ["pkg:cargo/podcast"],
                    downloads30d: 156_720_146 / 3,
                    releases: [
                        Release(version: "1.0.0-beta.1", date: "2025-12-01T00:00:00.000000Z"),
                        Release(version: "1.0.227", date: "2026-03-01T08:30:00.000000Z"),
                        Release(version: "1.0.228", date: "2026-04-10T12:00:00.000000Z"),
                    ]))
        #expect(o.downloads30d == 52_240_048)
    }

    @Test func npm() throws {
        let o = try Self.observation("npm_package.json", "npm_downloads.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "npm", purl: "pkg:npm/%40npmcli/arborist", latestVersion: "9.4.2",
                    repositoryURL: "https://github.com/npm/cli",
                    // The latest version's dependencies, not 8.0.5's (the backport tag).
                    dependencies: [
                        Dependency(purl: "pkg:npm/%40npmcli/fs", versionRange: "^4.0.0"),
                        Dependency(purl: "pkg:npm/nopt", versionRange: "^9.0.0"),
                        Dependency(purl: "pkg:npm/semver", versionRange: "^7.3.7"),
                    ],
                    dependents: [], downloads30d: 17_095_128,
                    releases: [
                        Release(version: "8.0.5", date: "2025-12-11T14:58:53.612566Z"),
                        Release(version: "9.4.2", date: "2026-03-18T21:20:35.937Z"),
                    ]))
    }

    @Test func pypi() throws {
        let o = try Self.observation("pypi_package.json", "pypi_stats_recent.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "pypi", purl: "pkg:pypi/requests", latestVersion: "2.33.1",
                    repositoryURL: "https://github.com/psf/requests",
                    // PySocks only comes with the "socks" extra; colorama's marker is a platform.
                    dependencies: [
                        Dependency(purl: "pkg:pypi/charset-normalizer", versionRange: "<4,>=2"),
                        Dependency(purl: "pkg:pypi/colorama", versionRange: ">=0.4"),
                        Dependency(purl: "pkg:pypi/idna", versionRange: "<4,>=2.5"),
                    ],
                    // pypistats' last_month, not info.downloads (-1).
                    dependents: [], downloads30d: 350,
                    // 2.33.1's earliest file.
                    releases: [
                        Release(version: "2.33.0", date: "2026-03-01T10:00:00.000000Z"),
                        Release(version: "2.33.1", date: "2026-03-30T16:09:13.830020Z"),
                    ]))
    }

    @Test func pubDev() throws {
        let o = try Self.observation("pubdev_package.json", "pubdev_metrics.json", "pubdev_search.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "pub", purl: "pkg:pub/stellar_flutter_sdk", latestVersion: "1.8.6",
                    repositoryURL: "https://github.com/Soneso/stellar_flutter_sdk",
                    // flutter (an SDK dependency) dropped; dev_dependencies and overrides ignored.
                    dependencies: [
                        Dependency(purl: "pkg:pub/http", versionRange: "^1.2.0"),
                        Dependency(purl: "pkg:pub/pinenacl", versionRange: "^0.6.0"),
                        Dependency(purl: "pkg:pub/pointycastle", versionRange: "^3.7.0"),
                        Dependency(purl: "pkg:pub/typed_data", versionRange: "^1.3.0"),
                    ],
                    dependents: ["pkg:pub/soroban_helper", "pkg:pub/stellar_anchor_sdk", "pkg:pub/stellar_wallet_flutter_sdk"],
                    downloads30d: 1469,
                    releases: [Release(version: "1.7.0", date: nil), Release(version: "1.8.6", date: nil)]))
    }

    @Test func pubDevMinimalWithNoDependents() throws {
        let o = try Self.observation("pubdev_package_minimal.json", "pubdev_search_empty.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "pub", purl: "pkg:pub/tiny_package", latestVersion: "0.1.0", repositoryURL: nil,
                    dependencies: [], dependents: [], downloads30d: nil,
                    releases: [Release(version: "0.1.0", date: nil)]))
    }

    @Test func packagist() throws {
        let o = try Self.observation("packagist_package.json", "packagist_downloads.json", "packagist_dependents.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "composer", purl: "pkg:composer/soneso/stellar-php-sdk", latestVersion: "1.9.4",
                    repositoryURL: "https://github.com/Soneso/stellar-php-sdk",
                    // php and ext-json dropped; dev-main is not the latest stable version.
                    dependencies: [
                        Dependency(purl: "pkg:composer/guzzlehttp/guzzle", versionRange: "^7.0"),
                        Dependency(purl: "pkg:composer/phpseclib/phpseclib", versionRange: "^3.0"),
                        Dependency(purl: "pkg:composer/soneso/stellar-xdr", versionRange: "^1.0"),
                    ],
                    dependents: ["pkg:composer/example/anchor-client", "pkg:composer/example/wallet-sdk"],
                    downloads30d: 1970,
                    releases: [Release(version: "1.8.0", date: nil), Release(version: "1.9.4", date: nil)]))
    }

    @Test func packagistDevOnlyFallsBackToDevMain() throws {
        let o = try Self.observation("packagist_package_dev_only.json", "packagist_dependents_empty.json")
        #expect(
            o
                == RegistryObservation(
                    ecosystem: "composer", purl: "pkg:composer/example/dev-only-pkg", latestVersion: "dev-main",
                    repositoryURL: "https://github.com/example/dev-only-pkg",
                    // dev-main's require (dev-develop has none but php).
                    dependencies: [Dependency(purl: "pkg:composer/guzzlehttp/guzzle", versionRange: "^7.0")],
                    dependents: [], downloads30d: nil, releases: []))
    }

    @Test func depsDev() throws {
        let result = try RegistryParser.observations(
            from: try Self.files(
                "depsdev_package_stellar_sdk.json", "depsdev_requirements_stellar_sdk.json", "depsdev_project_batch_stellarcn.json"))
        #expect(
            result.observations == [
                RegistryObservation(
                    ecosystem: "depsdev:pypi", purl: "pkg:pypi/stellar-sdk", latestVersion: "11.1.0", repositoryURL: nil,
                    dependencies: [
                        Dependency(purl: "pkg:pypi/aiohttp", versionRange: ">=3.7.0"),
                        Dependency(purl: "pkg:pypi/aiohttp-sse-client", versionRange: ">=0.2.0"),
                        Dependency(purl: "pkg:pypi/pynacl", versionRange: ">=1.4.0"),
                        Dependency(purl: "pkg:pypi/requests", versionRange: ">=2.25.0"),
                        Dependency(purl: "pkg:pypi/stellar-sdk-xdr", versionRange: ">=0.2.0"),
                        Dependency(purl: "pkg:pypi/typeguard", versionRange: ">=2.13.0"),
                    ],
                    dependents: [], downloads30d: nil,
                    releases: [
                        Release(version: "10.0.0", date: "2024-06-01T00:00:00Z"),
                        Release(version: "11.0.0", date: "2024-12-01T00:00:00Z"),
                        Release(version: "11.1.0", date: "2025-02-01T00:00:00Z"),
                    ])
            ])
        #expect(
            result.repositorySignals == [
                RepositorySignals(repository: "https://github.com/stellarcn/py-stellar-base", stars: 498, forks: 178)
            ])
    }

    @Test func projectBatchAlone() throws {
        let result = try RegistryParser.observations(from: try Self.files("depsdev_project_batch_stellarcn.json"))
        #expect(result.observations.isEmpty)
        #expect(result.repositorySignals == [RepositorySignals(repository: "https://github.com/stellarcn/py-stellar-base", stars: 498, forks: 178)])
    }

    /// Every registry's files in one call: six observations, grouped by the packages they name.
    @Test func mixedInputGroupsByPackage() throws {
        let names = [
            "pypi_stats_recent.json", "crates_reverse_dependencies.json", "npm_downloads.json", "packagist_dependents.json",
            "pubdev_search.json", "depsdev_requirements_stellar_sdk.json", "crates_dependencies.json", "pubdev_metrics.json",
            "packagist_downloads.json", "crates_package.json", "npm_package.json", "pypi_package.json", "pubdev_package.json",
            "packagist_package.json", "depsdev_package_stellar_sdk.json", "depsdev_project_batch_stellarcn.json",
        ]
        let result = try RegistryParser.observations(from: try names.map(Self.file))
        #expect(
            result.observations.map { "\($0.ecosystem) \($0.purl)" } == [
                "cargo pkg:cargo/serde", "composer pkg:composer/soneso/stellar-php-sdk", "depsdev:pypi pkg:pypi/stellar-sdk",
                "npm pkg:npm/%40npmcli/arborist", "pub pkg:pub/stellar_flutter_sdk", "pypi pkg:pypi/requests",
            ])
        #expect(result.observations.map(\.downloads30d) == [52_240_048, 1970, nil, 17_095_128, 1469, 350])
        #expect(result.observations.map(\.dependencies.count) == [2, 3, 6, 3, 4, 3])
        #expect(result.observations.map(\.dependents.count) == [1, 2, 0, 0, 3, 0])
        #expect(result.repositorySignals.count == 1)
    }

    /// A deps.dev project whose repository is an observation's repository fills its stars and forks.
    @Test func projectSignalsFillMatchingObservations() throws {
        let batch = Self.inline(
            "depsdev_project_batch_psf.json",
            #"{"github.com/psf/requests": {"project_id": "github.com/psf/requests", "stars_count": 52000, "forks_count": 9300}}"#)
        let result = try RegistryParser.observations(from: try Self.files("pypi_package.json", "pypi_stats_recent.json") + [batch])
        #expect(result.observations.map(\.stars) == [52000])
        #expect(result.observations.map(\.forks) == [9300])
    }

    // MARK: - Recognition by content

    @Test func recognizesEveryFileByContent() throws {
        let expected: [(String, RegistryDocument.Registry?, RegistryDocument.Kind, String?)] = [
            ("crates_package.json", .crates, .package, "pkg:cargo/serde"),
            ("crates_dependencies.json", .crates, .dependencies, nil),
            ("crates_reverse_dependencies.json", .crates, .dependents, "pkg:cargo/serde"),
            ("npm_package.json", .npm, .package, "pkg:npm/%40npmcli/arborist"),
            ("npm_downloads.json", .npm, .downloads, "pkg:npm/%40npmcli/arborist"),
            ("pypi_package.json", .pypi, .package, "pkg:pypi/requests"),
            ("pypi_stats_recent.json", .pypi, .downloads, "pkg:pypi/requests"),
            ("pubdev_package.json", .pub, .package, "pkg:pub/stellar_flutter_sdk"),
            ("pubdev_metrics.json", .pub, .metrics, "pkg:pub/stellar_flutter_sdk"),
            ("pubdev_package_minimal.json", .pub, .package, "pkg:pub/tiny_package"),
            ("pubdev_search.json", .pub, .dependents, nil),
            ("pubdev_search_empty.json", nil, .dependents, nil),
            ("packagist_package.json", .packagist, .package, "pkg:composer/soneso/stellar-php-sdk"),
            ("packagist_downloads.json", .packagist, .downloads, "pkg:composer/soneso/stellar-php-sdk"),
            ("packagist_package_dev_only.json", .packagist, .package, "pkg:composer/example/dev-only-pkg"),
            ("packagist_dependents.json", .packagist, .dependents, nil),
            ("packagist_dependents_empty.json", nil, .dependents, nil),
            ("depsdev_package_stellar_sdk.json", .depsdev, .package, "pkg:pypi/stellar-sdk"),
            ("depsdev_project_batch_stellarcn.json", .depsdev, .projectBatch, nil),
            ("depsdev_requirements_stellar_sdk.json", .depsdev, .requirements, "pkg:pypi/stellar-sdk"),
        ]
        for (name, registry, kind, purl) in expected {
            // Under an anonymous name, only the content decides.
            let anonymous = try RegistryParser.document(path: "/tmp/response.json", bytes: try Self.file(name).bytes)
            #expect(anonymous.registry == registry, "\(name)")
            #expect(anonymous.kind == kind, "\(name)")
            #expect(anonymous.packagePurl == purl, "\(name)")
            // Under its own name, the prefix agrees (and settles the empty result lists).
            let named = try RegistryParser.document(path: try Self.file(name).path, bytes: try Self.file(name).bytes)
            #expect(named.registry == registry ?? RegistryParser.fileNamePrefix(name), "\(name)")
            #expect(named.kind == kind, "\(name)")
        }
    }

    /// Without a prefix, an empty result list joins the only pub.dev or Packagist package.
    @Test func unnamedEmptyListJoinsTheOnlyCandidatePackage() throws {
        let empty = Self.inline("/tmp/page-2.json", #"{"packages": []}"#)
        let result = try RegistryParser.observations(from: try Self.files("pubdev_package_minimal.json") + [empty])
        #expect(result.observations.map(\.purl) == ["pkg:pub/tiny_package"])
        Self.expectFailure(
            try Self.files("pubdev_package_minimal.json", "packagist_package_dev_only.json") + [empty], at: "/tmp/page-2.json",
            containing: "cannot tell which package")
    }

    /// Pages of dependents add up.
    @Test func dependentsPagesAccumulate() throws {
        let page2 = Self.inline("packagist_dependents_page2.json", #"{"packages": [{"name": "zeta/tool"}, {"name": "example/wallet-sdk"}]}"#)
        let o = try #require(
            try RegistryParser.observations(from: try Self.files("packagist_package.json", "packagist_dependents.json") + [page2])
                .observations.first)
        #expect(o.dependents == ["pkg:composer/example/anchor-client", "pkg:composer/example/wallet-sdk", "pkg:composer/zeta/tool"])
    }

    // MARK: - Ids and URLs

    @Test func identifiers() {
        #expect(RegistryIdentifiers.npm("@NpmCLI/Arborist") == "pkg:npm/%40npmcli/arborist")
        #expect(RegistryIdentifiers.npm("left-pad") == "pkg:npm/left-pad")
        #expect(RegistryIdentifiers.pypi("Charset_Normalizer") == "pkg:pypi/charset-normalizer")
        #expect(RegistryIdentifiers.pypi("zope.interface__x-._y") == "pkg:pypi/zope-interface-x-y")
        #expect(RegistryIdentifiers.cargo("serde_json") == "pkg:cargo/serde_json")
        #expect(RegistryIdentifiers.pub("Stellar_Flutter_SDK") == "pkg:pub/stellar_flutter_sdk")
        #expect(RegistryIdentifiers.composer("soneso/stellar-php-sdk") == "pkg:composer/soneso/stellar-php-sdk")
        #expect(RegistryIdentifiers.purlType(depsDevSystem: "GO") == "golang")
        #expect(RegistryIdentifiers.purlType(depsDevSystem: "RUBYGEMS") == "gem")
        #expect(RegistryIdentifiers.purlType(depsDevSystem: "CONDA") == nil)
    }

    @Test func repositoryURLs() {
        let cases: [(String, String?)] = [
            ("git+https://github.com/npm/cli.git", "https://github.com/npm/cli"),
            ("https://github.com/Soneso/stellar-php-sdk.git", "https://github.com/Soneso/stellar-php-sdk"),
            ("https://github.com/serde-rs/serde/", "https://github.com/serde-rs/serde"),
            ("http://GitHub.com/psf/requests#readme", "https://github.com/psf/requests"),
            ("git://github.com/a/b.git", "https://github.com/a/b"),
            ("git+ssh://git@github.com/a/b.git", "https://github.com/a/b"),
            ("git@github.com:a/b.git", "https://github.com/a/b"),
            ("github:a/b", "https://github.com/a/b"),
            ("  https://gitlab.com/group/sub/project.git/  ", "https://gitlab.com/group/sub/project"),
            ("UNKNOWN", nil),
            ("", nil),
            ("ftp://example.com/x", nil),
        ]
        for (raw, expected) in cases {
            #expect(RegistryIdentifiers.repositoryURL(raw) == expected, "\(raw)")
        }
    }

    /// PEP 508 forms in `requires_dist`: extras, parentheses, spaces, direct references, `extra` markers.
    @Test func pythonRequirements() throws {
        let package = Self.inline(
            "pypi_package.json",
            #"""
            {"info": {"name": "Demo.Pkg", "version": "1.0", "requires_dist": [
                "Foo_Bar[speedups] (>= 1.0, < 2)",
                "baz @ https://example.com/baz.zip",
                "qux",
                "pytest>=7; extra == 'test'",
                "tomli>=1.1.0; python_version < \"3.11\"",
                "not a requirement!"
             ], "project_urls": {"Documentation": "https://demo.readthedocs.io", "Homepage": "https://github.com/demo/pkg"}},
             "releases": {"0.9": [], "1.0": [{"upload_time": "2025-01-02T03:04:05"}]}}
            """#)
        let o = try #require(try RegistryParser.observations(from: [package]).observations.first)
        #expect(o.purl == "pkg:pypi/demo-pkg")
        #expect(
            o.dependencies == [
                Dependency(purl: "pkg:pypi/baz", versionRange: nil),
                Dependency(purl: "pkg:pypi/foo-bar", versionRange: ">=1.0,<2"),
                Dependency(purl: "pkg:pypi/qux", versionRange: nil),
                Dependency(purl: "pkg:pypi/tomli", versionRange: ">=1.1.0"),
            ])
        #expect(o.repositoryURL == "https://github.com/demo/pkg")
        #expect(o.releases == [Release(version: "1.0", date: "2025-01-02T03:04:05Z"), Release(version: "0.9", date: nil)])
        #expect(o.downloads30d == nil)
    }

    /// Packagist's order is numeric per part: 1.10.0 is newer than 1.9.4.
    @Test func packagistNumericVersionOrder() throws {
        let package = Self.inline(
            "packagist_package.json",
            #"""
            {"package": {"name": "a/b", "versions": {
                "1.9.4": {"require": {"x/old": "^1"}},
                "v1.10.0": {"require": {"x/new": "^2", "php-64bit": "*", "lib-curl": "*", "composer-plugin-api": "^2"},
                            "source": {"url": "git@github.com:a/b.git"}, "time": "2025-05-01T10:00:00+00:00"},
                "2.x-dev": {"require": {"x/dev": "*"}},
                "dev-main": {"require": {"x/dev": "*"}}}}}
            """#)
        let o = try #require(try RegistryParser.observations(from: [package]).observations.first)
        #expect(o.latestVersion == "v1.10.0")
        #expect(o.dependencies == [Dependency(purl: "pkg:composer/x/new", versionRange: "^2")])
        #expect(o.repositoryURL == "https://github.com/a/b")
        #expect(o.releases == [Release(version: "v1.10.0", date: "2025-05-01T10:00:00+00:00"), Release(version: "1.9.4", date: nil)])
    }

    // MARK: - Errors name the file

    @Test func notJSON() {
        let path = "/tmp/registry/npm_package.json"
        Self.expectFailure([Self.inline(path, "<html>Too Many Requests</html>")], at: path, containing: "malformed JSON")
        Self.expectFailure([Self.inline(path, "")], at: path, containing: "malformed JSON")
    }

    @Test func unknownShapes() {
        Self.expectFailure([Self.inline("/tmp/x/mystery.json", #"{"hello": "world"}"#)], at: "/tmp/x/mystery.json", containing: "hello")
        Self.expectFailure([Self.inline("/tmp/x/list.json", "[1, 2]")], at: "/tmp/x/list.json", containing: "top-level array")
        Self.expectFailure([Self.inline("/tmp/x/npm_error.json", #"{"error": "Not found"}"#)], at: "/tmp/x/npm_error.json", containing: "not a recognized")
        Self.expectFailure([Self.inline("/tmp/x/empty.json", "{}")], at: "/tmp/x/empty.json", containing: "empty object")
        Self.expectFailure(
            [Self.inline("/tmp/x/mixed.json", #"{"packages": [{"package": "a"}, {"name": "b/c"}]}"#)], at: "/tmp/x/mixed.json",
            containing: "not a recognized")
    }

    @Test func fileNameAndContentDisagree() throws {
        let npm = try Self.file("npm_package.json")
        Self.expectFailure([(path: "/tmp/crates_serde.json", bytes: npm.bytes)], at: "/tmp/crates_serde.json", containing: "the file name says crates.io")
    }

    @Test func wrongFieldTypesNameTheField() {
        Self.expectFailure(
            [Self.inline("crates_package.json", #"{"crate": {"name": 5}}"#)], at: "crates_package.json", containing: "crate.name")
        Self.expectFailure(
            [Self.inline("npm_package.json", #"{"name": "x", "dist-tags": {"latest": "2.0.0"}, "versions": {"1.0.0": {}}}"#)],
            at: "npm_package.json", containing: "versions has no 2.0.0")
        Self.expectFailure(
            [Self.inline("depsdev_package.json", #"{"system": "CONDA", "name": "x", "versions": []}"#)], at: "depsdev_package.json",
            containing: "unknown system CONDA")
    }

    @Test func responsesThatCannotBeAttributed() throws {
        // Downloads without their package.
        let downloads = try Self.file("npm_downloads.json")
        Self.expectFailure([downloads], at: downloads.path, containing: "no npm package response")
        // Downloads of another package.
        let leftPad = Self.inline("npm_downloads_left_pad.json", #"{"downloads": 5, "package": "left-pad"}"#)
        Self.expectFailure(try Self.files("npm_package.json") + [leftPad], at: leftPad.path, containing: "pkg:npm/left-pad")
        // A dependencies response names no crate and there is none.
        let dependencies = try Self.file("crates_dependencies.json")
        Self.expectFailure([dependencies], at: dependencies.path, containing: "no crates.io package response")
        // Every file at once: two Packagist packages, so the dependents lists cannot be attributed.
        let all = try FileManager.default.contentsOfDirectory(atPath: Self.registry.path).sorted()
        #expect(all.count == 20)
        let dependents = try Self.file("packagist_dependents.json")
        Self.expectFailure(try all.map(Self.file), at: dependents.path, containing: "2 Packagist package responses")
    }

    @Test func conflictingResponses() throws {
        let package = try Self.file("crates_package.json")
        let copy: File = ("/tmp/other/crates_serde.json", package.bytes)
        Self.expectFailure([package, copy], at: copy.0, containing: "a second crates.io package response")

        let stats = try Self.file("pypi_stats_recent.json")
        let again: File = ("/tmp/other/pypi_stats_again.json", stats.bytes)
        Self.expectFailure(try Self.files("pypi_package.json") + [stats, again], at: again.0, containing: "already has its downloads")

        // Requirements of a version that is not the default one.
        let requirements = Self.inline(
            "depsdev_requirements_old.json",
            #"{"system": "PYPI", "name": "stellar-sdk", "version": "10.0.0", "requirements": [{"name": "x", "version_constraint": ">=1"}]}"#)
        Self.expectFailure(
            try Self.files("depsdev_package_stellar_sdk.json") + [requirements], at: requirements.path, containing: "version 10.0.0")

        // crates.io dependencies of a version other than the max stable one (by version id).
        let crate = Self.inline(
            "crates_package.json",
            #"{"crate": {"name": "a", "max_stable_version": "2.0.0"}, "versions": [{"num": "2.0.0", "id": 20}, {"num": "1.0.0", "id": 10}]}"#)
        let old = Self.inline("crates_dependencies.json", #"{"dependencies": [{"crate_id": "b", "req": "^1", "kind": "normal", "version_id": 10}]}"#)
        Self.expectFailure([crate, old], at: old.path, containing: "version 1.0.0")
    }
}
