/// The log's tables in the `strata` schema.
///
/// Offsets come from `strata.partitions.next_offset`, never from a sequence: `strata.append_events`
/// locks each partition's row for the rest of its transaction, so two appends to one partition run one
/// after the other and commit in offset order. A reader therefore never sees offset N+1 before N.
public enum LogMigrations {
    public static let component = "log"

    public static let all: [Migration] = [
        Migration(1, "event log", [
            """
            CREATE TABLE strata.topics (
                topic text PRIMARY KEY,
                partitions int NOT NULL CHECK (partitions BETWEEN 1 AND 1024),
                event_types text[] NOT NULL DEFAULT '{}',
                max_payload_bytes int NOT NULL,
                description text NOT NULL DEFAULT '',
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE strata.partitions (
                topic text NOT NULL REFERENCES strata.topics ON DELETE CASCADE,
                partition int NOT NULL,
                next_offset bigint NOT NULL DEFAULT 0,
                last_appended_at timestamptz,
                PRIMARY KEY (topic, partition)
            )
            """,
            """
            CREATE TABLE strata.events (
                topic text NOT NULL,
                partition int NOT NULL,
                log_offset bigint NOT NULL,
                event_id text NOT NULL,
                key text NOT NULL,
                type text NOT NULL,
                schema_version int NOT NULL,
                source text NOT NULL,
                occurred_at timestamptz,
                appended_at timestamptz NOT NULL DEFAULT now(),
                headers jsonb,
                compression smallint NOT NULL DEFAULT 0,
                payload bytea NOT NULL,
                PRIMARY KEY (topic, partition, log_offset)
            )
            """,
            "CREATE UNIQUE INDEX events_idempotency ON strata.events (topic, event_id)",
            // Large payloads are already zstd-compressed by Strata; do not let TOAST try pglz on them.
            "ALTER TABLE strata.events ALTER COLUMN payload SET STORAGE EXTERNAL",
            // One round trip per batch: lock the partitions in a fixed order (no deadlocks between
            // multi-partition batches), assign offsets, insert, advance the partitions, notify.
            // The optimistic insert runs in a subtransaction; only when an idempotency id is already
            // present does it fall back to looking ids up, so fresh appends pay no extra lookup.
            // `p_idx` is each event's position among the batch's events of its partition (computed
            // by the caller). The fast path returns one row per partition (ord 0, its first offset);
            // the duplicate path returns one row per event (ord = position in the batch, from 1).
            """
            CREATE FUNCTION strata.append_events(
                p_topic text[], p_partition int[], p_idx int[], p_event_id text[], p_key text[], p_type text[], p_version int[],
                p_source text[], p_occurred_at text[], p_headers text[], p_compression int2[], p_payload bytea[]
            ) RETURNS TABLE (ord int, out_topic text, out_partition int, out_offset bigint, duplicate boolean)
            LANGUAGE plpgsql AS $$
            DECLARE
                wanted int;
                locked int;
                r_ord int[];
                r_topic text[];
                r_partition int[];
                r_offset bigint[];
                r_duplicate boolean[];
            BEGIN
                SELECT count(*) INTO wanted FROM (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d;
                SELECT count(*) INTO locked FROM (
                    SELECT 1 FROM strata.partitions sp
                    JOIN (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d
                      ON sp.topic = d.t AND sp.partition = d.p
                    ORDER BY sp.topic, sp.partition
                    FOR UPDATE OF sp
                ) l;
                IF locked <> wanted THEN
                    RAISE EXCEPTION 'append names a topic or partition the log does not have' USING ERRCODE = 'P0002';
                END IF;

                BEGIN
                    WITH counts AS (
                        SELECT t, p, count(*) AS n FROM unnest(p_topic, p_partition) AS u(t, p) GROUP BY t, p
                    ), adv AS (
                        UPDATE strata.partitions sp
                           SET next_offset = sp.next_offset + c.n, last_appended_at = now()
                          FROM counts c
                         WHERE sp.topic = c.t AND sp.partition = c.p
                        RETURNING sp.topic, sp.partition, sp.next_offset - c.n AS base
                    ), ins AS (
                        INSERT INTO strata.events (topic, partition, log_offset, event_id, key, type, schema_version,
                                                   source, occurred_at, headers, compression, payload)
                        SELECT u.t, u.p, adv.base + u.i, u.id, u.k, u.ty, u.v, u.s,
                               NULLIF(u.oc, '')::timestamptz, NULLIF(u.h, '')::jsonb, u.c, u.pl
                          FROM unnest(p_topic, p_partition, p_idx, p_event_id, p_key, p_type, p_version, p_source,
                                      p_occurred_at, p_headers, p_compression, p_payload)
                               AS u(t, p, i, id, k, ty, v, s, oc, h, c, pl)
                          JOIN adv ON adv.topic = u.t AND adv.partition = u.p
                    )
                    SELECT array_agg(0), array_agg(adv.topic), array_agg(adv.partition), array_agg(adv.base), array_agg(false)
                      INTO r_ord, r_topic, r_partition, r_offset, r_duplicate
                      FROM adv;
                EXCEPTION WHEN unique_violation THEN
                    WITH u AS (
                        SELECT * FROM unnest(p_topic, p_partition, p_event_id, p_key, p_type, p_version, p_source,
                                             p_occurred_at, p_headers, p_compression, p_payload)
                             WITH ORDINALITY AS u(t, p, id, k, ty, v, s, oc, h, c, pl, ord)
                    ), existing AS (
                        SELECT u.ord, e.partition, e.log_offset
                          FROM u JOIN strata.events e ON e.topic = u.t AND e.event_id = u.id
                    ), b AS (
                        SELECT u.*, row_number() OVER (PARTITION BY u.t, u.p ORDER BY u.ord) - 1 AS idx
                          FROM u WHERE u.ord NOT IN (SELECT x.ord FROM existing x)
                    ), adv AS (
                        UPDATE strata.partitions sp
                           SET next_offset = sp.next_offset + c.n, last_appended_at = now()
                          FROM (SELECT t, p, count(*) AS n FROM b GROUP BY t, p) c
                         WHERE sp.topic = c.t AND sp.partition = c.p
                        RETURNING sp.topic, sp.partition, sp.next_offset - c.n AS base
                    ), ins AS (
                        INSERT INTO strata.events (topic, partition, log_offset, event_id, key, type, schema_version,
                                                   source, occurred_at, headers, compression, payload)
                        SELECT b.t, b.p, adv.base + b.idx, b.id, b.k, b.ty, b.v, b.s,
                               NULLIF(b.oc, '')::timestamptz, NULLIF(b.h, '')::jsonb, b.c, b.pl
                          FROM b JOIN adv ON adv.topic = b.t AND adv.partition = b.p
                    )
                    , result AS (
                        SELECT b.ord::int AS ord, b.t AS topic, b.p AS partition, adv.base + b.idx AS log_offset, false AS duplicate
                          FROM b JOIN adv ON adv.topic = b.t AND adv.partition = b.p
                        UNION ALL
                        SELECT x.ord::int, u.t, x.partition, x.log_offset, true FROM existing x JOIN u ON u.ord = x.ord
                    )
                    SELECT array_agg(r.ord), array_agg(r.topic), array_agg(r.partition), array_agg(r.log_offset), array_agg(r.duplicate)
                      INTO r_ord, r_topic, r_partition, r_offset, r_duplicate
                      FROM result r;
                END;

                PERFORM pg_notify('strata_events', sp.topic || '|' || sp.partition || '|' || sp.next_offset)
                   FROM strata.partitions sp
                   JOIN (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d
                     ON sp.topic = d.t AND sp.partition = d.p;

                RETURN QUERY SELECT * FROM unnest(r_ord, r_topic, r_partition, r_offset, r_duplicate);
            END
            $$
            """,
        ]),
        Migration(2, "an id re-used with other content is a conflict", [
            """
            DROP FUNCTION strata.append_events(text[], int[], int[], text[], text[], text[], int[], text[], text[], text[], int2[], bytea[])
            """,
            """
            CREATE FUNCTION strata.append_events(
                p_topic text[], p_partition int[], p_idx int[], p_event_id text[], p_key text[], p_type text[], p_version int[],
                p_source text[], p_occurred_at text[], p_headers text[], p_compression int2[], p_payload bytea[], p_semantic boolean[]
            ) RETURNS TABLE (ord int, out_topic text, out_partition int, out_offset bigint, duplicate boolean)
            LANGUAGE plpgsql AS $$
            DECLARE
                wanted int;
                locked int;
                r_ord int[];
                r_topic text[];
                r_partition int[];
                r_offset bigint[];
                r_duplicate boolean[];
                c_id text;
                c_partition int;
                c_offset bigint;
            BEGIN
                SELECT count(*) INTO wanted FROM (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d;
                SELECT count(*) INTO locked FROM (
                    SELECT 1 FROM strata.partitions sp
                    JOIN (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d
                      ON sp.topic = d.t AND sp.partition = d.p
                    ORDER BY sp.topic, sp.partition
                    FOR UPDATE OF sp
                ) l;
                IF locked <> wanted THEN
                    RAISE EXCEPTION 'append names a topic or partition the log does not have' USING ERRCODE = 'P0002';
                END IF;

                BEGIN
                    WITH counts AS (
                        SELECT t, p, count(*) AS n FROM unnest(p_topic, p_partition) AS u(t, p) GROUP BY t, p
                    ), adv AS (
                        UPDATE strata.partitions sp
                           SET next_offset = sp.next_offset + c.n, last_appended_at = now()
                          FROM counts c
                         WHERE sp.topic = c.t AND sp.partition = c.p
                        RETURNING sp.topic, sp.partition, sp.next_offset - c.n AS base
                    ), ins AS (
                        INSERT INTO strata.events (topic, partition, log_offset, event_id, key, type, schema_version,
                                                   source, occurred_at, headers, compression, payload)
                        SELECT u.t, u.p, adv.base + u.i, u.id, u.k, u.ty, u.v, u.s,
                               NULLIF(u.oc, '')::timestamptz, NULLIF(u.h, '')::jsonb, u.c, u.pl
                          FROM unnest(p_topic, p_partition, p_idx, p_event_id, p_key, p_type, p_version, p_source,
                                      p_occurred_at, p_headers, p_compression, p_payload)
                               AS u(t, p, i, id, k, ty, v, s, oc, h, c, pl)
                          JOIN adv ON adv.topic = u.t AND adv.partition = u.p
                    )
                    SELECT array_agg(0), array_agg(adv.topic), array_agg(adv.partition), array_agg(adv.base), array_agg(false)
                      INTO r_ord, r_topic, r_partition, r_offset, r_duplicate
                      FROM adv;
                EXCEPTION WHEN unique_violation THEN
                    -- An id already in the log with other content is a conflict, not a duplicate:
                    -- the whole batch fails (SQLSTATE SX409) naming the id and where it is.
                    SELECT u.id, e.partition, e.log_offset INTO c_id, c_partition, c_offset
                      FROM unnest(p_topic, p_event_id, p_key, p_type, p_version, p_compression, p_payload, p_semantic)
                           AS u(t, id, k, ty, v, c, pl, sem)
                      JOIN strata.events e ON e.topic = u.t AND e.event_id = u.id
                     WHERE NOT u.sem AND (e.key <> u.k OR e.type <> u.ty OR e.schema_version <> u.v OR e.compression <> u.c OR e.payload <> u.pl)
                     LIMIT 1;
                    IF FOUND THEN
                        RAISE EXCEPTION 'event id % is already in the log at partition % offset % with a different key, type or payload',
                            c_id, c_partition, c_offset
                            USING ERRCODE = 'SX409', DETAIL = c_partition || '|' || c_offset || '|' || c_id;
                    END IF;
                    WITH u AS (
                        SELECT * FROM unnest(p_topic, p_partition, p_event_id, p_key, p_type, p_version, p_source,
                                             p_occurred_at, p_headers, p_compression, p_payload)
                             WITH ORDINALITY AS u(t, p, id, k, ty, v, s, oc, h, c, pl, ord)
                    ), existing AS (
                        SELECT u.ord, e.partition, e.log_offset
                          FROM u JOIN strata.events e ON e.topic = u.t AND e.event_id = u.id
                    ), b AS (
                        SELECT u.*, row_number() OVER (PARTITION BY u.t, u.p ORDER BY u.ord) - 1 AS idx
                          FROM u WHERE u.ord NOT IN (SELECT x.ord FROM existing x)
                    ), adv AS (
                        UPDATE strata.partitions sp
                           SET next_offset = sp.next_offset + c.n, last_appended_at = now()
                          FROM (SELECT t, p, count(*) AS n FROM b GROUP BY t, p) c
                         WHERE sp.topic = c.t AND sp.partition = c.p
                        RETURNING sp.topic, sp.partition, sp.next_offset - c.n AS base
                    ), ins AS (
                        INSERT INTO strata.events (topic, partition, log_offset, event_id, key, type, schema_version,
                                                   source, occurred_at, headers, compression, payload)
                        SELECT b.t, b.p, adv.base + b.idx, b.id, b.k, b.ty, b.v, b.s,
                               NULLIF(b.oc, '')::timestamptz, NULLIF(b.h, '')::jsonb, b.c, b.pl
                          FROM b JOIN adv ON adv.topic = b.t AND adv.partition = b.p
                    )
                    , result AS (
                        SELECT b.ord::int AS ord, b.t AS topic, b.p AS partition, adv.base + b.idx AS log_offset, false AS duplicate
                          FROM b JOIN adv ON adv.topic = b.t AND adv.partition = b.p
                        UNION ALL
                        SELECT x.ord::int, u.t, x.partition, x.log_offset, true FROM existing x JOIN u ON u.ord = x.ord
                    )
                    SELECT array_agg(r.ord), array_agg(r.topic), array_agg(r.partition), array_agg(r.log_offset), array_agg(r.duplicate)
                      INTO r_ord, r_topic, r_partition, r_offset, r_duplicate
                      FROM result r;
                END;

                PERFORM pg_notify('strata_events', sp.topic || '|' || sp.partition || '|' || sp.next_offset)
                   FROM strata.partitions sp
                   JOIN (SELECT DISTINCT t, p FROM unnest(p_topic, p_partition) AS u(t, p)) d
                     ON sp.topic = d.t AND sp.partition = d.p;

                RETURN QUERY SELECT * FROM unnest(r_ord, r_topic, r_partition, r_offset, r_duplicate);
            END
            $$
            """,
        ]),
    ]
}
