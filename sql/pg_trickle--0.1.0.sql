-- pg_trickle 0.1.0: catalog, SQL API and DDL tracking.
\echo Use "CREATE EXTENSION pg_trickle" to load this file. \quit

-- Both schemas are created here (not through the control file) so that they belong to the
-- extension and DROP EXTENSION removes them.
CREATE SCHEMA pgtrickle;
CREATE SCHEMA pgtrickle_changes;
-- Change buffers are private tables (REVOKE ALL FROM PUBLIC each); the owner of a stream table
-- is granted SELECT on the buffers its refreshes read.
GRANT USAGE ON SCHEMA pgtrickle_changes TO PUBLIC;
-- Orders the changes of one transaction around the refreshes it runs itself (see core/cdc.hpp).
CREATE SEQUENCE pgtrickle_changes.change_seq;
GRANT USAGE ON SEQUENCE pgtrickle_changes.change_seq TO PUBLIC;
-- The epoch of this database's UNLOGGED change buffers (pg_trickle.unlogged_buffers): UNLOGGED
-- itself, so that whatever empties those buffers (a crash, a standby's promotion) empties it
-- too; a refresh then starts a new epoch and refreshes FULL. `survivors`: the prepared
-- transactions when the epoch started, whose captured rows were lost (include/pg_trickle/pg/cdc.hpp).
CREATE UNLOGGED TABLE pgtrickle_changes.buffer_epoch (
    epoch     bigint NOT NULL,
    survivors bigint[] NOT NULL
);
REVOKE ALL ON pgtrickle_changes.buffer_epoch FROM PUBLIC;
GRANT USAGE ON SCHEMA pgtrickle TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Catalog. Users read it; only the extension's functions write it (they switch to the
-- extension owner for that), so REVOKE writes from PUBLIC.
------------------------------------------------------------------------------------------------
CREATE TABLE pgtrickle.pgt_stream_tables (
    pgt_id                      bigserial PRIMARY KEY,
    pgt_relid                   oid NOT NULL UNIQUE,
    pgt_name                    text NOT NULL,
    pgt_schema                  text NOT NULL,
    defining_query              text NOT NULL,
    original_query              text,
    -- The search_path the query was written for: reinitialising resolves its names as then.
    original_search_path        text,
    schedule                    text,
    refresh_mode                text NOT NULL DEFAULT 'DIFFERENTIAL'
        CHECK (refresh_mode IN ('FULL', 'DIFFERENTIAL', 'IMMEDIATE')),
    status                      text NOT NULL DEFAULT 'INITIALIZING'
        CHECK (status IN ('INITIALIZING', 'ACTIVE', 'SUSPENDED', 'ERROR')),
    is_populated                boolean NOT NULL DEFAULT false,
    data_timestamp              timestamptz,
    frontier                    jsonb,
    last_refresh_at             timestamptz,
    consecutive_errors          integer NOT NULL DEFAULT 0,
    needs_reinit                boolean NOT NULL DEFAULT false,
    auto_threshold              double precision,
    last_full_ms                double precision,
    functions_used              text[],
    topk_limit                  integer,
    topk_order_by               text,
    topk_offset                 integer,
    diamond_consistency         text NOT NULL DEFAULT 'atomic'
        CHECK (diamond_consistency IN ('none', 'atomic')),
    diamond_schedule_policy     text NOT NULL DEFAULT 'fastest'
        CHECK (diamond_schedule_policy IN ('fastest', 'slowest')),
    has_keyless_source          boolean NOT NULL DEFAULT false,
    function_hashes             text,
    requested_cdc_mode          text CHECK (requested_cdc_mode IN ('auto', 'trigger', 'wal')),
    is_append_only              boolean NOT NULL DEFAULT false,
    scc_id                      integer,
    last_fixpoint_iterations    integer,
    max_differential_joins      integer,
    max_delta_fraction          double precision,
    pooler_compatibility_mode   boolean NOT NULL DEFAULT false,
    refresh_tier                text NOT NULL DEFAULT 'hot'
        CHECK (refresh_tier IN ('hot', 'warm', 'cold', 'frozen')),
    effective_refresh_mode      text,
    fuse_mode                   text NOT NULL DEFAULT 'off' CHECK (fuse_mode IN ('off', 'on', 'auto')),
    fuse_state                  text NOT NULL DEFAULT 'armed'
        CHECK (fuse_state IN ('armed', 'blown', 'disabled')),
    fuse_ceiling                bigint,
    fuse_sensitivity            integer,
    blown_at                    timestamptz,
    blow_reason                 text,
    last_error_message          text,
    last_error_at               timestamptz,
    downstream_publication_name text,
    freshness_deadline_ms       bigint,
    st_partition_key            text,
    st_placement                text NOT NULL DEFAULT 'local',
    temporal_mode               boolean NOT NULL DEFAULT false,
    storage_backend             text NOT NULL DEFAULT 'heap',
    post_refresh_action         text NOT NULL DEFAULT 'none'
        CHECK (post_refresh_action IN ('none', 'analyze', 'reindex', 'reindex_if_drift')),
    reindex_drift_threshold     double precision,
    rows_changed_since_last_reindex bigint NOT NULL DEFAULT 0,
    last_reindex_at             timestamptz,
    column_lineage              jsonb,
    defining_query_hash         bigint,
    ducklake_sink_path          text,
    ducklake_sink_table_id      bigint,
    ducklake_sink_format        text,
    ducklake_last_snapshot_id   bigint,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pgt_stream_tables_schema_name_idx ON pgtrickle.pgt_stream_tables (pgt_schema, pgt_name);
CREATE INDEX pgt_stream_tables_status_idx ON pgtrickle.pgt_stream_tables (status);

-- (pgt_id names a stream table; no foreign key: a parallel pg_restore loads the two tables in
-- either order. Rows go with their stream table's: pgt_forget_dependencies below.)
CREATE TABLE pgtrickle.pgt_dependencies (
    pgt_id                bigint NOT NULL,
    source_relid          oid NOT NULL,
    source_type           text NOT NULL
        CHECK (source_type IN ('TABLE', 'STREAM_TABLE', 'VIEW', 'MATVIEW', 'FOREIGN_TABLE')),
    columns_used          text[],
    column_snapshot       jsonb,
    schema_fingerprint    text,
    cdc_mode              text NOT NULL DEFAULT 'TRIGGER'
        CHECK (cdc_mode IN ('TRIGGER', 'TRANSITIONING', 'WAL', 'DUCKLAKE_CHANGE_FEED')),
    slot_name             text,
    decoder_confirmed_lsn pg_lsn,
    transition_started_at timestamptz,
    source_stable_name    text,
    source_placement      text,
    PRIMARY KEY (pgt_id, source_relid)
);
CREATE INDEX pgt_dependencies_source_idx ON pgtrickle.pgt_dependencies (source_relid);

CREATE TABLE pgtrickle.pgt_refresh_history (
    refresh_id            bigserial PRIMARY KEY,
    pgt_id                bigint NOT NULL REFERENCES pgtrickle.pgt_stream_tables ON DELETE CASCADE,
    data_timestamp        timestamptz NOT NULL,
    start_time            timestamptz NOT NULL,
    end_time              timestamptz,
    action                text NOT NULL
        CHECK (action IN ('NO_DATA', 'FULL', 'DIFFERENTIAL', 'REINITIALIZE', 'SKIP')),
    rows_inserted         bigint,
    rows_deleted          bigint,
    delta_row_count       bigint,
    merge_strategy_used   text,
    was_full_fallback     boolean NOT NULL DEFAULT false,
    error_message         text,
    status                text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')),
    initiated_by          text CHECK (initiated_by IN ('SCHEDULER', 'MANUAL', 'INITIAL', 'SELF_MONITOR')),
    freshness_deadline    timestamptz,
    tick_watermark_lsn    pg_lsn,
    fixpoint_iteration    integer
);
CREATE INDEX pgt_refresh_history_data_ts_idx ON pgtrickle.pgt_refresh_history (pgt_id, data_timestamp);
CREATE INDEX pgt_refresh_history_start_idx ON pgtrickle.pgt_refresh_history (pgt_id, start_time);
-- A stream table's latest refreshes (get_refresh_history, the cost model), read backwards.
CREATE INDEX pgt_refresh_history_latest_idx ON pgtrickle.pgt_refresh_history (pgt_id, refresh_id);

REVOKE ALL ON pgtrickle.pgt_stream_tables, pgtrickle.pgt_dependencies,
              pgtrickle.pgt_refresh_history FROM PUBLIC;
GRANT SELECT ON pgtrickle.pgt_stream_tables, pgtrickle.pgt_dependencies,
                pgtrickle.pgt_refresh_history TO PUBLIC;

-- pg_dump keeps the catalog rows (history is derived and left out), and the sequences whose
-- values they hold (a restored catalog with pgt_id restarting at 1 would refuse new stream
-- tables).
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables', '');
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_dependencies', '');
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables_pgt_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgtrickle_changes.change_seq', '');

-- A restore (pg_restore, or a dump replayed by psql) loads catalog rows holding the OIDs of the
-- dumped database: each row is pointed at the relation of its name here. A stream table moved so
-- is held in ERROR until pgtrickle.restore_stream_tables(), run once the restore is over,
-- replaces the capture made for the old OIDs and recomputes it: the scheduler leaves it alone
-- meanwhile (the restore may not have loaded its rows, indexes or grants yet). pg_trickle's own
-- inserts name the relation they point at, and pass unchanged.
CREATE FUNCTION pgtrickle._pgt_remap_stream_table() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    here oid := pg_catalog.to_regclass(pg_catalog.quote_ident(NEW.pgt_schema) || '.'
                                       || pg_catalog.quote_ident(NEW.pgt_name));
BEGIN
    IF here IS NOT NULL AND here <> NEW.pgt_relid THEN
        NEW.pgt_relid := here;
        NEW.frontier := NULL;
        NEW.needs_reinit := true;
        -- (One SUSPENDED or in ERROR already stays so, with its reason: the scheduler leaves it
        -- alone, and resuming it refreshes it FULL.)
        IF NEW.status NOT IN ('ERROR', 'SUSPENDED') THEN
            NEW.status := 'ERROR';
            NEW.last_error_message := 'restored from a dump: run SELECT '
                || 'pgtrickle.restore_stream_tables() once the restore is complete';
            NEW.last_error_at := now();
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER pgt_remap_on_restore BEFORE INSERT ON pgtrickle.pgt_stream_tables
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._pgt_remap_stream_table();

CREATE FUNCTION pgtrickle._pgt_remap_dependency() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    here oid := pg_catalog.to_regclass(NEW.source_stable_name);
BEGIN
    IF here IS NOT NULL AND here <> NEW.source_relid THEN
        NEW.source_relid := here;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER pgt_remap_on_restore BEFORE INSERT ON pgtrickle.pgt_dependencies
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._pgt_remap_dependency();

CREATE FUNCTION pgtrickle._pgt_forget_dependencies() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM pgtrickle.pgt_dependencies WHERE pgt_id = OLD.pgt_id;
    RETURN OLD;
END $$;
CREATE TRIGGER pgt_forget_dependencies AFTER DELETE ON pgtrickle.pgt_stream_tables
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._pgt_forget_dependencies();
REVOKE ALL ON FUNCTION pgtrickle._pgt_remap_stream_table(), pgtrickle._pgt_remap_dependency(),
    pgtrickle._pgt_forget_dependencies() FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- SQL API
------------------------------------------------------------------------------------------------
CREATE FUNCTION pgtrickle.create_stream_table(
    name text, query text,
    schedule text DEFAULT 'calculated', refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL, diamond_schedule_policy text DEFAULT NULL,
    cdc_mode text DEFAULT NULL, append_only boolean DEFAULT false,
    pooler_compatibility_mode boolean DEFAULT false, partition_by text DEFAULT NULL,
    max_differential_joins integer DEFAULT NULL, max_delta_fraction double precision DEFAULT NULL,
    output_distribution_column text DEFAULT NULL, temporal boolean DEFAULT false,
    storage_backend text DEFAULT NULL, sink text DEFAULT NULL,
    ducklake_sink_path text DEFAULT NULL, ducklake_sink_table_id bigint DEFAULT NULL)
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_create_stream_table';

CREATE FUNCTION pgtrickle.create_stream_table_if_not_exists(
    name text, query text,
    schedule text DEFAULT 'calculated', refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL, diamond_schedule_policy text DEFAULT NULL,
    cdc_mode text DEFAULT NULL, append_only boolean DEFAULT false,
    pooler_compatibility_mode boolean DEFAULT false, partition_by text DEFAULT NULL,
    max_differential_joins integer DEFAULT NULL, max_delta_fraction double precision DEFAULT NULL,
    output_distribution_column text DEFAULT NULL, temporal boolean DEFAULT false,
    storage_backend text DEFAULT NULL, sink text DEFAULT NULL,
    ducklake_sink_path text DEFAULT NULL, ducklake_sink_table_id bigint DEFAULT NULL)
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_create_stream_table_if_not_exists';

CREATE FUNCTION pgtrickle.create_or_replace_stream_table(
    name text, query text,
    schedule text DEFAULT 'calculated', refresh_mode text DEFAULT 'AUTO',
    initialize boolean DEFAULT true,
    diamond_consistency text DEFAULT NULL, diamond_schedule_policy text DEFAULT NULL,
    cdc_mode text DEFAULT NULL, append_only boolean DEFAULT false,
    pooler_compatibility_mode boolean DEFAULT false, partition_by text DEFAULT NULL,
    max_differential_joins integer DEFAULT NULL, max_delta_fraction double precision DEFAULT NULL,
    output_distribution_column text DEFAULT NULL, temporal boolean DEFAULT false,
    storage_backend text DEFAULT NULL)
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_create_or_replace_stream_table';

CREATE FUNCTION pgtrickle.alter_stream_table(
    name text, query text DEFAULT NULL, schedule text DEFAULT NULL,
    refresh_mode text DEFAULT NULL, status text DEFAULT NULL,
    diamond_consistency text DEFAULT NULL, diamond_schedule_policy text DEFAULT NULL,
    cdc_mode text DEFAULT NULL, append_only boolean DEFAULT NULL,
    pooler_compatibility_mode boolean DEFAULT NULL, tier text DEFAULT NULL,
    fuse text DEFAULT NULL, fuse_ceiling bigint DEFAULT NULL, fuse_sensitivity integer DEFAULT NULL,
    partition_by text DEFAULT NULL, max_differential_joins integer DEFAULT NULL,
    max_delta_fraction double precision DEFAULT NULL, post_refresh_action text DEFAULT NULL,
    reindex_drift_threshold double precision DEFAULT NULL, sink text DEFAULT NULL,
    ducklake_sink_path text DEFAULT NULL, ducklake_sink_table_id bigint DEFAULT NULL)
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_alter_stream_table';

CREATE FUNCTION pgtrickle.drop_stream_table(name text, cascade boolean DEFAULT false)
RETURNS void STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_drop_stream_table';

CREATE FUNCTION pgtrickle.refresh_stream_table(name text)
RETURNS void STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_refresh_stream_table';

CREATE FUNCTION pgtrickle.explain_diff_sql(name text)
RETURNS text STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_explain_diff_sql';

-- Internal: the flattened (check_name, result, severity) triples behind validate_query.
CREATE FUNCTION pgtrickle._validate_query(query text)
RETURNS text[] STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_validate_query';

CREATE FUNCTION pgtrickle.validate_query(query text)
RETURNS TABLE(check_name text, result text, severity text)
STRICT LANGUAGE sql AS $$
    SELECT t[3 * i - 2], t[3 * i - 1], t[3 * i]
    FROM (SELECT pgtrickle._validate_query(query) AS t) a,
         pg_catalog.generate_series(1, COALESCE(pg_catalog.array_length(a.t, 1), 0) / 3) i
    ORDER BY i
$$;

-- Internal: the flattened (property, value) pairs behind explain_st.
CREATE FUNCTION pgtrickle._explain_st(name text)
RETURNS text[] STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_explain_st';

CREATE FUNCTION pgtrickle.explain_st(name text, with_analyze boolean DEFAULT false)
RETURNS TABLE(property text, value text)
LANGUAGE plpgsql AS $$
DECLARE
    pairs text[] := pgtrickle._explain_st(name);
    plan text;
    line text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(pairs, 1), 0) / 2 LOOP
        property := pairs[2 * i - 1];
        value := pairs[2 * i];
        RETURN NEXT;
    END LOOP;
    IF with_analyze THEN
        plan := '';
        FOR line IN EXECUTE 'EXPLAIN ANALYZE ' ||
            (SELECT st.defining_query FROM pgtrickle.pgt_stream_tables st
             WHERE st.pgt_id = (SELECT pgtrickle._pgt_id(name))) LOOP
            plan := plan || line || E'\n';
        END LOOP;
        property := 'explain_analyze';
        value := plan;
        RETURN NEXT;
    END IF;
END $$;

-- Internal: SQL predicate over change-buffer alias b selecting rows a frontier has not consumed.
CREATE FUNCTION pgtrickle._unconsumed_predicate(frontier jsonb)
RETURNS text STRICT IMMUTABLE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_unconsumed_predicate';

-- Makes every LOGGED change buffer UNLOGGED (each rewritten under an ACCESS EXCLUSIVE lock, which
-- waits for its writers and makes them wait); returns how many. The stream tables reading them
-- refresh FULL once (their frontiers predate the buffers' epoch).
CREATE FUNCTION pgtrickle.convert_buffers_to_unlogged()
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    buffer regclass;
    converted bigint := 0;
BEGIN
    FOR buffer IN
        SELECT c.oid FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'pgtrickle_changes'::pg_catalog.regnamespace AND c.relkind = 'r'
          AND c.relpersistence = 'p' AND c.relname LIKE 'changes\_%'
        ORDER BY c.oid
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s SET UNLOGGED', buffer);
        converted := converted + 1;
    END LOOP;
    RETURN converted;
END $$;
REVOKE ALL ON FUNCTION pgtrickle.convert_buffers_to_unlogged() FROM PUBLIC;

CREATE FUNCTION pgtrickle.change_buffer_sizes()
RETURNS TABLE(stream_table text, source_table text, source_oid bigint, cdc_mode text,
              pending_rows bigint, buffer_bytes bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    s record;
    counts jsonb := '{}';
    per_reader bigint[];
BEGIN
    -- One scan of each buffer counts the pending rows of every stream table reading it (a scan
    -- per reader made health_check() read a source shared by 17 stream tables 17 times).
    FOR s IN
        SELECT d.source_relid,
               pg_catalog.array_agg(d.pgt_id ORDER BY d.pgt_id) AS readers,
               pg_catalog.string_agg(pg_catalog.format('pg_catalog.count(*) FILTER (WHERE %s)',
                   coalesce(pgtrickle._unconsumed_predicate(st.frontier), 'true')), ', '
                   ORDER BY d.pgt_id) AS counts
        FROM pgtrickle.pgt_dependencies d
        JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
        JOIN pg_catalog.pg_class b ON b.relname = 'changes_' || d.source_relid
         AND b.relnamespace = 'pgtrickle_changes'::regnamespace
        WHERE st.refresh_mode <> 'IMMEDIATE'  -- (maintained without the buffer)
        GROUP BY d.source_relid
    LOOP
        EXECUTE pg_catalog.format('SELECT ARRAY[%s]::bigint[] FROM pgtrickle_changes.%I b',
                                  s.counts, 'changes_' || s.source_relid)
            INTO per_reader;
        FOR i IN 1 .. pg_catalog.array_length(s.readers, 1) LOOP
            counts := counts || pg_catalog.jsonb_build_object(
                s.readers[i] || '/' || s.source_relid, per_reader[i]);
        END LOOP;
    END LOOP;
    FOR r IN
        SELECT n.nspname || '.' || c.relname AS st_name, d.pgt_id, d.source_relid,
               d.source_relid::regclass::text AS src, d.cdc_mode, b.oid AS buffer
        FROM pgtrickle.pgt_dependencies d
        JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
        JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_class b ON b.relname = 'changes_' || d.source_relid
         AND b.relnamespace = 'pgtrickle_changes'::regnamespace
        WHERE st.refresh_mode <> 'IMMEDIATE'
        ORDER BY 1, 4
    LOOP
        stream_table := r.st_name;
        source_table := r.src;
        source_oid := r.source_relid;
        cdc_mode := lower(r.cdc_mode);
        buffer_bytes := pg_catalog.pg_total_relation_size(r.buffer);
        pending_rows := (counts ->> (r.pgt_id || '/' || r.source_relid))::bigint;
        RETURN NEXT;
    END LOOP;
END $$;

CREATE FUNCTION pgtrickle.resume_stream_table(name text)
RETURNS void STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_resume_stream_table';

-- Puts back the change capture, IMMEDIATE triggers and storage guards a stream table needs when
-- they were dropped or disabled; says what it did ('nothing to repair' when all was there).
CREATE FUNCTION pgtrickle.repair_stream_table(name text)
RETURNS text STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_repair_stream_table';

-- Makes the change capture (buffer and triggers) of every source of DIFFERENTIAL and FULL stream
-- tables again; their next refreshes are FULL. A source that fails gets a WARNING.
CREATE FUNCTION pgtrickle.rebuild_cdc_triggers()
RETURNS text LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_rebuild_cdc_triggers';
REVOKE ALL ON FUNCTION pgtrickle.rebuild_cdc_triggers() FROM PUBLIC;

-- The members of the partition tree of `root` (itself included, at every level; nothing for a
-- table outside partition trees), whether each is a leaf, and whether it is being detached (DETACH
-- PARTITION ... CONCURRENTLY not finalized, on its link or an ancestor's: its rows are no longer
-- the tree's), read from pg_inherits without locking them: pg_partition_tree() locks every
-- member, and pg_trickle's DDL tracking and refreshes calling it deadlocked with DDL on two
-- partitions at once (a parallel pg_restore).
CREATE FUNCTION pgtrickle._partition_tree(root oid)
RETURNS TABLE (relid oid, leaf bool, detaching bool)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE t(relid, detaching) AS (
        SELECT c.oid, false FROM pg_catalog.pg_class c
        WHERE c.oid = root AND (c.relkind = 'p' OR c.relispartition)
      UNION ALL
        SELECT i.inhrelid, t.detaching OR i.inhdetachpending
        FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.relid)
    SELECT t.relid, c.relkind <> 'p', t.detaching
    FROM t JOIN pg_catalog.pg_class c ON c.oid = t.relid
$$;

-- The triggers pg_trickle needs on the sources of stream tables, and whether each is there and
-- fires (ALWAYS, as pg_trickle makes them).
CREATE FUNCTION pgtrickle.trigger_inventory()
RETURNS TABLE (source_table text, source_oid bigint, trigger_name text, trigger_type text,
               present bool, enabled bool)
LANGUAGE sql STABLE AS $$
    -- (A partitioned source's capture triggers are on each member of its tree as well: one
    -- row per member, source_table naming the table the trigger is on.)
    SELECT m.relid::pg_catalog.regclass::text, s.relid::bigint, x.name, x.kind,
           t.oid IS NOT NULL, coalesce(t.tgenabled = 'A', false)
    FROM (SELECT d.source_relid AS relid,
                 pg_catalog.bool_or(st.refresh_mode <> 'IMMEDIATE') AS captured,
                 pg_catalog.bool_or(st.refresh_mode = 'IMMEDIATE') AS immediate
          FROM pgtrickle.pgt_dependencies d
          JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
          JOIN pg_catalog.pg_class c ON c.oid = d.source_relid
          -- (the tables pg_trickle can put triggers on: plain, outside inheritance trees, or
          -- the root of a partition tree without foreign partitions)
          WHERE (c.relkind = 'r' AND NOT c.relhassubclass AND NOT c.relispartition
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid))
             OR (c.relkind = 'p' AND NOT c.relispartition
                 AND NOT EXISTS (SELECT 1 FROM pgtrickle._partition_tree(c.oid) p
                                 JOIN pg_catalog.pg_class f ON f.oid = p.relid
                                 WHERE f.relkind NOT IN ('r', 'p')))
          GROUP BY d.source_relid) s
    CROSS JOIN LATERAL (SELECT s.relid
                        UNION ALL
                        SELECT p.relid::pg_catalog.oid FROM pgtrickle._partition_tree(s.relid) p
                        WHERE p.relid::pg_catalog.oid <> s.relid) m(relid)
    CROSS JOIN LATERAL (VALUES
        (s.captured, 'pg_trickle_cdc_ins_' || s.relid, 'DML'),
        (s.captured, 'pg_trickle_cdc_upd_' || s.relid, 'DML'),
        (s.captured, 'pg_trickle_cdc_del_' || s.relid, 'DML'),
        (s.captured, 'pg_trickle_cdc_trunc_' || s.relid, 'TRUNCATE'),
        (s.immediate, 'pg_trickle_ivm_before_' || s.relid, 'DML'),
        (s.immediate, 'pg_trickle_ivm_ins_' || s.relid, 'DML'),
        (s.immediate, 'pg_trickle_ivm_upd_' || s.relid, 'DML'),
        (s.immediate, 'pg_trickle_ivm_del_' || s.relid, 'DML'),
        (s.immediate, 'pg_trickle_ivm_trunc_' || s.relid, 'TRUNCATE')) AS x(needed, name, kind)
    LEFT JOIN pg_catalog.pg_trigger t ON t.tgrelid = m.relid AND t.tgname = x.name
    WHERE x.needed
    ORDER BY 1, 3
$$;

-- After a restore, once it is complete: points the catalog at the relations of its names (also
-- for a restore run with triggers disabled), replaces the capture triggers and change buffers
-- made for the dumped database's OIDs, and recomputes the stream tables moved (ERROR -> ACTIVE).
CREATE FUNCTION pgtrickle.restore_stream_tables()
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_restore_stream_tables';
REVOKE ALL ON FUNCTION pgtrickle.restore_stream_tables() FROM PUBLIC;

CREATE FUNCTION pgtrickle.version()
RETURNS text IMMUTABLE STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_version';

CREATE FUNCTION pgtrickle.parse_duration_seconds(input text)
RETURNS bigint IMMUTABLE STRICT PARALLEL SAFE LANGUAGE C
AS 'MODULE_PATHNAME', 'pgt_parse_duration_seconds';

CREATE FUNCTION pgtrickle.pg_trickle_hash(input text)
RETURNS bigint IMMUTABLE PARALLEL SAFE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_hash';

CREATE FUNCTION pgtrickle.pg_trickle_hash_multi(inputs text[])
RETURNS bigint IMMUTABLE STRICT PARALLEL SAFE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_hash_multi';

CREATE FUNCTION pgtrickle.pgt_status()
RETURNS TABLE(name text, status text, refresh_mode text, is_populated boolean,
              consecutive_errors integer, schedule text, data_timestamp timestamptz,
              staleness interval, scc_id integer)
LANGUAGE sql STABLE AS $$
    -- Names come from pg_class, so a renamed storage table shows under its current name.
    SELECT n.nspname || '.' || c.relname, st.status, st.refresh_mode, st.is_populated,
           st.consecutive_errors, st.schedule, st.data_timestamp,
           now() - st.data_timestamp, st.scc_id
    FROM pgtrickle.pgt_stream_tables st
    JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    ORDER BY n.nspname, c.relname
$$;

CREATE FUNCTION pgtrickle.get_refresh_history(name text, max_rows integer DEFAULT 20)
RETURNS TABLE(refresh_id bigint, data_timestamp timestamptz, start_time timestamptz,
              end_time timestamptz, action text, status text, rows_inserted bigint,
              rows_deleted bigint, duration_ms double precision, error_message text)
LANGUAGE sql STABLE AS $$
    SELECT h.refresh_id, h.data_timestamp, h.start_time, h.end_time, h.action, h.status,
           h.rows_inserted, h.rows_deleted,
           extract(epoch FROM (h.end_time - h.start_time)) * 1000.0, h.error_message
    FROM pgtrickle.pgt_refresh_history h
    WHERE h.pgt_id = (SELECT pgtrickle._pgt_id(name))
    ORDER BY h.refresh_id DESC
    LIMIT max_rows
$$;

-- Resolves a stream table name (as the API functions do) to its pgt_id; 42P01 if none.
CREATE FUNCTION pgtrickle._pgt_id(name text)
RETURNS bigint STRICT STABLE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_lookup_id';

-- When the scheduler last found the stream table with nothing new to refresh (it then skips the
-- NO_DATA refresh and its catalog write); NULL if unknown. Staleness counts from the later of
-- this and last_refresh_at.
CREATE FUNCTION pgtrickle._pgt_checked_at(pgt_id bigint)
RETURNS timestamptz STRICT VOLATILE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_checked_at';

CREATE VIEW pgtrickle.stream_tables_info AS
SELECT st.*,
       now() - greatest(st.last_refresh_at, pgtrickle._pgt_checked_at(st.pgt_id)) AS staleness,
       CASE WHEN st.schedule IS NOT NULL AND st.schedule !~ '^@' AND st.schedule !~ ' '
            THEN extract(epoch FROM now() - greatest(st.last_refresh_at,
                                                     pgtrickle._pgt_checked_at(st.pgt_id)))
                 > pgtrickle.parse_duration_seconds(st.schedule)
       END AS stale,
       st.topk_limit IS NOT NULL AS is_topk
FROM pgtrickle.pgt_stream_tables st;
GRANT SELECT ON pgtrickle.stream_tables_info TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Guards and DDL tracking
------------------------------------------------------------------------------------------------
-- Statement-level guard on every storage table: refuses INSERT/UPDATE/DELETE/TRUNCATE unless the
-- refresh engine of this backend is writing.
CREATE FUNCTION pgtrickle._pgt_guard()
RETURNS trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_dml_guard';

-- The capture trigger of every source table: copies the statement's transition tables into the
-- source's change buffer, pgtrickle_changes.changes_<oid>. Only pg_trickle attaches it.
CREATE FUNCTION pgtrickle.pg_trickle_capture()
RETURNS trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pg_trickle_capture';
REVOKE ALL ON FUNCTION pgtrickle.pg_trickle_capture() FROM PUBLIC;
-- IMMEDIATE maintenance (src/pg/immediate/ivm.cpp): a BEFORE statement trigger counting the
-- statements in flight, AFTER statement triggers keeping their transition rows.
CREATE FUNCTION pgtrickle.pg_trickle_ivm_before()
RETURNS trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pg_trickle_ivm_before';
REVOKE ALL ON FUNCTION pgtrickle.pg_trickle_ivm_before() FROM PUBLIC;
CREATE FUNCTION pgtrickle.pg_trickle_ivm_after()
RETURNS trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pg_trickle_ivm_after';
REVOKE ALL ON FUNCTION pgtrickle.pg_trickle_ivm_after() FROM PUBLIC;
-- Raises the row-id-collision error from inside an increment statement, IMMEDIATE or refresh
-- (which runs as the stream table's owner, hence executable by all; it only raises).
CREATE FUNCTION pgtrickle._pgt_row_id_collision(stream_table text)
RETURNS boolean VOLATILE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_row_id_collision';

-- Whether a numeric is NaN: what the running sums of an aggregate test for every value of a
-- change (NaN values are counted apart), without the copy `x = 'NaN'` makes of each operand.
CREATE FUNCTION pgtrickle._pgt_is_nan(numeric)
RETURNS boolean IMMUTABLE STRICT PARALLEL SAFE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_is_nan';

CREATE FUNCTION pgtrickle._on_sql_drop()
RETURNS event_trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_on_sql_drop';

CREATE EVENT TRIGGER pg_trickle_drop_tracker ON sql_drop
    EXECUTE FUNCTION pgtrickle._on_sql_drop();

-- ALTER TABLE on a source: refused when it would break change capture or a stream table's
-- query (pg_trickle.block_source_ddl), else capture is rebuilt. ALTER / CREATE [FOREIGN] TABLE
-- that would put a source of a DIFFERENTIAL or IMMEDIATE stream table in an inheritance tree:
-- refused.
CREATE FUNCTION pgtrickle._on_ddl_end()
RETURNS event_trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_on_ddl_end';

CREATE EVENT TRIGGER pg_trickle_ddl_tracker ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'ALTER FOREIGN TABLE', 'CREATE FOREIGN TABLE',
                 'ALTER VIEW')
    EXECUTE FUNCTION pgtrickle._on_ddl_end();

-- CREATE OR REPLACE / ALTER of a function a stream table's query calls, or of a view it reads:
-- the stream table is reinitialised (its definition derived again, its contents recomputed), or
-- the DDL refused when the query would no longer work (pg_trickle.block_source_ddl). Likewise
-- for types: an enum label renamed or a composite type's attributes changed (the text of values
-- stream tables hold changes), a type, domain or collation renamed or moved (a query may spell
-- its name).
CREATE FUNCTION pgtrickle._on_definition_change()
RETURNS event_trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_on_definition_change';

CREATE EVENT TRIGGER pg_trickle_definition_tracker ON ddl_command_end
    WHEN TAG IN ('CREATE FUNCTION', 'ALTER FUNCTION', 'ALTER ROUTINE', 'CREATE AGGREGATE',
                 'ALTER AGGREGATE', 'CREATE VIEW', 'ALTER SCHEMA', 'ALTER TYPE', 'ALTER DOMAIN',
                 'ALTER COLLATION')
    EXECUTE FUNCTION pgtrickle._on_definition_change();

-- DDL run under session_replication_role = replica switches capture off as well as any: the
-- event triggers fire ALWAYS, as the capture triggers do.
ALTER EVENT TRIGGER pg_trickle_drop_tracker ENABLE ALWAYS;
ALTER EVENT TRIGGER pg_trickle_ddl_tracker ENABLE ALWAYS;
ALTER EVENT TRIGGER pg_trickle_definition_tracker ENABLE ALWAYS;

------------------------------------------------------------------------------------------------
-- Scheduling and monitoring
------------------------------------------------------------------------------------------------
-- Wakes the launcher when the calling transaction commits, so that this database gets its
-- scheduler at once (CREATE EXTENSION calls it below).
CREATE FUNCTION pgtrickle._signal_launcher_rescan()
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_signal_launcher_rescan';
REVOKE EXECUTE ON FUNCTION pgtrickle._signal_launcher_rescan() FROM PUBLIC;

-- Seconds since the stream table's data was last brought up to date; NULL if never.
CREATE FUNCTION pgtrickle.get_staleness(name text)
RETURNS double precision STRICT STABLE LANGUAGE sql AS $$
    SELECT extract(epoch FROM now() - st.data_timestamp)::double precision
    FROM pgtrickle.pgt_stream_tables st
    WHERE st.pgt_id = (SELECT pgtrickle._pgt_id(name))
$$;

-- Refreshes of every stream table, newest first.
CREATE FUNCTION pgtrickle.refresh_timeline(max_rows integer DEFAULT 50)
RETURNS TABLE(start_time timestamptz, stream_table text, action text, status text,
              rows_inserted bigint, rows_deleted bigint, duration_ms double precision,
              error_message text)
STRICT STABLE LANGUAGE sql AS $$
    SELECT h.start_time, n.nspname || '.' || c.relname, h.action, h.status,
           coalesce(h.rows_inserted, 0), coalesce(h.rows_deleted, 0),
           (extract(epoch FROM h.end_time - h.start_time) * 1000)::double precision,
           h.error_message
    FROM pgtrickle.pgt_refresh_history h
    JOIN pgtrickle.pgt_stream_tables st ON st.pgt_id = h.pgt_id
    JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    ORDER BY h.start_time DESC, h.refresh_id DESC
    LIMIT max_rows
$$;

-- Per stream table: catalog state plus totals over its refresh history.
CREATE FUNCTION pgtrickle.st_refresh_stats()
RETURNS TABLE(pgt_name text, pgt_schema text, status text, refresh_mode text,
              is_populated boolean, total_refreshes bigint, successful_refreshes bigint,
              failed_refreshes bigint, total_rows_inserted bigint, total_rows_deleted bigint,
              avg_duration_ms double precision, last_refresh_action text,
              last_refresh_status text, last_refresh_at timestamptz,
              staleness_secs double precision, stale boolean, consecutive_errors integer,
              schedule text, refresh_tier text, last_error_message text,
              downstream_publication text)
STABLE LANGUAGE sql AS $$
    SELECT c.relname::text, n.nspname::text, st.status, st.refresh_mode, st.is_populated,
           coalesce(h.total, 0), coalesce(h.completed, 0), coalesce(h.failed, 0),
           coalesce(h.inserted, 0), coalesce(h.deleted, 0), coalesce(h.avg_ms, 0),
           last.action, last.status, st.last_refresh_at,
           extract(epoch FROM now() - st.data_timestamp)::double precision,
           -- Stale only when the data is older than the schedule AND the scheduler has not
           -- looked for three periods: with nothing new upstream, old data is not stale.
           coalesce(CASE WHEN st.schedule !~ '[[:space:]@]' AND st.data_timestamp IS NOT NULL
                         THEN extract(epoch FROM now() - st.data_timestamp)
                                  > pgtrickle.parse_duration_seconds(st.schedule)
                              AND extract(epoch FROM now() - greatest(st.last_refresh_at,
                                                   pgtrickle._pgt_checked_at(st.pgt_id)))
                                  > 3 * pgtrickle.parse_duration_seconds(st.schedule)
                    END, false),
           st.consecutive_errors, st.schedule, st.refresh_tier, st.last_error_message,
           st.downstream_publication_name
    FROM pgtrickle.pgt_stream_tables st
    JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE r.status = 'COMPLETED') AS completed,
               count(*) FILTER (WHERE r.status = 'FAILED') AS failed,
               sum(r.rows_inserted)::bigint AS inserted, sum(r.rows_deleted)::bigint AS deleted,
               (avg(extract(epoch FROM r.end_time - r.start_time) * 1000)
                    FILTER (WHERE r.end_time IS NOT NULL))::double precision AS avg_ms
        FROM pgtrickle.pgt_refresh_history r WHERE r.pgt_id = st.pgt_id) h ON true
    LEFT JOIN LATERAL (
        SELECT r.action, r.status FROM pgtrickle.pgt_refresh_history r
        WHERE r.pgt_id = st.pgt_id ORDER BY r.refresh_id DESC LIMIT 1) last ON true
    ORDER BY n.nspname, c.relname
$$;

-- The stream tables as a tree: each one with the stream tables that read it beneath it and its
-- plain sources as [src] leaves.
CREATE FUNCTION pgtrickle.dependency_tree()
RETURNS TABLE(tree_line text, node text, node_type text, depth integer, status text,
              refresh_mode text)
STABLE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_dependency_tree';

-- The workers that refresh in parallel (SCHEDULING.md): jobs handed out and not finished, the
-- limits, idle pool workers, and this database's scheduler's latest tick. The invalidation ring
-- and Citus of the upstream project do not exist here: their counters are 0.
CREATE FUNCTION pgtrickle._pgt_worker_counts()
RETURNS bigint[] VOLATILE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_worker_counts';
CREATE FUNCTION pgtrickle.worker_pool_status()
RETURNS TABLE(active_workers int, max_workers int, per_db_cap int, parallel_mode text,
              idle_workers int, last_scheduler_tick_unix bigint, ring_overflow_count bigint,
              citus_failure_total bigint)
VOLATILE LANGUAGE sql AS $$
    SELECT c[1]::int, pg_catalog.current_setting('pg_trickle.max_dynamic_refresh_workers')::int,
           pg_catalog.current_setting('pg_trickle.max_concurrent_refreshes')::int,
           pg_catalog.current_setting('pg_trickle.parallel_refresh_mode'), c[2]::int,
           CASE WHEN c[3] > 0 THEN c[3] / 1000000 END, 0::bigint, 0::bigint
    FROM pgtrickle._pgt_worker_counts() c
$$;

-- One row per check, severity OK, WARN or ERROR. Runs as the extension owner, so that any role
-- can use it although only superusers may read the change buffers it counts.
CREATE FUNCTION pgtrickle.health_check()
RETURNS TABLE(check_name text, severity text, detail text)
STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp LANGUAGE sql AS $$
    WITH st AS (
        SELECT n.nspname || '.' || c.relname AS name, s.status, s.needs_reinit,
               s.consecutive_errors, coalesce(s.stale, false) AS stale
        FROM pgtrickle.stream_tables_info s
        JOIN pg_catalog.pg_class c ON c.oid = s.pgt_relid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    ),
    workers AS (
        SELECT count(*) FILTER (WHERE a.backend_type = 'pg_trickle scheduler'
                                  AND a.datname = current_database()) AS schedulers,
               count(*) FILTER (WHERE a.backend_type = 'pg_trickle launcher') AS launchers
        FROM pg_catalog.pg_stat_activity a
    ),
    buffers AS (
        SELECT b.source_table || ' for ' || b.stream_table || ' (' || b.pending_rows
               || ' rows)' AS name
        FROM pgtrickle.change_buffer_sizes() b
        WHERE b.pending_rows > 10000
    ),
    checks(ord, check_name, severity, detail) AS (
        SELECT 1, 'scheduler_running',
               CASE WHEN w.schedulers > 0 AND current_setting('pg_trickle.enabled')::boolean
                    THEN 'OK' WHEN w.schedulers > 0 OR w.launchers > 0 THEN 'WARN'
                    ELSE 'ERROR' END,
               CASE WHEN w.schedulers > 0 AND current_setting('pg_trickle.enabled')::boolean
                    THEN 'the scheduler of this database is running'
                    WHEN w.schedulers > 0
                    THEN 'the scheduler is running but pg_trickle.enabled is off: nothing is '
                         'refreshed on schedule'
                    WHEN w.launchers > 0
                    THEN 'the launcher is running but this database has no scheduler yet; it '
                         'starts within a few seconds of CREATE EXTENSION (if not, see the '
                         'server log)'
                    WHEN current_setting('shared_preload_libraries') !~ 'pg_trickle'
                    THEN 'pg_trickle is not in shared_preload_libraries: no background worker '
                         'refreshes stream tables'
                    ELSE 'no pg_trickle launcher is running; see the server log' END
        FROM workers w
        UNION ALL
        SELECT 2, 'error_tables',
               CASE WHEN count(*) = 0 THEN 'OK' ELSE 'ERROR' END,
               CASE WHEN count(*) = 0 THEN 'no stream table is in ERROR or SUSPENDED status'
                    ELSE count(*) || ' stream table(s) in ERROR or SUSPENDED status: '
                         || string_agg(name, ', ' ORDER BY name) END
        FROM st WHERE status IN ('ERROR', 'SUSPENDED')
        UNION ALL
        SELECT 3, 'stale_tables',
               CASE WHEN count(*) = 0 THEN 'OK' ELSE 'WARN' END,
               CASE WHEN count(*) = 0 THEN 'no active stream table is behind its schedule'
                    ELSE count(*) || ' active stream table(s) behind their schedule: '
                         || string_agg(name, ', ' ORDER BY name) END
        FROM st WHERE stale AND status = 'ACTIVE'
        UNION ALL
        SELECT 4, 'needs_reinit',
               CASE WHEN count(*) = 0 THEN 'OK' ELSE 'WARN' END,
               CASE WHEN count(*) = 0 THEN 'no stream table awaits reinitialization'
                    ELSE count(*) || ' stream table(s) await reinitialization: '
                         || string_agg(name, ', ' ORDER BY name) END
        FROM st WHERE needs_reinit
        UNION ALL
        SELECT 5, 'consecutive_errors',
               CASE WHEN count(*) = 0 THEN 'OK' ELSE 'WARN' END,
               CASE WHEN count(*) = 0 THEN 'no stream table is accumulating refresh errors'
                    ELSE count(*) || ' stream table(s) failing, not yet suspended: '
                         || string_agg(name || ' (' || consecutive_errors || ')', ', '
                                       ORDER BY name) END
        FROM st WHERE consecutive_errors > 0 AND status NOT IN ('ERROR', 'SUSPENDED')
        UNION ALL
        SELECT 6, 'buffer_growth',
               CASE WHEN count(*) = 0 THEN 'OK' ELSE 'WARN' END,
               CASE WHEN count(*) = 0 THEN 'no change buffer holds more than 10000 pending rows'
                    ELSE count(*) || ' change buffer(s) over 10000 pending rows (refreshes '
                         || 'falling behind?): ' || string_agg(name, ', ' ORDER BY name) END
        FROM buffers
        UNION ALL
        SELECT 7, 'worker_pool',
               CASE WHEN p.parallel_mode = 'on' AND p.active_workers >= p.max_workers
                         AND pg_catalog.current_setting('pg_trickle.worker_pool_size')::int = 0
                    THEN 'WARN' ELSE 'OK' END,
               CASE WHEN p.parallel_mode <> 'on'
                    THEN 'parallel refresh is ' || p.parallel_mode || ': the schedulers refresh '
                         'one stream table at a time'
                    WHEN pg_catalog.current_setting('pg_trickle.worker_pool_size')::int > 0
                    THEN p.active_workers || ' refresh(es) handed to workers, '
                         || p.idle_workers || ' pool worker(s) idle'
                    ELSE p.active_workers || ' of ' || p.max_workers || ' refresh workers busy'
                         || CASE WHEN p.active_workers >= p.max_workers
                                 THEN ': more refreshes wait for the schedulers' ELSE '' END
               END
        FROM pgtrickle.worker_pool_status() p
    )
    SELECT check_name, severity, detail FROM checks ORDER BY ord
$$;

CREATE VIEW pgtrickle.pg_stat_stream_tables AS
SELECT st.pgt_id, n.nspname::text AS pgt_schema, c.relname::text AS pgt_name, st.status,
       st.refresh_mode, st.is_populated, st.data_timestamp, st.schedule,
       now() - greatest(st.last_refresh_at, pgtrickle._pgt_checked_at(st.pgt_id)) AS staleness,
       CASE WHEN st.schedule !~ '[[:space:]@]' AND st.last_refresh_at IS NOT NULL
            THEN extract(epoch FROM now() - greatest(st.last_refresh_at,
                                                     pgtrickle._pgt_checked_at(st.pgt_id)))
                 > pgtrickle.parse_duration_seconds(st.schedule)
       END AS stale,
       st.consecutive_errors, st.needs_reinit, st.last_refresh_at,
       coalesce(h.total_refreshes, 0) AS total_refreshes,
       coalesce(h.successful_refreshes, 0) AS successful_refreshes,
       coalesce(h.failed_refreshes, 0) AS failed_refreshes,
       coalesce(h.total_rows_inserted, 0) AS total_rows_inserted,
       coalesce(h.total_rows_deleted, 0) AS total_rows_deleted,
       h.avg_duration_ms, last.action AS last_action, last.status AS last_status,
       -- Per-source change capture modes: not tracked yet.
       NULL::text[] AS cdc_modes,
       st.scc_id, st.last_fixpoint_iterations, st.refresh_tier
FROM pgtrickle.pgt_stream_tables st
JOIN pg_catalog.pg_class c ON c.oid = st.pgt_relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT count(*) AS total_refreshes,
           count(*) FILTER (WHERE r.status = 'COMPLETED') AS successful_refreshes,
           count(*) FILTER (WHERE r.status = 'FAILED') AS failed_refreshes,
           sum(r.rows_inserted)::bigint AS total_rows_inserted,
           sum(r.rows_deleted)::bigint AS total_rows_deleted,
           (avg(extract(epoch FROM r.end_time - r.start_time) * 1000)
                FILTER (WHERE r.end_time IS NOT NULL))::double precision AS avg_duration_ms
    FROM pgtrickle.pgt_refresh_history r WHERE r.pgt_id = st.pgt_id) h ON true
LEFT JOIN LATERAL (
    SELECT r.action, r.status FROM pgtrickle.pgt_refresh_history r
    WHERE r.pgt_id = st.pgt_id ORDER BY r.refresh_id DESC LIMIT 1) last ON true;
GRANT SELECT ON pgtrickle.pg_stat_stream_tables TO PUBLIC;

-- One row: how many stream tables, how many in trouble, and an overall status.
-- Whether this database's scheduler runs. As the extension owner: pg_stat_activity hides the
-- backend_type of other roles' backends (the scheduler's too) from roles without
-- pg_read_all_stats, and quick_health is for every role.
CREATE FUNCTION pgtrickle._pgt_scheduler_running()
RETURNS boolean STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity
                   WHERE backend_type = 'pg_trickle scheduler'
                     AND datname = pg_catalog.current_database())
$$;

CREATE VIEW pgtrickle.quick_health AS
WITH st AS (
    SELECT s.status, s.consecutive_errors,
           coalesce(s.schedule !~ '[[:space:]@]' AND s.last_refresh_at IS NOT NULL
                    AND extract(epoch FROM now() - greatest(s.last_refresh_at,
                                                            pgtrickle._pgt_checked_at(s.pgt_id)))
                        > pgtrickle.parse_duration_seconds(s.schedule), false) AS stale
    FROM pgtrickle.pgt_stream_tables s
)
SELECT (SELECT count(*) FROM st) AS total_stream_tables,
       (SELECT count(*) FROM st WHERE status = 'ERROR' OR consecutive_errors > 0) AS error_tables,
       (SELECT count(*) FROM st WHERE stale) AS stale_tables,
       pgtrickle._pgt_scheduler_running() AS scheduler_running,
       CASE WHEN NOT EXISTS (SELECT 1 FROM st) THEN 'EMPTY'
            WHEN EXISTS (SELECT 1 FROM st WHERE status = 'SUSPENDED') THEN 'CRITICAL'
            WHEN EXISTS (SELECT 1 FROM st WHERE status = 'ERROR' OR consecutive_errors > 0
                                              OR stale) THEN 'WARNING'
            ELSE 'OK' END AS status;
GRANT SELECT ON pgtrickle.quick_health TO PUBLIC;

-- This database gets its scheduler as soon as CREATE EXTENSION commits.
SELECT pgtrickle._signal_launcher_rescan();
