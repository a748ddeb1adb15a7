import Foundation
import StrataAtlasModel
import StrataCore

/// The Atlas event types and how their keys and ids are chosen.
public enum AtlasEvents {
    public static let sbomTopic = "sbom"
    public static let grantsTopic = "grants"
    public static let commitsTopic = "commits"
    public static let registryTopic = "registry"

    public static let sbomSubmitted = "sbom.submitted"
    public static let grantProject = "grants.project.upserted"
    public static let grantPool = "grants.pool.upserted"
    public static let grantApplication = "grants.application.upserted"
    public static let commitsObserved = "git.commits.observed"
    public static let packageObserved = "registry.package.observed"
    public static let repositoryObserved = "registry.repository.observed"

    /// The graph id of a GitHub repository.
    public static func repositoryID(_ ownerRepo: String) -> String { "pkg:github/\(ownerRepo)" }

    /// `owner/repo` from a GitHub URL (`https://github.com/Owner/Repo(.git)(/...)`), if it is one.
    public static func ownerRepo(fromURL url: String) -> String? {
        let parts = githubPath(url)
        return parts.count >= 2 ? "\(parts[0])/\(parts[1])" : nil
    }

    /// The owner of a GitHub URL (`https://github.com/Owner` or a repository URL).
    public static func owner(fromURL url: String) -> String? { githubPath(url).first }

    static func githubPath(_ url: String) -> [String] {
        var s = url.trimmingCharacters(in: .whitespacesAndNewlines)
        for prefix in ["git+", "https://", "http://", "ssh://", "git://", "git@"] where s.lowercased().hasPrefix(prefix) {
            s = String(s.dropFirst(prefix.count))
        }
        s = s.replacingOccurrences(of: "github.com:", with: "github.com/")
        if s.lowercased().hasPrefix("www.") { s = String(s.dropFirst(4)) }
        guard s.lowercased().hasPrefix("github.com/") else { return [] }
        var parts = s.dropFirst("github.com/".count).split(separator: "/").map(String.init).filter { !$0.isEmpty }
        if parts.count >= 2, parts[1].hasSuffix(".git") { parts[1] = String(parts[1].dropLast(4)) }
        return parts.filter { !$0.contains("?") && !$0.contains("#") }
    }
}
