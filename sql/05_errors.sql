-- Bad input: every error has its SQLSTATE and leaves nothing behind (no catalog row, no table,
-- no trigger, no index).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 1);

-- try(sql): 'ok', or the SQLSTATE and message of the error.
CREATE FUNCTION try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- What a half-made stream table named e would leave: catalog rows, a table or index, triggers.
CREATE FUNCTION leftovers() RETURNS text LANGUAGE sql AS $$
    SELECT format('catalog=%s deps=%s relations=%s triggers=%s',
        (SELECT count(*) FROM pgtrickle.pgt_stream_tables),
        (SELECT count(*) FROM pgtrickle.pgt_dependencies),
        (SELECT count(*) FROM pg_class WHERE relname = 'e' OR relname LIKE 'e\_\_%'),
        (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal
           AND tgrelid NOT IN (SELECT oid FROM pg_class
                               WHERE relnamespace = 'pgtrickle'::regnamespace)))
$$;
SELECT leftovers();

-- The defining query.
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'INSERT INTO t VALUES (2, 2)')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELEC id FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT 1 AS a; SELECT 2 AS b')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT * FROM no_such_table')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT no_such_column FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t LIMIT 1')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t OFFSET 1')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t ORDER BY id LIMIT (SELECT 1)')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t FOR UPDATE')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t TABLESAMPLE SYSTEM (50)')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'WITH x AS (DELETE FROM t RETURNING id) SELECT id FROM x')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id, v AS id FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id AS __pgt_row_id FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id INTO newtab FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', NULL)$$);
SELECT try($$SELECT pgtrickle.create_stream_table(NULL, 'SELECT 1 AS x')$$);
CREATE TEMP TABLE tmp (id int);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM tmp')$$);
SELECT leftovers();

-- Options.
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', refresh_mode => 'SOMETIMES')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT t FROM t', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT t.id, t.ctid FROM t', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id, random() FROM t', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id, now() AS seen_at FROM t', refresh_mode => 'IMMEDIATE')$$);
-- Not in a session's temporary schema (it would end with the session, unreadable to others).
SELECT try($$SELECT pgtrickle.create_stream_table('pg_temp.e', 'SELECT id FROM t')$$);
SELECT count(*) AS left_behind FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'e';
-- An IMMEDIATE stream table is filled when created: no scheduler would fill it later.
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', refresh_mode => 'IMMEDIATE', initialize => false)$$);
-- A partition's own triggers do not see the statements on its partitioned table.
CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM parted_1', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM parted_1', refresh_mode => 'IMMEDIATE')$$);
DROP TABLE parted;
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => NULL)$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '5x')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '1h30')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '-5s')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '0s')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '* * *')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '61 * * * *')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '@fortnightly')$$);
SET pg_trickle.min_schedule_seconds = 60;
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', schedule => '30s')$$);
RESET pg_trickle.min_schedule_seconds;
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', diamond_consistency => 'sometimes')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', diamond_schedule_policy => 'random')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', cdc_mode => 'logical')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', cdc_mode => 'wal')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', refresh_mode => 'FULL', append_only => true)$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', partition_by => 'id')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', temporal => true)$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', storage_backend => 'citus')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', storage_backend => 'tape')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', output_distribution_column => 'id')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', sink => 'x')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e', 'SELECT id FROM t', max_delta_fraction => 1.5)$$);
SELECT leftovers();

-- Names already taken.
SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM t', refresh_mode => 'FULL');
SELECT try($$SELECT pgtrickle.create_stream_table('st', 'SELECT id FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('public.st', 'SELECT id FROM t')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('t', 'SELECT id FROM t')$$);

-- Unknown stream tables.
SELECT try($$SELECT pgtrickle.refresh_stream_table('nope')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('nope', schedule => '5m')$$);
SELECT try($$SELECT pgtrickle.drop_stream_table('nope')$$);
SELECT try($$SELECT pgtrickle.resume_stream_table('nope')$$);
SELECT try($$SELECT pgtrickle.refresh_stream_table('t')$$);
SELECT try($$SELECT * FROM pgtrickle.get_refresh_history('nope')$$);

-- alter_stream_table option errors leave the stream table as it was.
SELECT try($$SELECT pgtrickle.alter_stream_table('st', schedule => 'soon')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', query => 'SELECT id, now() AS seen_at FROM t', refresh_mode => 'IMMEDIATE')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', query => 'SELECT t FROM t', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', status => 'PAUSED')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', tier => 'lukewarm')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', fuse => 'on')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', fuse => 'sometimes')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', post_refresh_action => 'analyze')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', query => 'SELECT nothing FROM t')$$);
SELECT try($$SELECT pgtrickle.alter_stream_table('st', query => 'SELECT id FROM st')$$);
SELECT schedule, refresh_mode, status, refresh_tier, defining_query FROM pgtrickle.pgt_stream_tables;

-- Cycles between stream tables are refused.
SELECT pgtrickle.create_stream_table('st2', 'SELECT id FROM st', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('st3', 'SELECT id FROM st2', refresh_mode => 'FULL');
SELECT try($$SELECT pgtrickle.alter_stream_table('st', query => 'SELECT id FROM st3')$$);

-- Dropping a stream table that others read needs cascade.
SELECT try($$SELECT pgtrickle.drop_stream_table('st')$$);
SELECT pgtrickle.drop_stream_table('st', cascade => true);
SELECT leftovers();

-- Direct writes to a stream table are refused.
SELECT pgtrickle.create_stream_table('guarded', 'SELECT id, v FROM t', refresh_mode => 'FULL');
SELECT try($$INSERT INTO guarded VALUES (9, 9, 9)$$);
SELECT try($$UPDATE guarded SET v = 0$$);
SELECT try($$DELETE FROM guarded$$);
SELECT try($$TRUNCATE guarded$$);
SELECT try($$MERGE INTO guarded g USING t ON g.id = t.id WHEN MATCHED THEN DELETE$$);
SELECT try($$SET pg_trickle.internal_refresh = 'true'$$);
SELECT count(*) FROM guarded;

-- Suspended stream tables are not refreshed until resumed.
SELECT pgtrickle.alter_stream_table('guarded', status => 'suspended');
SELECT try($$SELECT pgtrickle.refresh_stream_table('guarded')$$);
SELECT pgtrickle.resume_stream_table('guarded');
SELECT try($$SELECT pgtrickle.resume_stream_table('guarded')$$);
SELECT pgtrickle.refresh_stream_table('guarded');
SELECT status, consecutive_errors FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'guarded';

-- A refresh whose delta statement fails with an error that is not a data error (here a user
-- function's RAISE, SQLSTATE P0001): the refresh fails, and the session goes on normally.
CREATE FUNCTION boom(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF v = 42 THEN RAISE EXCEPTION 'boom at %', v; END IF;
  RETURN v;
END $f$;
CREATE TABLE boom_src (id int PRIMARY KEY, v int);
INSERT INTO boom_src VALUES (1, 1);
SELECT pgtrickle.create_stream_table('boomed', 'SELECT id, boom(v) AS b FROM boom_src', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
INSERT INTO boom_src VALUES (2, 42);
\set VERBOSITY terse
SELECT pgtrickle.refresh_stream_table('boomed');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT 1 AS still_usable;
BEGIN;
SELECT pgtrickle.refresh_stream_table('boomed');
ROLLBACK;
SELECT 2 AS still_usable;
\set VERBOSITY default
DELETE FROM boom_src WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('boomed');
SELECT id, b FROM boomed ORDER BY id;

-- GROUPING SETS are maintained as one grouped query per set: at most 64 sets (CUBE of 7 columns
-- has 128). DIFFERENTIAL refuses more; AUTO falls back to FULL.
CREATE TABLE cube7 (a int, b int, c int, d int, e int, f int, g int, v int);
SELECT try($$SELECT pgtrickle.create_stream_table('cubed', 'SELECT a, b, c, d, e, f, g, sum(v) AS s FROM cube7 GROUP BY CUBE (a, b, c, d, e, f, g)', refresh_mode => 'DIFFERENTIAL')$$);
SELECT pgtrickle.create_stream_table('cubed', 'SELECT a, b, c, d, e, f, g, sum(v) AS s FROM cube7 GROUP BY CUBE (a, b, c, d, e, f, g)', schedule => '1h');
SELECT refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'cubed';
SELECT pgtrickle.drop_stream_table('cubed');

-- Still refused in DIFFERENTIAL: a recursive query with SEARCH or CYCLE, and XMLTABLE in FROM.
SELECT try($$SELECT pgtrickle.create_stream_table('e2', 'WITH RECURSIVE r(n) AS (SELECT a FROM cube7 UNION SELECT n + 1 FROM r WHERE n < 3) CYCLE n SET looped USING path SELECT n FROM r', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try($$SELECT pgtrickle.create_stream_table('e2', 'SELECT x.v FROM cube7 c, XMLTABLE(''/a'' PASSING xmlelement(name a, c.a) COLUMNS v int PATH ''.'') x', refresh_mode => 'DIFFERENTIAL')$$);

-- Duration parsing.
SELECT pgtrickle.parse_duration_seconds(d) FROM unnest(ARRAY['30s', '5m', '1h30m', '2m30s', '1d', '1w', '90']) d;
SELECT try($$SELECT pgtrickle.parse_duration_seconds('1h30')$$);
SELECT try($$SELECT pgtrickle.parse_duration_seconds('')$$);
SELECT pgtrickle.parse_duration_seconds(NULL);

-- Out of range: at most 64 pool workers per database.
ALTER SYSTEM SET pg_trickle.worker_pool_size = 65;
ALTER SYSTEM SET pg_trickle.parallel_refresh_mode = 'sometimes';
