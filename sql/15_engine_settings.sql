-- The differential engine's settings (docs/CONFIGURATION.md): use_prepared_statements,
-- merge_work_mem_mb, max_buffer_rows, aggregate_fast_path, analyze_before_delta,
-- max_grouping_set_branches, max_parse_depth. Each is shown doing what it says, and back at its default.
SET client_min_messages = notice;
CREATE SCHEMA engine_settings;
SET search_path = engine_settings, public;

SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('pg_trickle.use_prepared_statements', 'pg_trickle.merge_work_mem_mb',
               'pg_trickle.analyze_before_delta',
               'pg_trickle.max_buffer_rows', 'pg_trickle.aggregate_fast_path',
               'pg_trickle.max_grouping_set_branches', 'pg_trickle.max_parse_depth')
ORDER BY name;

CREATE TABLE sale (id int PRIMARY KEY, grp int NOT NULL, amount int NOT NULL);
INSERT INTO sale SELECT g, g % 3, g FROM generate_series(1, 30) g;
SELECT pgtrickle.create_stream_table('sale_by_grp',
    'SELECT grp, count(*) AS n, sum(amount) AS total FROM sale GROUP BY grp',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');

-- use_prepared_statements: a session that refreshes keeps the plan of the delta statement
-- (one cached plan whose text is the delta's); off, it plans it at every refresh and keeps none.
\c
SET search_path = engine_settings, public;
UPDATE sale SET amount = amount + 1 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT count(*) AS kept_delta_plans FROM pg_backend_memory_contexts
WHERE name = 'CachedPlanSource' AND ident LIKE 'WITH __pgt%';
\c
SET search_path = engine_settings, public;
SET pg_trickle.use_prepared_statements = off;
UPDATE sale SET amount = amount + 1 WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT count(*) AS kept_delta_plans FROM pg_backend_memory_contexts
WHERE name = 'CachedPlanSource' AND ident LIKE 'WITH __pgt%';
RESET pg_trickle.use_prepared_statements;
SET client_min_messages = notice;
-- The plans are kept by the memory they hold, not by their number: a session (or pool worker)
-- that refreshes 20 stream tables in turn keeps the plans of all 20, and refreshing them all
-- again plans nothing new.
CREATE TABLE tally (id int PRIMARY KEY, grp int NOT NULL, amount int NOT NULL);
INSERT INTO tally SELECT g, g % 3, g FROM generate_series(1, 30) g;
SET client_min_messages = warning;
SELECT count(pgtrickle.create_stream_table('tally_' || k,
    format('SELECT grp, count(*) AS n, sum(amount + %s) AS total FROM tally GROUP BY grp', k),
    refresh_mode => 'DIFFERENTIAL', schedule => '1h')) AS created
FROM generate_series(1, 20) k;
\c
SET search_path = engine_settings, public;
UPDATE tally SET amount = amount + 1 WHERE id = 1;
SELECT count(pgtrickle.refresh_stream_table('tally_' || k)) AS refreshed
FROM generate_series(1, 20) k;
SELECT count(*) AS kept_delta_plans FROM pg_backend_memory_contexts
WHERE name = 'CachedPlanSource' AND ident LIKE 'WITH __pgt%';
UPDATE tally SET amount = amount + 1 WHERE id = 2;
SELECT count(pgtrickle.refresh_stream_table('tally_' || k)) AS refreshed
FROM generate_series(1, 20) k;
SELECT count(*) AS kept_delta_plans FROM pg_backend_memory_contexts
WHERE name = 'CachedPlanSource' AND ident LIKE 'WITH __pgt%';
SELECT count(*) AS not_differential FROM generate_series(1, 20) k,
    LATERAL (SELECT * FROM pgtrickle.get_refresh_history('tally_' || k, 1)) h
WHERE h.action <> 'DIFFERENTIAL';
SELECT count(pgtrickle.drop_stream_table('tally_' || k)) AS dropped
FROM generate_series(1, 20) k;
DROP TABLE tally;
SET client_min_messages = notice;

-- max_buffer_rows: more changes than that since the last refresh, and the refresh is FULL (with
-- a NOTICE saying why); at most that many, DIFFERENTIAL. 0: no limit.
SET pg_trickle.max_buffer_rows = 3;
INSERT INTO sale SELECT g, g % 3, g FROM generate_series(31, 35) g;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
UPDATE sale SET amount = amount + 1 WHERE id = 31;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
-- (refresh_strategy 'differential': 10 changes in 45 rows are past the change-ratio fallback
-- of 'auto' once the table has statistics.)
SET pg_trickle.max_buffer_rows = 0;
SET pg_trickle.refresh_strategy = 'differential';
INSERT INTO sale SELECT g, g % 3, g FROM generate_series(36, 45) g;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
SET pg_trickle.max_buffer_rows = 3;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
INSERT INTO sale SELECT g, g % 3, g FROM generate_series(46, 50) g;
DELETE FROM sale WHERE id BETWEEN 46 AND 48;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
RESET pg_trickle.refresh_strategy;
RESET pg_trickle.max_buffer_rows;
SELECT grp, n, total FROM sale_by_grp ORDER BY grp;

-- aggregate_fast_path: on, the delta adds to the stored counts and sums (an upsert of
-- increments); off, the groups it touches are recomputed. Both give the query's result.
SELECT value LIKE '%ON CONFLICT (__pgt_row_id) DO UPDATE%' AS increments
FROM pgtrickle.explain_st('sale_by_grp') WHERE property = 'delta_query';
SET pg_trickle.aggregate_fast_path = off;
SELECT value LIKE '%ON CONFLICT (__pgt_row_id) DO UPDATE%' AS increments
FROM pgtrickle.explain_st('sale_by_grp') WHERE property = 'delta_query';
UPDATE sale SET grp = (grp + 1) % 3, amount = amount * 2 WHERE id % 4 = 0;
DELETE FROM sale WHERE id % 7 = 0;
SELECT pgtrickle.refresh_stream_table('sale_by_grp');
SELECT action FROM pgtrickle.get_refresh_history('sale_by_grp', 1);
RESET pg_trickle.aggregate_fast_path;
(SELECT grp, n, total FROM sale_by_grp
 EXCEPT ALL SELECT grp, count(*), sum(amount) FROM sale GROUP BY grp)
UNION ALL
(SELECT grp, count(*), sum(amount) FROM sale GROUP BY grp
 EXCEPT ALL SELECT grp, n, total FROM sale_by_grp);

-- merge_work_mem_mb: a refresh with more than 10,000 changes runs its delta with work_mem
-- raised to this (planner_aggressive on; a larger work_mem is kept). The query reads the
-- setting through a function of its own, evaluated by the delta for each changed row: the rows
-- show what the refresh that wrote them ran with.
CREATE FUNCTION session_work_mem() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('work_mem') $$;
CREATE TABLE wide (id int PRIMARY KEY, v int NOT NULL);
SELECT pgtrickle.create_stream_table('wide_setting',
    'SELECT id, v, session_work_mem() AS work_mem FROM wide',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SET pg_trickle.refresh_strategy = 'differential';
SET work_mem = '4MB';
INSERT INTO wide SELECT g, g FROM generate_series(1, 100) g;
SELECT pgtrickle.refresh_stream_table('wide_setting');
SELECT work_mem, count(*) FROM wide_setting GROUP BY work_mem ORDER BY work_mem;
INSERT INTO wide SELECT g, g FROM generate_series(101, 10101) g;
SELECT pgtrickle.refresh_stream_table('wide_setting');
SELECT work_mem, count(*) FROM wide_setting GROUP BY work_mem ORDER BY work_mem;
SET pg_trickle.merge_work_mem_mb = 100;
UPDATE wide SET v = v + 1;
SELECT pgtrickle.refresh_stream_table('wide_setting');
SELECT work_mem, count(*) FROM wide_setting GROUP BY work_mem ORDER BY work_mem;
SET work_mem = '200MB';
UPDATE wide SET v = v + 1;
SELECT pgtrickle.refresh_stream_table('wide_setting');
SELECT work_mem, count(*) FROM wide_setting GROUP BY work_mem ORDER BY work_mem;
SHOW work_mem;
SET pg_trickle.planner_aggressive = off;
SET work_mem = '4MB';
UPDATE wide SET v = v + 1;
SELECT pgtrickle.refresh_stream_table('wide_setting');
SELECT work_mem, count(*) FROM wide_setting GROUP BY work_mem ORDER BY work_mem;
RESET pg_trickle.planner_aggressive;
RESET pg_trickle.merge_work_mem_mb;
RESET pg_trickle.refresh_strategy;
RESET work_mem;

-- analyze_before_delta: a change buffer of 16 pages or more whose size has moved far since its
-- statistics (here: it has none) is analyzed before the delta reads it; off, it is not.
-- (Autovacuum is kept off the buffer so that only the refresh can analyze it.)
CREATE TABLE big_src (id int PRIMARY KEY, grp int NOT NULL);
SELECT pgtrickle.create_stream_table('big_counts',
    'SELECT grp, count(*) AS n FROM big_src GROUP BY grp',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
DO $$ BEGIN
    EXECUTE format('ALTER TABLE pgtrickle_changes.%I SET (autovacuum_enabled = off)',
                   'changes_' || 'big_src'::regclass::oid);
END $$;
-- (Counted by the statistics system: a refresh may empty the buffer with TRUNCATE afterwards,
-- which resets its pg_class statistics.)
CREATE FUNCTION buffer_analyzed() RETURNS boolean LANGUAGE sql AS $$
    SELECT analyze_count > 0 FROM pg_stat_user_tables
    WHERE relname = 'changes_' || 'big_src'::regclass::oid AND schemaname = 'pgtrickle_changes' $$;
SET pg_trickle.analyze_before_delta = off;
INSERT INTO big_src SELECT g, g % 5 FROM generate_series(1, 5000) g;
SELECT pgtrickle.refresh_stream_table('big_counts');
SELECT buffer_analyzed();
RESET pg_trickle.analyze_before_delta;
INSERT INTO big_src SELECT g, g % 5 FROM generate_series(5001, 10000) g;
SELECT pgtrickle.refresh_stream_table('big_counts');
SELECT buffer_analyzed();
SELECT grp, n FROM big_counts ORDER BY grp;

-- max_grouping_set_branches: a CUBE / ROLLUP / GROUPING SETS query with more sets than that is
-- refused for DIFFERENTIAL, and AUTO refreshes it FULL.
SET pg_trickle.max_grouping_set_branches = 2;
SELECT pgtrickle.create_stream_table('sale_rollup',
    'SELECT grp, amount, count(*) AS n FROM sale GROUP BY ROLLUP (grp, amount)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('sale_rollup',
    'SELECT grp, amount, count(*) AS n FROM sale GROUP BY ROLLUP (grp, amount)',
    schedule => '1h');
SELECT refresh_mode, effective_refresh_mode FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'sale_rollup';
SELECT pgtrickle.drop_stream_table('sale_rollup');
RESET pg_trickle.max_grouping_set_branches;
SELECT pgtrickle.create_stream_table('sale_rollup',
    'SELECT grp, amount, count(*) AS n FROM sale GROUP BY ROLLUP (grp, amount)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');

-- max_parse_depth: queries nested deeper than that (the query itself is 1; each subquery,
-- CTE or set operation inside one more) are refused for DIFFERENTIAL. Both limits are checked
-- where the refresh mode is chosen (create, alter): a stream table accepted before a limit was
-- lowered keeps being maintained differentially.
SET pg_trickle.max_parse_depth = 2;
SELECT pgtrickle.create_stream_table('nested3',
    'SELECT grp FROM (SELECT grp FROM (SELECT grp FROM sale) a) b',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('nested2', 'SELECT grp FROM (SELECT grp FROM sale) a',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SET pg_trickle.max_parse_depth = 1;
INSERT INTO sale VALUES (100, 1, 100);
SELECT pgtrickle.refresh_stream_table('nested2');
SELECT action FROM pgtrickle.get_refresh_history('nested2', 1);
SELECT pgtrickle.alter_stream_table('nested2', query => 'SELECT grp FROM (SELECT grp FROM sale) a');
RESET pg_trickle.max_parse_depth;
SELECT count(*) FROM nested2;

-- A stream table whose query can no longer be maintained differentially (here a function it
-- calls became VOLATILE) is not refreshed: a FULL refresh would not fit its storage, laid out
-- for the differential plan. The DDL tracker refuses such a change (19_definition_changes); with
-- it disabled, the refresh says what to do; undone, the next refresh catches up (FULL: the
-- function was changed).
CREATE FUNCTION doubled(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
SELECT pgtrickle.create_stream_table('sale_doubled',
    'SELECT grp, sum(doubled(amount)) AS total FROM sale GROUP BY grp',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
ALTER FUNCTION doubled(int) VOLATILE;
ALTER EVENT TRIGGER pg_trickle_definition_tracker DISABLE;
ALTER FUNCTION doubled(int) VOLATILE;
ALTER EVENT TRIGGER pg_trickle_definition_tracker ENABLE;
UPDATE sale SET amount = amount + 1 WHERE id = 100;
SELECT pgtrickle.refresh_stream_table('sale_doubled');
ALTER FUNCTION doubled(int) IMMUTABLE;
SELECT pgtrickle.refresh_stream_table('sale_doubled');
SELECT action FROM pgtrickle.get_refresh_history('sale_doubled', 1);
(SELECT grp, total FROM sale_doubled
 EXCEPT ALL SELECT grp, sum(doubled(amount)) FROM sale GROUP BY grp)
UNION ALL
(SELECT grp, sum(doubled(amount)) FROM sale GROUP BY grp
 EXCEPT ALL SELECT grp, total FROM sale_doubled);

SELECT pgtrickle.drop_stream_table('nested2');
SELECT pgtrickle.drop_stream_table('sale_doubled');
SELECT pgtrickle.drop_stream_table('big_counts');
SELECT pgtrickle.drop_stream_table('sale_rollup');
SELECT pgtrickle.drop_stream_table('wide_setting');
SELECT pgtrickle.drop_stream_table('sale_by_grp');
DROP SCHEMA engine_settings CASCADE;
