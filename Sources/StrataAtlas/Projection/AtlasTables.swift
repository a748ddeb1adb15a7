import StrataProjections

/// The Atlas projection's tables (in its generation schema; readers use the `atlas` views).
enum AtlasTables {
    static func create(_ c: ProjectionContext) async throws {
        try await c.execute("""
            CREATE TABLE \(c.table("projects")) (
                canonical_id text PRIMARY KEY, display_name text NOT NULL, project_type text NOT NULL, activity_status text NOT NULL,
                integration_status text, category text, git_owner_url text, git_owner text, git_repo text,
                total_awarded_usd numeric, total_paid_usd numeric, awarded_submissions int, description text, website text,
                criticality_score int, pony_factor int, metadata jsonb NOT NULL DEFAULT '{}'
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("projects")) (git_owner)")
        try await c.execute("""
            CREATE TABLE \(c.table("rounds")) (
                canonical_id text PRIMARY KEY, name text NOT NULL, is_open boolean, close_date text, total_size_usd numeric,
                metadata jsonb NOT NULL DEFAULT '{}'
            )
            """)
        try await c.execute("""
            CREATE TABLE \(c.table("awards")) (
                canonical_id text PRIMARY KEY, project_id text NOT NULL, pool_id text NOT NULL, round_name text, status text,
                funds_asked_usd numeric, funds_approved_usd numeric, tranche_completion_percent numeric, created_at timestamptz
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("awards")) (project_id)")
        try await c.execute("""
            CREATE TABLE \(c.table("vertices")) (
                canonical_id text PRIMARY KEY, vertex_type text NOT NULL, display_name text NOT NULL, owner text,
                project_id text, repo_url text, latest_version text, latest_commit_date timestamptz, visibility text NOT NULL DEFAULT 'public',
                has_sbom boolean NOT NULL DEFAULT false, adoption_downloads bigint, adoption_stars bigint, adoption_forks bigint,
                releases jsonb NOT NULL DEFAULT '[]', criticality_score int NOT NULL DEFAULT 0, pony_factor int
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("vertices")) (project_id)")
        try await c.execute("CREATE INDEX ON \(c.table("vertices")) (owner)")
        try await c.execute("CREATE INDEX ON \(c.table("vertices")) (criticality_score DESC)")
        // The verified edges each repository's latest SBOM contributes.
        try await c.execute("""
            CREATE TABLE \(c.table("sbom_edges")) (
                repository_id text NOT NULL, in_id text NOT NULL, out_id text NOT NULL, version_range text NOT NULL DEFAULT '',
                PRIMARY KEY (repository_id, in_id, out_id, version_range)
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("sbom_edges")) (in_id)")
        // The inferred edges each registry observation contributes.
        try await c.execute("""
            CREATE TABLE \(c.table("registry_edges")) (
                source_purl text NOT NULL, in_id text NOT NULL, out_id text NOT NULL, version_range text NOT NULL DEFAULT '',
                PRIMARY KEY (source_purl, in_id, out_id, version_range)
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("registry_edges")) (in_id)")
        try await c.execute("""
            CREATE TABLE \(c.table("registry_observations")) (
                purl text PRIMARY KEY, ecosystem text NOT NULL, source_id text NOT NULL, downloads_30d bigint, latest_version text
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("registry_observations")) (source_id)")
        // The effective graph: verified edges, and inferred ones for nodes no SBOM speaks for.
        try await c.execute("""
            CREATE TABLE \(c.table("depends_on")) (
                in_id text NOT NULL, out_id text NOT NULL, version_range text NOT NULL DEFAULT '', confidence text NOT NULL,
                PRIMARY KEY (in_id, out_id, version_range)
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("depends_on")) (out_id)")
        try await c.execute("""
            CREATE TABLE \(c.table("commits")) (
                repo_id text NOT NULL, sha text NOT NULL, email_hash text NOT NULL, author_name text, authored_at timestamptz NOT NULL,
                PRIMARY KEY (repo_id, sha)
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("commits")) (email_hash)")
        try await c.execute("CREATE INDEX ON \(c.table("commits")) (authored_at)")
        try await c.execute("""
            CREATE TABLE \(c.table("contributors")) (email_hash text PRIMARY KEY, name text, last_commit_at timestamptz)
            """)
        try await c.execute("""
            CREATE TABLE \(c.table("sbom_submissions")) (
                submission_id text PRIMARY KEY, repository text NOT NULL, repository_id text NOT NULL, semantic_hash text NOT NULL,
                format text NOT NULL, package_count int NOT NULL, dependency_count int NOT NULL, status text NOT NULL,
                submitted_by text, oidc jsonb, submitted_at timestamptz NOT NULL
            )
            """)
        try await c.execute("CREATE INDEX ON \(c.table("sbom_submissions")) (repository, submitted_at)")
        // Bumped by every batch, so a worker can tell whether its in-memory graph is current.
        try await c.execute("CREATE TABLE \(c.table("graph_state")) (version bigint NOT NULL)")
        try await c.execute("INSERT INTO \(c.table("graph_state")) VALUES (0)")
    }
}
