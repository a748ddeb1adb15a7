import Foundation
import Hummingbird
import StrataAPI
import StrataAtlasModel
import StrataCore

/// PG Atlas's list conventions: `limit` (1–200, default 50) and `offset`; `sort=field:dir,...` over
/// an allow-list, with the canonical id as the final tie-breaker and NULLs last; `search` as a
/// case-insensitive substring. Lists answer `{items, total, limit, offset}`.
struct AtlasListRequest {
    var limit: Int
    var offset: Int
    var orderBy: String
    var search: String?

    init(_ request: Request, sortable: [String: String], defaultSort: String) throws {
        limit = try request.intQuery("limit", default: 50, range: 1...200)!
        offset = try request.intQuery("offset", default: 0, range: 0...10_000_000)!
        search = request.stringQuery("search").flatMap { $0.isEmpty ? nil : $0 }
        var terms: [String] = []
        let spec = request.stringQuery("sort") ?? defaultSort
        for part in spec.split(separator: ",") where !part.isEmpty {
            // `field[:direction]`; keep empty pieces, so `:` or `a::` is refused rather than read as
            // something else (and never indexed past the end).
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let field = pieces.first ?? ""
            guard let column = sortable[field] else {
                throw APIError(.unprocessableContent, "invalid_sort", "Invalid sort field: '\(field)' in sort term '\(part)' (sortable: \(sortable.keys.sorted().joined(separator: ", ")))")
            }
            let direction = pieces.count > 1 ? pieces[1].lowercased() : "asc"
            guard direction == "asc" || direction == "desc", pieces.count <= 2 else {
                throw APIError(.unprocessableContent, "invalid_sort", "Invalid sort direction in '\(part)' (use asc or desc)")
            }
            terms.append("\(column) \(direction.uppercased()) NULLS LAST")
        }
        terms.append("canonical_id ASC")
        orderBy = terms.joined(separator: ", ")
    }

    /// `%search%` with LIKE's wildcards escaped.
    var pattern: String? {
        search.map { "%" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" }
    }
}

/// SQL fragments shared by the Atlas routes.
enum AtlasSQL {
    /// Adoption per repo: the percentile of each signal among repos that have it (the count of
    /// smaller values over the count of values), and their mean, rounded to 2 places.
    static let repoAdoption = """
        repo_adoption AS (
            SELECT canonical_id, round(avg(pct)::numeric, 2) AS adoption_score
              FROM (
                SELECT canonical_id, 100.0 * (rank() OVER (ORDER BY adoption_downloads) - 1) / count(*) OVER () AS pct
                  FROM atlas.vertices WHERE vertex_type = 'repo' AND adoption_downloads IS NOT NULL
                UNION ALL
                SELECT canonical_id, 100.0 * (rank() OVER (ORDER BY adoption_stars) - 1) / count(*) OVER ()
                  FROM atlas.vertices WHERE vertex_type = 'repo' AND adoption_stars IS NOT NULL
                UNION ALL
                SELECT canonical_id, 100.0 * (rank() OVER (ORDER BY adoption_forks) - 1) / count(*) OVER ()
                  FROM atlas.vertices WHERE vertex_type = 'repo' AND adoption_forks IS NOT NULL
              ) s GROUP BY canonical_id
        )
        """

    static let projectAdoption = """
        project_adoption AS (
            SELECT v.project_id AS canonical_id, round(avg(a.adoption_score), 2) AS adoption_score
              FROM atlas.vertices v JOIN repo_adoption a USING (canonical_id)
             WHERE v.project_id IS NOT NULL GROUP BY v.project_id
        )
        """

    /// The newest commit anywhere: "active in the last N days" counts back from it (PG Atlas's rule),
    /// so the numbers do not decay while no data arrives.
    static let cutoff = "(SELECT max(authored_at) FROM atlas.commits)"

    static let projectSummary = """
        p.canonical_id, p.display_name, p.project_type, p.activity_status, p.category, p.git_owner_url,
        p.pony_factor, p.criticality_score, pa.adoption_score
        """

    static let repoSummary = """
        v.canonical_id, v.display_name, v.visibility, v.latest_version, v.latest_commit_date, v.repo_url, v.project_id,
        v.pony_factor, v.criticality_score, v.adoption_downloads, v.adoption_stars, v.adoption_forks, ra.adoption_score
        """
}
