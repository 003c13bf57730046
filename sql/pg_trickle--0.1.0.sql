-- pg_trickle 0.1.0: catalog, SQL API and DDL tracking.
\echo Use "CREATE EXTENSION pg_trickle" to load this file. \quit

-- Both schemas are created here (not through the control file) so that they belong to the
-- extension and DROP EXTENSION removes them.
CREATE SCHEMA pgtrickle;
CREATE SCHEMA pgtrickle_changes;
-- Change buffers are private tables (REVOKE ALL FROM PUBLIC each); the owner of a stream table
-- is granted SELECT on the buffers its refreshes read.
GRANT USAGE ON SCHEMA pgtrickle_changes TO PUBLIC;
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

CREATE TABLE pgtrickle.pgt_dependencies (
    pgt_id                bigint NOT NULL REFERENCES pgtrickle.pgt_stream_tables ON DELETE CASCADE,
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

REVOKE ALL ON pgtrickle.pgt_stream_tables, pgtrickle.pgt_dependencies,
              pgtrickle.pgt_refresh_history FROM PUBLIC;
GRANT SELECT ON pgtrickle.pgt_stream_tables, pgtrickle.pgt_dependencies,
                pgtrickle.pgt_refresh_history TO PUBLIC;

-- pg_dump keeps the catalog rows (history is derived and left out).
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_stream_tables', '');
SELECT pg_catalog.pg_extension_config_dump('pgtrickle.pgt_dependencies', '');

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

CREATE FUNCTION pgtrickle.resume_stream_table(name text)
RETURNS void STRICT LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_resume_stream_table';

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
    WHERE h.pgt_id = pgtrickle._pgt_id(name)
    ORDER BY h.refresh_id DESC
    LIMIT max_rows
$$;

-- Resolves a stream table name (as the API functions do) to its pgt_id; 42P01 if none.
CREATE FUNCTION pgtrickle._pgt_id(name text)
RETURNS bigint STRICT STABLE LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_lookup_id';

CREATE VIEW pgtrickle.stream_tables_info AS
SELECT st.*,
       now() - st.last_refresh_at AS staleness,
       CASE WHEN st.schedule IS NOT NULL AND st.schedule !~ '^@' AND st.schedule !~ ' '
            THEN extract(epoch FROM now() - st.last_refresh_at)
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

CREATE FUNCTION pgtrickle._on_sql_drop()
RETURNS event_trigger LANGUAGE C AS 'MODULE_PATHNAME', 'pgt_on_sql_drop';

CREATE EVENT TRIGGER pg_trickle_drop_tracker ON sql_drop
    EXECUTE FUNCTION pgtrickle._on_sql_drop();

