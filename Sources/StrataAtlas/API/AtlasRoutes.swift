import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import StrataAPI
import StrataAtlasModel
import StrataCore

/// PG Atlas's read API over the `atlas` views, with its paths and conventions, plus a bulk graph
/// export (JSON, GraphML) and a risk view. See docs/api.md.
public struct AtlasRoutes: APIRoutes {
    /// Verifies GitHub Actions OIDC tokens on `POST /ingest/sbom`; nil: only the API token is accepted.
    public var oidc: GitHubOIDCVerifier?

    public init(oidc: GitHubOIDCVerifier? = nil) {
        self.oidc = oidc
    }

    public func register(on router: Router<StrataRequestContext>, _ deps: APIDependencies) {
        let db = deps.client
        let logger = deps.logger
        @Sendable func one(_ query: PostgresQuery, notFound: String) async throws -> Response {
            guard let json = try await JSONPage.one(db, query, logger: logger) else { throw APIError.notFound(notFound) }
            return rawJSONResponse(json)
        }

        router.get("/metadata") { _, _ -> Response in
            try await one("""
                SELECT json_build_object(
                    'total_projects', (SELECT count(*) FROM atlas.projects),
                    'active_projects', (SELECT count(*) FROM atlas.projects WHERE activity_status IN ('live', 'in-dev')),
                    'total_repos', (SELECT count(*) FROM atlas.vertices WHERE vertex_type = 'repo'),
                    'active_repos_90d', (SELECT count(*) FROM atlas.vertices WHERE vertex_type = 'repo'
                                          AND latest_commit_date >= \(unescaped: AtlasSQL.cutoff) - interval '90 days'),
                    'total_external_repos', (SELECT count(*) FROM atlas.vertices WHERE vertex_type = 'external-repo'),
                    'total_dependency_edges', (SELECT count(*) FROM atlas.depends_on),
                    'total_contributor_edges', (SELECT count(*) FROM (SELECT DISTINCT repo_id, email_hash FROM atlas.commits) c),
                    'active_contributors_30d', (SELECT count(DISTINCT email_hash) FROM atlas.commits WHERE authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '30 days'),
                    'active_contributors_90d', (SELECT count(DISTINCT email_hash) FROM atlas.commits WHERE authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '90 days'),
                    'total_sbom_submissions', (SELECT count(*) FROM atlas.sbom_submissions),
                    'last_updated', \(unescaped: AtlasSQL.cutoff))::text
                """, notFound: "")
        }

        // MARK: Projects

        router.get("/projects") { request, _ -> Response in
            let list = try AtlasListRequest(request, sortable: [
                "display_name": "display_name", "activity_status": "array_position(ARRAY['live','in-dev','discontinued','non-responsive'], activity_status)",
                "criticality_score": "criticality_score", "pony_factor": "pony_factor", "adoption_score": "adoption_score", "category": "category",
            ], defaultSort: "display_name:asc")
            let q = """
                WITH \(AtlasSQL.repoAdoption), \(AtlasSQL.projectAdoption),
                rows AS (
                    SELECT \(AtlasSQL.projectSummary) FROM atlas.projects p LEFT JOIN project_adoption pa USING (canonical_id)
                     WHERE ($1::text IS NULL OR p.project_type = $1) AND ($2::text IS NULL OR p.activity_status = $2)
                       AND ($3::text IS NULL OR p.display_name ILIKE $3) AND ($4::text IS NULL OR p.category = $4)
                )
                SELECT json_build_object('items', coalesce((SELECT json_agg(r) FROM (SELECT * FROM rows ORDER BY \(list.orderBy) LIMIT \(list.limit) OFFSET \(list.offset)) r), '[]'),
                                         'total', (SELECT count(*) FROM rows), 'limit', \(list.limit), 'offset', \(list.offset))::text
                """
            var binds = PostgresBindings()
            binds.append(request.stringQuery("project_type"))
            binds.append(request.stringQuery("activity_status"))
            binds.append(list.pattern)
            binds.append(request.stringQuery("category"))
            return try await one(PostgresQuery(unsafeSQL: q, binds: binds), notFound: "")
        }

        router.get("/projects/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            return try await one("""
                WITH \(unescaped: AtlasSQL.repoAdoption), \(unescaped: AtlasSQL.projectAdoption)
                SELECT (to_jsonb(x) || jsonb_build_object(
                    'active_contributors_30d', (SELECT count(DISTINCT c.email_hash) FROM atlas.commits c JOIN atlas.vertices v ON v.canonical_id = c.repo_id
                                                 WHERE v.project_id = \(id) AND c.authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '30 days'),
                    'active_contributors_90d', (SELECT count(DISTINCT c.email_hash) FROM atlas.commits c JOIN atlas.vertices v ON v.canonical_id = c.repo_id
                                                 WHERE v.project_id = \(id) AND c.authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '90 days'),
                    'rounds', (SELECT coalesce(json_agg(json_build_object('round', a.round_name, 'status', a.status, 'funds_asked_usd', a.funds_asked_usd,
                                      'funds_approved_usd', a.funds_approved_usd) ORDER BY a.created_at, a.canonical_id), '[]')
                                 FROM atlas.awards a WHERE a.project_id = \(id))))::text
                  FROM (SELECT \(unescaped: AtlasSQL.projectSummary), p.integration_status, p.total_awarded_usd, p.total_paid_usd,
                               p.awarded_submissions, p.description, p.website, p.metadata
                          FROM atlas.projects p LEFT JOIN project_adoption pa USING (canonical_id) WHERE p.canonical_id = \(id)) x
                """, notFound: "Project '\(id)' not found.")
        }

        router.get("/projects/:id/repos") { request, context -> Response in
            let id = try context.parameters.require("id")
            try await requireProject(id, db, logger)
            let list = try AtlasListRequest(request, sortable: [:], defaultSort: "")
            return try await one("""
                WITH \(unescaped: AtlasSQL.repoAdoption),
                rows AS (SELECT \(unescaped: AtlasSQL.repoSummary) FROM atlas.vertices v LEFT JOIN repo_adoption ra USING (canonical_id)
                          WHERE v.project_id = \(id) AND v.vertex_type = 'repo')
                SELECT json_build_object('items', coalesce((SELECT json_agg(r) FROM (SELECT * FROM rows ORDER BY canonical_id
                                          LIMIT \(list.limit) OFFSET \(list.offset)) r), '[]'),
                                         'total', (SELECT count(*) FROM rows), 'limit', \(list.limit), 'offset', \(list.offset))::text
                """, notFound: "")
        }

        router.get("/projects/:id/contributors") { request, context -> Response in
            let id = try context.parameters.require("id")
            try await requireProject(id, db, logger)
            let pattern = try AtlasListRequest(request, sortable: [:], defaultSort: "").pattern
            return try await one("""
                SELECT coalesce(json_agg(x ORDER BY x.total_commits_in_project DESC, x.email_hash), '[]')::text FROM (
                    SELECT c.email_hash AS id, k.name, c.email_hash, count(*) AS total_commits_in_project
                      FROM atlas.commits c JOIN atlas.vertices v ON v.canonical_id = c.repo_id JOIN atlas.contributors k USING (email_hash)
                     WHERE v.project_id = \(id) AND (\(pattern)::text IS NULL OR k.name ILIKE \(pattern))
                     GROUP BY c.email_hash, k.name) x
                """, notFound: "")
        }

        for (path, inner, outer) in [("depends-on", "in_id", "out_id"), ("has-dependents", "out_id", "in_id")] {
            router.get("/projects/:id/\(path)") { _, context -> Response in
                let id = try context.parameters.require("id")
                try await requireProject(id, db, logger)
                // Repo edges collapsed to project level; edges within the project or to packages are left out.
                return try await one(PostgresQuery(unsafeSQL: """
                    WITH \(AtlasSQL.repoAdoption), \(AtlasSQL.projectAdoption)
                    SELECT coalesce(json_agg(json_build_object('project', to_jsonb(x) - 'edge_count', 'edge_count', x.edge_count)
                                    ORDER BY x.edge_count DESC, x.canonical_id), '[]')::text
                      FROM (SELECT \(AtlasSQL.projectSummary), count(*) AS edge_count
                              FROM atlas.depends_on d
                              JOIN atlas.vertices a ON a.canonical_id = d.\(inner) JOIN atlas.vertices b ON b.canonical_id = d.\(outer)
                              JOIN atlas.projects p ON p.canonical_id = b.project_id LEFT JOIN project_adoption pa ON pa.canonical_id = p.canonical_id
                             WHERE a.project_id = $1 AND b.project_id <> $1
                             GROUP BY p.canonical_id, p.display_name, p.project_type, p.activity_status, p.category, p.git_owner_url,
                                      p.pony_factor, p.criticality_score, pa.adoption_score) x
                    """, binds: try bindings(id)), notFound: "")
            }
        }

        // MARK: Repos

        router.get("/repos") { request, _ -> Response in
            let list = try AtlasListRequest(request, sortable: [
                "display_name": "display_name", "criticality_score": "criticality_score", "pony_factor": "pony_factor",
                "adoption_stars": "adoption_stars", "adoption_forks": "adoption_forks", "adoption_downloads": "adoption_downloads",
                "adoption_score": "adoption_score", "latest_commit_date": "latest_commit_date",
            ], defaultSort: "display_name:asc")
            let q = """
                WITH \(AtlasSQL.repoAdoption),
                rows AS (SELECT \(AtlasSQL.repoSummary) FROM atlas.vertices v LEFT JOIN repo_adoption ra USING (canonical_id)
                          WHERE v.vertex_type = 'repo' AND ($1::text IS NULL OR v.project_id = $1) AND ($2::text IS NULL OR v.display_name ILIKE $2))
                SELECT json_build_object('items', coalesce((SELECT json_agg(r) FROM (SELECT * FROM rows ORDER BY \(list.orderBy)
                                          LIMIT \(list.limit) OFFSET \(list.offset)) r), '[]'),
                                         'total', (SELECT count(*) FROM rows), 'limit', \(list.limit), 'offset', \(list.offset))::text
                """
            var binds = PostgresBindings()
            binds.append(request.stringQuery("project_id"))
            binds.append(list.pattern)
            return try await one(PostgresQuery(unsafeSQL: q, binds: binds), notFound: "")
        }

        // Repo ids contain slashes (pkg:github/owner/repo, pkg:npm/%40scope/name): one catch-all route.
        router.get("/repos/**") { request, context -> Response in
            var path = context.parameters.getCatchAll().joined(separator: "/")
            var action = ""
            for suffix in ["depends-on", "has-dependents", "contributors"] where path.hasSuffix("/" + suffix) {
                action = suffix
                path = String(path.dropLast(suffix.count + 1))
            }
            let id = try await resolveVertex(path, db, logger)
            switch action {
            case "depends-on", "has-dependents":
                let (inner, outer) = action == "depends-on" ? ("in_id", "out_id") : ("out_id", "in_id")
                return try await one(PostgresQuery(unsafeSQL: """
                    SELECT coalesce(json_agg(json_build_object('canonical_id', v.canonical_id, 'display_name', v.display_name,
                        'vertex_type', v.vertex_type, 'version_range', NULLIF(d.version_range, ''), 'confidence', d.confidence,
                        'criticality_score', v.criticality_score) ORDER BY v.canonical_id, d.version_range), '[]')::text
                      FROM atlas.depends_on d JOIN atlas.vertices v ON v.canonical_id = d.\(outer)
                     WHERE d.\(inner) = $1
                    """, binds: try bindings(id)), notFound: "")
            case "contributors":
                let pattern = try AtlasListRequest(request, sortable: [:], defaultSort: "").pattern
                return try await one("""
                    SELECT coalesce(json_agg(x ORDER BY x.number_of_commits DESC, x.email_hash), '[]')::text FROM (
                        SELECT c.email_hash AS id, k.name, c.email_hash, count(*) AS number_of_commits,
                               min(c.authored_at) AS first_commit_date, max(c.authored_at) AS last_commit_date
                          FROM atlas.commits c JOIN atlas.contributors k USING (email_hash)
                         WHERE c.repo_id = \(id) AND (\(pattern)::text IS NULL OR k.name ILIKE \(pattern))
                         GROUP BY c.email_hash, k.name) x
                    """, notFound: "")
            default:
                return try await one("""
                    WITH \(unescaped: AtlasSQL.repoAdoption)
                    SELECT (to_jsonb(x) || jsonb_build_object(
                        'vertex_type', (SELECT vertex_type FROM atlas.vertices WHERE canonical_id = \(id)),
                        'releases', (SELECT releases FROM atlas.vertices WHERE canonical_id = \(id)),
                        'parent_project', (SELECT to_jsonb(p) FROM (SELECT canonical_id, display_name, activity_status FROM atlas.projects
                                           WHERE canonical_id = x.project_id) p),
                        'outgoing_dep_counts', (SELECT json_build_object('repos', count(*) FILTER (WHERE w.vertex_type = 'repo'),
                                                'external_repos', count(*) FILTER (WHERE w.vertex_type <> 'repo'))
                                                  FROM atlas.depends_on d JOIN atlas.vertices w ON w.canonical_id = d.out_id WHERE d.in_id = \(id)),
                        'incoming_dep_counts', (SELECT json_build_object('repos', count(*) FILTER (WHERE w.vertex_type = 'repo'),
                                                'external_repos', count(*) FILTER (WHERE w.vertex_type <> 'repo'))
                                                  FROM atlas.depends_on d JOIN atlas.vertices w ON w.canonical_id = d.in_id WHERE d.out_id = \(id)),
                        'active_contributors_30d', (SELECT count(DISTINCT email_hash) FROM atlas.commits
                                                     WHERE repo_id = \(id) AND authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '30 days'),
                        'active_contributors_90d', (SELECT count(DISTINCT email_hash) FROM atlas.commits
                                                     WHERE repo_id = \(id) AND authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '90 days')))::text
                      FROM (SELECT \(unescaped: AtlasSQL.repoSummary) FROM atlas.vertices v LEFT JOIN repo_adoption ra USING (canonical_id)
                             WHERE v.canonical_id = \(id)) x
                    """, notFound: "Repo '\(id)' not found.")
            }
        }

        // MARK: Contributors

        router.get("/contributors") { request, _ -> Response in
            let list = try AtlasListRequest(request, sortable: ["name": "name", "total_commits": "total_commits"], defaultSort: "name:asc")
            let q = """
                WITH rows AS (SELECT k.email_hash AS canonical_id, k.email_hash AS id, k.name, k.email_hash,
                                     (SELECT count(*) FROM atlas.commits c WHERE c.email_hash = k.email_hash) AS total_commits
                                FROM atlas.contributors k WHERE ($1::text IS NULL OR k.name ILIKE $1))
                SELECT json_build_object('items', coalesce((SELECT json_agg(to_jsonb(r) - 'canonical_id') FROM (SELECT * FROM rows ORDER BY \(list.orderBy)
                                          LIMIT \(list.limit) OFFSET \(list.offset)) r), '[]'),
                                         'total', (SELECT count(*) FROM rows), 'limit', \(list.limit), 'offset', \(list.offset))::text
                """
            var binds = PostgresBindings()
            binds.append(list.pattern)
            return try await one(PostgresQuery(unsafeSQL: q, binds: binds), notFound: "")
        }

        router.get("/contributors/:id") { _, context -> Response in
            let id = try context.parameters.require("id").lowercased()
            guard id.count == 64, id.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
                throw APIError.badRequest("a contributor id is the SHA-256 of their email: 64 hexadecimal characters")
            }
            return try await one("""
                SELECT json_build_object('id', k.email_hash, 'name', k.name, 'email_hash', k.email_hash,
                    'total_repos', (SELECT count(DISTINCT repo_id) FROM atlas.commits WHERE email_hash = k.email_hash),
                    'total_commits', (SELECT count(*) FROM atlas.commits WHERE email_hash = k.email_hash),
                    'first_contribution', (SELECT min(authored_at) FROM atlas.commits WHERE email_hash = k.email_hash),
                    'last_contribution', (SELECT max(authored_at) FROM atlas.commits WHERE email_hash = k.email_hash),
                    'repos', (SELECT coalesce(json_agg(r ORDER BY r.number_of_commits DESC, r.repo_canonical_id), '[]') FROM (
                        SELECT c.repo_id AS repo_canonical_id, v.display_name AS repo_display_name, v.project_id AS project_canonical_id,
                               count(*) AS number_of_commits, min(c.authored_at) AS first_commit_date, max(c.authored_at) AS last_commit_date
                          FROM atlas.commits c JOIN atlas.vertices v ON v.canonical_id = c.repo_id
                         WHERE c.email_hash = k.email_hash GROUP BY c.repo_id, v.display_name, v.project_id) r))::text
                  FROM atlas.contributors k WHERE k.email_hash = \(id)
                """, notFound: "Contributor '\(id)' not found.")
        }

        // MARK: Beyond PG Atlas: risk and bulk export

        // The most critical nodes whose upkeep rests on few people: criticality high, pony factor low.
        router.get("/risk") { request, _ -> Response in
            let limit = try request.intQuery("limit", default: 50, range: 1...500)!
            let maxPony = try request.intQuery("max_pony_factor", default: 2, range: 0...1000)!
            return try await one("""
                SELECT coalesce(json_agg(x ORDER BY x.criticality_score DESC, x.canonical_id), '[]')::text FROM (
                    SELECT v.canonical_id, v.display_name, v.vertex_type, v.project_id, v.criticality_score, v.pony_factor,
                           (SELECT count(DISTINCT email_hash) FROM atlas.commits c WHERE c.repo_id = v.canonical_id
                             AND c.authored_at >= \(unescaped: AtlasSQL.cutoff) - interval '90 days') AS active_contributors_90d
                      FROM atlas.vertices v
                     WHERE v.criticality_score > 0 AND (v.pony_factor IS NULL OR v.pony_factor <= \(maxPony))
                     ORDER BY v.criticality_score DESC, v.canonical_id LIMIT \(limit)) x
                """, notFound: "")
        }

        router.get("/graph/export") { request, _ -> Response in
            let format = request.stringQuery("format") ?? "json"
            guard format == "json" || format == "graphml" else { throw APIError.badRequest("format must be json or graphml") }
            return try await GraphExport.response(format: format, db: db, logger: logger)
        }

        SBOMRoutes(oidc: oidc).register(on: router, deps)
    }
}

func bindings(_ values: String...) throws -> PostgresBindings {
    var b = PostgresBindings()
    for v in values { b.append(v) }
    return b
}

func requireProject(_ id: String, _ db: PostgresClient, _ logger: Logger) async throws {
    for try await _ in try await db.query("SELECT 1 FROM atlas.projects WHERE canonical_id = \(id)", logger: logger) { return }
    throw APIError.notFound("Project '\(id)' not found.")
}

/// A repo id as given, or percent-encoded the way PG Atlas stores scoped npm names.
func resolveVertex(_ raw: String, _ db: PostgresClient, _ logger: Logger) async throws -> String {
    let candidates = [raw, raw.removingPercentEncoding ?? raw, raw.replacingOccurrences(of: "@", with: "%40")]
    for id in candidates {
        for try await _ in try await db.query("SELECT 1 FROM atlas.vertices WHERE canonical_id = \(id)", logger: logger) { return id }
    }
    throw APIError.notFound("Repo '\(raw)' not found.")
}
