import Foundation
import Logging
import PostgresNIO
import StrataAtlasModel
import StrataCore
import StrataProjections

/// How each Atlas event changes the tables, inside the batch's transaction.
struct AtlasHandlers {
    let context: ProjectionContext

    func t(_ name: String) -> String { context.table(name) }

    // MARK: SBOMs

    func sbom(_ payload: JSONValue, event: Event, into batch: inout AtlasBatch) async throws {
        guard let repository = payload["repository"]?.stringValue else {
            throw ProjectionError("sbom event \(event.position) has no repository")
        }
        let sbom: SBOMDocument
        do {
            sbom = try SBOMParser(schemas: nil).parse(payload: payload)
        } catch {
            throw ProjectionError("sbom event \(event.position): \(error.description)")
        }
        let repoID = AtlasEvents.repositoryID(repository)
        let edges = sbom.edges(repository: repoID)
        // The repository itself, then every package it names. Vertex attributes come only from the
        // id or from one authoritative source (the registry for versions and URLs), never from
        // whichever SBOM came last: SBOMs of different repositories disagree on versions, and
        // partitions are applied in any order.
        let ids = Set(sbom.packages.filter { $0.id != repoID && !sbom.roots.contains($0.ref) }.map(\.id)).sorted()
        try await ensureVertices([repoID] + ids)
        try await context.query("UPDATE \(unescaped: t("vertices")) SET has_sbom = true WHERE canonical_id = \(repoID)")
        var old: Set<String> = []
        for try await source in try await context.query(
            "SELECT DISTINCT in_id FROM \(unescaped: t("sbom_edges")) WHERE repository_id = \(repoID)"
        ).decode(String.self) { old.insert(source) }
        try await context.query("DELETE FROM \(unescaped: t("sbom_edges")) WHERE repository_id = \(repoID)")
        if !edges.isEmpty {
            try await context.query("""
                INSERT INTO \(unescaped: t("sbom_edges")) (repository_id, in_id, out_id, version_range)
                SELECT \(repoID), * FROM unnest(\(edges.map(\.from)), \(edges.map(\.to)), \(edges.map { $0.versionRange ?? "" }))
                ON CONFLICT DO NOTHING
                """)
        }
        batch.edgeSources.formUnion(old)
        batch.edgeSources.formUnion(edges.map(\.from))
        batch.edgeSources.insert(repoID)
        try await link(vertices: [repoID] + ids, into: &batch)
        batch.mutations.append(.setKind(repoID, .repo))
        try await context.query("""
            INSERT INTO \(unescaped: t("sbom_submissions"))
                (submission_id, repository, repository_id, semantic_hash, format, package_count, dependency_count, status, submitted_by,
                 oidc, submitted_at)
            VALUES (\("\(event.partition)-\(event.offset)"), \(repository), \(repoID), \(payload["semantic_hash"]?.stringValue ?? ""),
                    \(payload["format"]?.stringValue ?? ""), \(sbom.packages.count), \(edges.count), 'processed',
                    \(payload["submitted_by"]?.stringValue), \(payload["oidc"].map { JSONWriter.string($0) })::jsonb, \(event.appendedAt))
            ON CONFLICT (submission_id) DO NOTHING
            """)
    }

    // MARK: Grants

    /// OpenGrants integration status -> PG Atlas activity status.
    static func activityStatus(_ integration: String?) -> String {
        switch integration?.trimmingCharacters(in: .whitespaces).lowercased() {
        case "mainnet", "live (on mainnet)", "expansion": return "live"
        case "testnet", "development", "idea": return "in-dev"
        case "abandoned", "completed": return "discontinued"
        case "unknown": return "non-responsive"
        default: return "in-dev"
        }
    }

    func project(_ p: JSONValue, into batch: inout AtlasBatch) async throws {
        guard let id = p["id"]?.stringValue else { throw ProjectionError("grant project without an id") }
        let ext = p["extensions"]?["org.stellar.communityfund"]
        func field(_ name: String) -> JSONValue? { ext?["org.stellar.communityfund.\(name)"] }
        let integration = field("integrationStatus")?.stringValue
        var gitURL = field("github")?.stringValue
        if gitURL?.isEmpty ?? true {
            gitURL = (p["socials"]?.arrayValue ?? []).first { ($0["name"]?.stringValue ?? "").lowercased() == "github" }?["value"]?.stringValue
        }
        let parts = gitURL.map(AtlasEvents.githubPath) ?? []
        let owner = parts.first?.lowercased()
        let repo = parts.count >= 2 ? "\(parts[0])/\(parts[1])".lowercased() : nil
        func number(_ v: JSONValue?) -> String? {
            guard let v else { return nil }
            if case .number(let n) = v { return n }
            if let s = v.stringValue, Double(s) != nil { return s }
            return nil
        }
        let metadata: JSONValue = .object([
            "open_source": field("openSource") ?? .null, "socials": p["socials"] ?? .null,
            "rounds": field("roundFromAwardedSubmissions") ?? .null, "analytics": field("analytics") ?? .null,
            "regions_of_operation": field("regionsOfOperation") ?? .null, "soroban_used": field("sorobanUsed") ?? .null,
        ])
        var previousOwner: String?
        for try await o in try await context.query("SELECT git_owner FROM \(unescaped: t("projects")) WHERE canonical_id = \(id)").decode(String?.self) {
            previousOwner = o
        }
        try await context.query("""
            INSERT INTO \(unescaped: t("projects")) AS p (canonical_id, display_name, project_type, activity_status, integration_status, category,
                   git_owner_url, git_owner, git_repo, total_awarded_usd, total_paid_usd, awarded_submissions, description, website, metadata)
            VALUES (\(id), \(p["name"]?.stringValue ?? id), 'scf-project', \(Self.activityStatus(integration)), \(integration),
                    \(field("category")?.stringValue), \(gitURL), \(owner), \(repo), \(number(field("totalAwardedUSD")))::numeric,
                    \(number(field("totalPaidUSD")))::numeric, \(number(field("awardedSubmissionsCount")))::int, \(p["description"]?.stringValue),
                    \(p["contentURI"]?.stringValue), \(JSONWriter.string(metadata))::jsonb)
            ON CONFLICT (canonical_id) DO UPDATE SET
                display_name = EXCLUDED.display_name, activity_status = EXCLUDED.activity_status,
                integration_status = EXCLUDED.integration_status, category = EXCLUDED.category, git_owner_url = EXCLUDED.git_owner_url,
                git_owner = EXCLUDED.git_owner, git_repo = EXCLUDED.git_repo, total_awarded_usd = EXCLUDED.total_awarded_usd,
                total_paid_usd = EXCLUDED.total_paid_usd, awarded_submissions = EXCLUDED.awarded_submissions,
                description = EXCLUDED.description, website = EXCLUDED.website, metadata = EXCLUDED.metadata
            """)
        batch.mutations.append(.setProjectStatus(id, ProjectActivityStatus(parsing: Self.activityStatus(integration))))
        batch.touchedProjects.insert(id)
        // Repos of the owner (and of the owner it had before) may change project.
        var owners = Set<String>()
        if let owner { owners.insert(owner) }
        if let previousOwner { owners.insert(previousOwner) }
        if !owners.isEmpty {
            var candidates: [String] = []
            for try await v in try await context.query(
                "SELECT canonical_id FROM \(unescaped: t("vertices")) WHERE owner = ANY(\(Array(owners).sorted()))"
            ).decode(String.self) { candidates.append(v) }
            try await link(vertices: candidates, into: &batch)
        }
    }

    func pool(_ p: JSONValue) async throws {
        guard let id = p["id"]?.stringValue else { throw ProjectionError("grant pool without an id") }
        let size = (p["totalGrantPoolSize"]?.arrayValue ?? []).first { $0["denomination"]?.stringValue == "USD" }?["amount"]?.stringValue
        try await context.query("""
            INSERT INTO \(unescaped: t("rounds")) (canonical_id, name, is_open, close_date, total_size_usd, metadata)
            VALUES (\(id), \(p["name"]?.stringValue ?? id), \(p["isOpen"]?.boolValue), \(p["closeDate"]?.stringValue),
                    \(size.flatMap { Double($0) != nil ? $0 : nil })::numeric, \(JSONWriter.string(p["extensions"] ?? .object([:])))::jsonb)
            ON CONFLICT (canonical_id) DO UPDATE SET name = EXCLUDED.name, is_open = EXCLUDED.is_open, close_date = EXCLUDED.close_date,
                total_size_usd = EXCLUDED.total_size_usd, metadata = EXCLUDED.metadata
            """)
    }

    func application(_ a: JSONValue) async throws {
        guard let id = a["id"]?.stringValue, let project = a["projectId"]?.stringValue, let pool = a["grantPoolId"]?.stringValue else {
            throw ProjectionError("grant application without id, projectId or grantPoolId")
        }
        func usd(_ v: JSONValue?) -> String? {
            guard let v else { return nil }
            if case .number(let n) = v { return n }
            return v.stringValue.flatMap { Double($0) != nil ? $0 : nil }
        }
        let ext = a["extensions"]?["org.stellar.communityfund"]
        try await context.query("""
            INSERT INTO \(unescaped: t("awards")) (canonical_id, project_id, pool_id, round_name, status, funds_asked_usd, funds_approved_usd,
                   tranche_completion_percent, created_at)
            VALUES (\(id), \(project), \(pool), \(a["grantPoolName"]?.stringValue ?? ext?["org.stellar.communityfund.round"]?.stringValue),
                    \(a["status"]?.stringValue), \(usd(a["fundsAskedInUSD"]))::numeric, \(usd(a["fundsApprovedInUSD"]))::numeric,
                    \(usd(ext?["org.stellar.communityfund.trancheCompletionPercent"]))::numeric,
                    \(a["createdAt"]?.stringValue.flatMap(RFC3339.parse)))
            ON CONFLICT (canonical_id) DO UPDATE SET project_id = EXCLUDED.project_id, pool_id = EXCLUDED.pool_id,
                round_name = EXCLUDED.round_name, status = EXCLUDED.status, funds_asked_usd = EXCLUDED.funds_asked_usd,
                funds_approved_usd = EXCLUDED.funds_approved_usd, tranche_completion_percent = EXCLUDED.tranche_completion_percent,
                created_at = EXCLUDED.created_at
            """)
    }

    // MARK: Commits

    func commits(_ payload: JSONValue, into batch: inout AtlasBatch) async throws {
        guard let repository = payload["repository"]?.stringValue else { throw ProjectionError("commits event without a repository") }
        let repoID = AtlasEvents.repositoryID(repository)
        let commits = payload["commits"]?.arrayValue ?? []
        try await ensureVertices([repoID])
        if !commits.isEmpty {
            let shas = commits.map { $0["sha"]?.stringValue ?? "" }
            let hashes = commits.map { $0["author_email_sha256"]?.stringValue ?? "" }
            let names = commits.map { $0["author_name"]?.stringValue ?? "" }
            let dates = commits.map { $0["authored_at"]?.stringValue ?? "" }
            try await context.query("""
                INSERT INTO \(unescaped: t("commits")) (repo_id, sha, email_hash, author_name, authored_at)
                SELECT \(repoID), s, h, n, d::timestamptz FROM unnest(\(shas), \(hashes), \(names), \(dates)) AS u(s, h, n, d)
                ON CONFLICT DO NOTHING
                """)
            // A contributor's name is the one on their newest commit.
            try await context.query("""
                INSERT INTO \(unescaped: t("contributors")) AS c (email_hash, name, last_commit_at)
                SELECT DISTINCT ON (h) h, n, d::timestamptz FROM unnest(\(hashes), \(names), \(dates)) AS u(h, n, d)
                 ORDER BY h, d::timestamptz DESC, n DESC
                ON CONFLICT (email_hash) DO UPDATE
                   SET name = CASE WHEN (EXCLUDED.last_commit_at, EXCLUDED.name) > (c.last_commit_at, c.name) THEN EXCLUDED.name ELSE c.name END,
                       last_commit_at = greatest(c.last_commit_at, EXCLUDED.last_commit_at)
                """)
            try await context.query("""
                UPDATE \(unescaped: t("vertices")) SET latest_commit_date = (SELECT max(authored_at) FROM \(unescaped: t("commits")) WHERE repo_id = \(repoID))
                 WHERE canonical_id = \(repoID)
                """)
        }
        batch.touchedRepos.insert(repoID)
        try await link(vertices: [repoID], into: &batch)
    }

    // MARK: Registry

    func package(_ o: JSONValue, into batch: inout AtlasBatch) async throws {
        guard let purl = o["purl"]?.stringValue, let ecosystem = o["ecosystem"]?.stringValue else {
            throw ProjectionError("registry observation without purl or ecosystem")
        }
        // Edges attach to the package itself, so what an SBOM depends on reaches what that package
        // depends on. Its downloads also count for its source repository on GitHub, if known.
        let repository = o["repository_url"]?.stringValue.flatMap(AtlasEvents.ownerRepo).map(AtlasEvents.repositoryID)
        let source = repository ?? purl
        var names = [purl]
        if let repository { names.append(repository) }
        try await ensureVertices(names)
        let releases = JSONWriter.string(o["releases"] ?? .array([]))
        try await context.query("""
            UPDATE \(unescaped: t("vertices")) SET latest_version = \(o["latest_version"]?.stringValue),
                   releases = \(releases)::jsonb, repo_url = \(o["repository_url"]?.stringValue),
                   adoption_downloads = \(o["downloads_30d"]?.int64Value)
             WHERE canonical_id = \(purl)
            """)
        var previousSource: String?
        for try await s in try await context.query(
            "SELECT source_id FROM \(unescaped: t("registry_observations")) WHERE purl = \(purl)").decode(String.self) { previousSource = s }
        try await context.query("""
            INSERT INTO \(unescaped: t("registry_observations")) (purl, ecosystem, source_id, downloads_30d, latest_version)
            VALUES (\(purl), \(ecosystem), \(source), \(o["downloads_30d"]?.int64Value), \(o["latest_version"]?.stringValue))
            ON CONFLICT (purl) DO UPDATE SET ecosystem = EXCLUDED.ecosystem, source_id = EXCLUDED.source_id,
                downloads_30d = EXCLUDED.downloads_30d, latest_version = EXCLUDED.latest_version
            """)
        // Downloads of all the packages a repository publishes add up.
        for id in Set([source, previousSource].compactMap { $0 }) where id != purl {
            try await context.query("""
                UPDATE \(unescaped: t("vertices")) SET adoption_downloads = (
                    SELECT sum(downloads_30d) FROM \(unescaped: t("registry_observations")) WHERE source_id = \(id))
                 WHERE canonical_id = \(id)
                """)
        }
        var old: Set<String> = []
        for try await s in try await context.query(
            "SELECT DISTINCT in_id FROM \(unescaped: t("registry_edges")) WHERE source_purl = \(purl)").decode(String.self) { old.insert(s) }
        try await context.query("DELETE FROM \(unescaped: t("registry_edges")) WHERE source_purl = \(purl)")
        var ins: [String] = []
        var outs: [String] = []
        var ranges: [String] = []
        for d in o["dependencies"]?.arrayValue ?? [] {
            guard let to = d["purl"]?.stringValue, to != purl else { continue }
            ins.append(purl)
            outs.append(to)
            ranges.append(d["version_range"]?.stringValue ?? "")
        }
        for dependent in o["dependents"]?.arrayValue?.compactMap(\.stringValue) ?? [] where dependent != purl {
            ins.append(dependent)
            outs.append(purl)
            ranges.append("")
        }
        if !ins.isEmpty {
            try await ensureVertices(ins + outs)
            try await context.query("""
                INSERT INTO \(unescaped: t("registry_edges")) (source_purl, in_id, out_id, version_range)
                SELECT \(purl), * FROM unnest(\(ins), \(outs), \(ranges)) ON CONFLICT DO NOTHING
                """)
        }
        batch.edgeSources.formUnion(old)
        batch.edgeSources.formUnion(ins)
        try await link(vertices: Array(Set(names + ins + outs)), into: &batch)
    }

    func repository(_ o: JSONValue, into batch: inout AtlasBatch) async throws {
        guard let url = o["repository_url"]?.stringValue, let ownerRepo = AtlasEvents.ownerRepo(fromURL: url) else {
            throw ProjectionError("repository observation needs a GitHub repository_url")
        }
        let id = AtlasEvents.repositoryID(ownerRepo)
        try await ensureVertices([id])
        try await context.query("""
            UPDATE \(unescaped: t("vertices")) SET adoption_stars = \(o["stars"]?.int64Value), adoption_forks = \(o["forks"]?.int64Value)
             WHERE canonical_id = \(id)
            """)
        try await link(vertices: [id], into: &batch)
    }

    // MARK: Shared steps

    /// Creates vertices that do not exist yet, with what their id alone says: display name, GitHub
    /// owner and, for GitHub repositories, their URL.
    func ensureVertices(_ ids: [String]) async throws {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { return }
        try await context.query("""
            INSERT INTO \(unescaped: t("vertices")) (canonical_id, vertex_type, display_name, owner, repo_url)
            SELECT u.id, 'external-repo', u.name, \(unescaped: Self.ownerSQL("u.id")),
                   CASE WHEN u.id LIKE 'pkg:github/%' THEN 'https://github.com/' || substr(u.id, 12) END
              FROM unnest(\(unique), \(unique.map(Self.displayName))) AS u(id, name)
            ON CONFLICT (canonical_id) DO NOTHING
            """)
    }

    /// Assigns each vertex its project: a project naming exactly its repository wins, else one whose
    /// GitHub owner is the vertex's owner (the smallest id when several do). A vertex is a repo when
    /// it has a project or submitted an SBOM, else an external package.
    func link(vertices ids: [String], into batch: inout AtlasBatch) async throws {
        guard !ids.isEmpty else { return }
        let rows = try await context.query("""
            WITH target AS (
                SELECT v.canonical_id, v.project_id AS old_project, v.vertex_type AS old_type, v.has_sbom,
                       (SELECT p.canonical_id FROM \(unescaped: t("projects")) p
                         WHERE v.owner IS NOT NULL AND p.git_owner = v.owner
                           AND (p.git_repo = lower(substr(v.canonical_id, 12)) OR p.git_repo IS NULL)
                         ORDER BY (p.git_repo IS NULL), p.canonical_id LIMIT 1) AS new_project
                  FROM \(unescaped: t("vertices")) v
                 WHERE v.canonical_id = ANY(\(Array(Set(ids)).sorted()))
            )
            UPDATE \(unescaped: t("vertices")) v
               SET project_id = target.new_project,
                   vertex_type = CASE WHEN target.new_project IS NOT NULL OR target.has_sbom THEN 'repo' ELSE 'external-repo' END
              FROM target
             WHERE v.canonical_id = target.canonical_id
               AND (target.old_project IS DISTINCT FROM target.new_project
                    OR target.old_type <> CASE WHEN target.new_project IS NOT NULL OR target.has_sbom THEN 'repo' ELSE 'external-repo' END)
            RETURNING v.canonical_id, v.project_id, v.vertex_type, target.old_project
            """)
        for try await (id, project, type, oldProject) in rows.decode((String, String?, String, String?).self) {
            batch.mutations.append(.setKind(id, type == "repo" ? .repo : .externalPackage))
            batch.mutations.append(.setProject(id, project: project))
            batch.touchedRepos.insert(id)
            if let project { batch.touchedProjects.insert(project) }
            if let oldProject { batch.touchedProjects.insert(oldProject) }
        }
    }

    /// Rebuilds the effective out-edges of the batch's edge sources: the verified edges SBOMs give
    /// them, or, for a node no SBOM speaks for, the inferred edges registries give. An SBOM is
    /// authoritative for its subject, so an inferred edge never replaces or joins verified ones.
    func recomputeEffectiveEdges(_ batch: inout AtlasBatch) async throws {
        let sources = batch.edgeSources.sorted()
        guard !sources.isEmpty else { return }
        try await context.query("DELETE FROM \(unescaped: t("depends_on")) WHERE in_id = ANY(\(sources))")
        try await context.query("""
            INSERT INTO \(unescaped: t("depends_on")) (in_id, out_id, version_range, confidence)
            SELECT DISTINCT s.in_id, s.out_id, s.version_range, 'verified-sbom'
              FROM \(unescaped: t("sbom_edges")) s WHERE s.in_id = ANY(\(sources))
            UNION
            SELECT DISTINCT r.in_id, r.out_id, r.version_range, 'inferred-shadow'
              FROM \(unescaped: t("registry_edges")) r
             WHERE r.in_id = ANY(\(sources))
               AND NOT EXISTS (SELECT 1 FROM \(unescaped: t("sbom_edges")) s WHERE s.in_id = r.in_id)
               AND NOT EXISTS (SELECT 1 FROM \(unescaped: t("vertices")) v WHERE v.canonical_id = r.in_id AND v.has_sbom)
            """)
        var outs: [String: Set<String>] = Dictionary(uniqueKeysWithValues: sources.map { ($0, []) })
        for try await (from, to) in try await context.query(
            "SELECT DISTINCT in_id, out_id FROM \(unescaped: t("depends_on")) WHERE in_id = ANY(\(sources))"
        ).decode((String, String).self) {
            outs[from, default: []].insert(to)
        }
        for source in sources { batch.mutations.append(.setOutEdges(of: source, to: outs[source] ?? [])) }
    }

    func writeCriticality(_ changes: CriticalityChanges) async throws {
        let nodes = changes.nodeScores.keys.sorted()
        if !nodes.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: t("vertices")) v SET criticality_score = u.score
                  FROM unnest(\(nodes), \(nodes.map { changes.nodeScores[$0]! })) AS u(id, score)
                 WHERE v.canonical_id = u.id
                """)
        }
        let projects = changes.projectScores.keys.sorted()
        if !projects.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: t("projects")) p SET criticality_score = u.score
                  FROM unnest(\(projects), \(projects.map { changes.projectScores[$0]! })) AS u(id, score)
                 WHERE p.canonical_id = u.id
                """)
        }
        if !changes.projectsWithoutRepos.isEmpty {
            try await context.query("""
                UPDATE \(unescaped: t("projects")) SET criticality_score = NULL WHERE canonical_id = ANY(\(changes.projectsWithoutRepos.sorted()))
                """)
        }
    }

    /// Pony factor of the touched repos (commits in the 24 months up to the repo's newest commit) and
    /// of their projects (commit counts per contributor summed over the project's repos).
    func writePonyFactors(repos: Set<String>, projects: Set<String>) async throws {
        var allProjects = projects
        if !repos.isEmpty {
            let ids = repos.sorted()
            var counts: [String: [Int]] = Dictionary(uniqueKeysWithValues: ids.map { ($0, []) })
            for try await (repo, n) in try await context.query("""
                SELECT c.repo_id, count(*)::int FROM \(unescaped: t("commits")) c
                  JOIN (SELECT repo_id, max(authored_at) AS last FROM \(unescaped: t("commits")) WHERE repo_id = ANY(\(ids)) GROUP BY repo_id) m
                    ON m.repo_id = c.repo_id
                 WHERE c.authored_at > m.last - interval '24 months'
                 GROUP BY c.repo_id, c.email_hash
                """).decode((String, Int).self)
            {
                counts[repo, default: []].append(n)
            }
            let hasCommits = ids.filter { !(counts[$0] ?? []).isEmpty }
            try await context.query("""
                UPDATE \(unescaped: t("vertices")) v SET pony_factor = u.pony
                  FROM unnest(\(hasCommits), \(hasCommits.map { PonyFactor.compute(counts[$0]!) })) AS u(id, pony)
                 WHERE v.canonical_id = u.id
                """)
            // A repo without commits has pony factor 0 (PG Atlas's answer: nobody covers its
            // commits); packages outside the ecosystem have none.
            let noCommits = ids.filter { (counts[$0] ?? []).isEmpty }
            if !noCommits.isEmpty {
                try await context.query("""
                    UPDATE \(unescaped: t("vertices")) SET pony_factor = CASE WHEN vertex_type = 'repo' THEN 0 END
                     WHERE canonical_id = ANY(\(noCommits))
                    """)
            }
            for try await p in try await context.query(
                "SELECT DISTINCT project_id FROM \(unescaped: t("vertices")) WHERE canonical_id = ANY(\(ids)) AND project_id IS NOT NULL"
            ).decode(String.self) { allProjects.insert(p) }
        }
        guard !allProjects.isEmpty else { return }
        let ids = allProjects.sorted()
        var counts: [String: [Int]] = [:]
        for try await (project, n) in try await context.query("""
            SELECT v.project_id, sum(x.n)::int FROM \(unescaped: t("vertices")) v
              JOIN LATERAL (
                SELECT c.email_hash, count(*) AS n FROM \(unescaped: t("commits")) c
                 WHERE c.repo_id = v.canonical_id
                   AND c.authored_at > (SELECT max(authored_at) FROM \(unescaped: t("commits")) WHERE repo_id = v.canonical_id) - interval '24 months'
                 GROUP BY c.email_hash) x ON true
             WHERE v.project_id = ANY(\(ids))
             GROUP BY v.project_id, x.email_hash
            """).decode((String, Int).self)
        {
            counts[project, default: []].append(n)
        }
        try await context.query("""
            UPDATE \(unescaped: t("projects")) p
               SET pony_factor = CASE WHEN EXISTS (SELECT 1 FROM \(unescaped: t("vertices")) v WHERE v.project_id = p.canonical_id) THEN u.pony END
              FROM unnest(\(ids), \(ids.map { PonyFactor.compute(counts[$0] ?? []) })) AS u(id, pony)
             WHERE p.canonical_id = u.id
            """)
    }

    /// The GitHub owner of a `pkg:github/OWNER/REPO` id, as SQL over the column `expression`.
    static func ownerSQL(_ expression: String) -> String {
        "CASE WHEN \(expression) LIKE 'pkg:github/%' THEN lower(split_part(substr(\(expression), 12), '/', 1)) END"
    }

    /// `pkg:github/Owner/Repo` -> `Repo`; `pkg:npm/%40scope/name` -> `@scope/name`; `pkg:pypi/x` -> `x`.
    static func displayName(_ id: String) -> String {
        guard id.hasPrefix("pkg:"), let slash = id.firstIndex(of: "/") else { return id }
        let path = String(id[id.index(after: slash)...])
        if id.hasPrefix("pkg:github/") { return path.split(separator: "/").last.map(String.init) ?? path }
        return path.removingPercentEncoding ?? path
    }
}

extension AtlasEvents {
    /// The owner of a `pkg:github/OWNER/REPO` graph id, lower-cased.
    static func githubOwner(ofID id: String) -> String? {
        guard id.hasPrefix("pkg:github/") else { return nil }
        return id.dropFirst("pkg:github/".count).split(separator: "/").first.map { $0.lowercased() }
    }
}
