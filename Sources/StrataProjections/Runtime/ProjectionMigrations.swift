import StrataPostgres

/// The projection runtime's bookkeeping tables in the `strata` schema.
public enum ProjectionMigrations {
    public static let component = "projections"

    public static let all: [Migration] = [
        Migration(1, "projection runtime", [
            """
            CREATE TABLE strata.projections (
                projection text PRIMARY KEY,
                live_generation int,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE strata.generations (
                projection text NOT NULL REFERENCES strata.projections ON DELETE CASCADE,
                generation int NOT NULL,
                version int NOT NULL,
                state text NOT NULL CHECK (state IN ('building', 'live', 'retired', 'aborted')),
                created_at timestamptz NOT NULL DEFAULT now(),
                live_at timestamptz,
                ended_at timestamptz,
                PRIMARY KEY (projection, generation)
            )
            """,
            """
            CREATE TABLE strata.checkpoints (
                projection text NOT NULL,
                generation int NOT NULL,
                topic text NOT NULL,
                partition int NOT NULL,
                next_offset bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now(),
                halted_at timestamptz,
                halted_reason text,
                PRIMARY KEY (projection, generation, topic, partition),
                FOREIGN KEY (projection, generation) REFERENCES strata.generations ON DELETE CASCADE
            )
            """,
            """
            CREATE TABLE strata.workers (
                worker_id text PRIMARY KEY,
                host text NOT NULL,
                pid int NOT NULL,
                projections text[] NOT NULL DEFAULT '{}',
                started_at timestamptz NOT NULL DEFAULT now(),
                heartbeat_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE strata.leases (
                projection text NOT NULL,
                topic text NOT NULL,
                partition int NOT NULL,
                owner text,
                expires_at timestamptz,
                acquired_at timestamptz,
                PRIMARY KEY (projection, topic, partition)
            )
            """,
            """
            CREATE TABLE strata.dead_letters (
                id bigserial PRIMARY KEY,
                projection text NOT NULL,
                generation int NOT NULL,
                topic text NOT NULL,
                partition int NOT NULL,
                log_offset bigint NOT NULL,
                event_id text NOT NULL,
                event_type text NOT NULL,
                error text NOT NULL,
                attempts int NOT NULL,
                status text NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'applied', 'discarded')),
                parked_at timestamptz NOT NULL DEFAULT now(),
                resolved_at timestamptz,
                UNIQUE (projection, generation, topic, partition, log_offset)
            )
            """,
            "CREATE INDEX dead_letters_parked ON strata.dead_letters (projection, status)",
        ]),
        // One runner per scheduled job across processes (StrataJobs' scheduler).
        Migration(2, "job leases", [
            """
            CREATE TABLE strata.job_leases (
                job text PRIMARY KEY,
                owner text,
                expires_at timestamptz,
                acquired_at timestamptz
            )
            """,
        ]),
    ]
}
