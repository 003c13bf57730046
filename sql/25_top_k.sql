-- Top-K stream tables (ORDER BY ... LIMIT k over output columns) maintained from the change of
-- their inner query: the new first k rows are chosen among the stored rows the change left in
-- place and the rows it brought, and the query is evaluated whole only when those cannot decide.
SET client_min_messages = warning;
SET pg_trickle.differential_max_change_ratio = 1;
CREATE SCHEMA topk;
SET search_path = topk, public;

-- Each stream table of the schema against its query (0 = equal as multisets).
CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'topk' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;
-- Refreshes every DIFFERENTIAL stream table of the schema; per stream table, how it ran and
-- whether its source `src` was scanned (the query evaluated whole) in that refresh, from the
-- transaction's own statistics.
CREATE FUNCTION refresh_all(src regclass) RETURNS TABLE (st text, action text, read_source boolean)
LANGUAGE plpgsql AS $f$
DECLARE r record; before bigint;
BEGIN
  FOR r IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'topk' AND refresh_mode = 'DIFFERENTIAL' ORDER BY pgt_id LOOP
    SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) INTO before
    FROM pg_stat_xact_user_tables WHERE relid = src;
    PERFORM pgtrickle.refresh_stream_table('topk.' || r.pgt_name);
    st := r.pgt_name;
    SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) > before INTO read_source
    FROM pg_stat_xact_user_tables WHERE relid = src;
    SELECT h.action INTO action FROM pgtrickle.pgt_refresh_history h
    JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
    WHERE s.pgt_schema = 'topk' AND s.pgt_name = r.pgt_name ORDER BY h.refresh_id DESC LIMIT 1;
    RETURN NEXT;
  END LOOP;
END $f$;

-- A leaderboard: keyed rows, NULL scores, a grouped top-K with HAVING, a DISTINCT one, a keyless
-- table with duplicates.
CREATE TABLE score (id int PRIMARY KEY, player text NOT NULL, points int);
INSERT INTO score SELECT g, 'p' || (g % 7), CASE WHEN g % 11 = 0 THEN NULL ELSE g * 13 % 97 END
FROM generate_series(1, 300) g;
-- (Indexes lead the group keys below: without one, a grouped top-K query is recomputed, since
-- its touched groups would be evaluated in one pass over the whole table.)
CREATE INDEX ON score (player);
CREATE INDEX ON score (points);
CREATE TABLE plays (player text, points int);   -- no key: duplicates are kept as copies
INSERT INTO plays SELECT 'p' || (g % 5), g % 4 FROM generate_series(1, 40) g;
ANALYZE score, plays;

-- AUTO maintains a top-K query differentially.
SELECT pgtrickle.create_stream_table('best', 'SELECT id, player, points FROM score ORDER BY points DESC NULLS LAST, id LIMIT 4', schedule => '1h');
SELECT pgtrickle.create_stream_table('worst_first_nulls', 'SELECT id, points FROM score ORDER BY points NULLS FIRST, id DESC LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('by_player', 'SELECT player, sum(points) AS total, count(*) AS n FROM score GROUP BY player HAVING count(*) > 40 ORDER BY total DESC NULLS LAST, player LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('distinct_points', 'SELECT DISTINCT points FROM score WHERE points IS NOT NULL ORDER BY 1 DESC LIMIT 5', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('copies', 'SELECT player, points FROM plays ORDER BY points DESC, player LIMIT 6', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
-- More rows wanted than there are: every row of the inner query is stored.
SELECT pgtrickle.create_stream_table('all_of_few', 'SELECT id, points FROM score WHERE id <= 5 ORDER BY points DESC NULLS LAST, id LIMIT 10', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'topk' ORDER BY pgt_id;
SELECT pgt_name, split_part(e.value, ':', 1) AS form
FROM pgtrickle.pgt_stream_tables st, LATERAL pgtrickle.explain_st(st.pgt_name) e
WHERE st.pgt_schema = 'topk' AND e.property = 'operator_tree' ORDER BY st.pgt_id;
SELECT value FROM pgtrickle.explain_st('by_player') WHERE property = 'operator_tree';
SELECT * FROM check_all();

-- Changes below the top: decided by the candidates. The linear ones read no source; the grouped
-- ones evaluate their touched groups again (through the indexes on their group keys).
BEGIN;
UPDATE score SET points = 1 WHERE id = 200;
INSERT INTO score VALUES (301, 'p1', 2);
INSERT INTO plays VALUES ('p9', 0);
SELECT * FROM refresh_all('score') WHERE st <> 'copies';
COMMIT;
SELECT * FROM check_all();

-- Rows entering the top: decided by the candidates.
BEGIN;
INSERT INTO score VALUES (302, 'p3', 500), (303, 'p4', -5);
INSERT INTO plays VALUES ('p0', 9), ('p0', 9);
SELECT * FROM refresh_all('score') WHERE st IN ('best', 'worst_first_nulls', 'distinct_points');
COMMIT;
SELECT * FROM check_all();
SELECT id, player, points FROM best ORDER BY points DESC NULLS LAST, id;
SELECT player, points FROM copies ORDER BY points DESC, player;

-- Rows leaving the top with nothing known to replace them: the query is evaluated whole.
BEGIN;
DELETE FROM score WHERE id = 302;
UPDATE score SET points = NULL WHERE id IN (SELECT id FROM best ORDER BY points DESC NULLS LAST, id LIMIT 1);
DELETE FROM plays WHERE points = 9;
SELECT * FROM refresh_all('score') WHERE st IN ('best', 'distinct_points');
COMMIT;
SELECT * FROM check_all();
SELECT id, player, points FROM best ORDER BY points DESC NULLS LAST, id;

-- A stored row moving within the top, another falling out while a better one comes in.
UPDATE score SET points = points + 1 WHERE id = (SELECT id FROM best ORDER BY points DESC NULLS LAST, id LIMIT 1);
UPDATE score SET points = 0 WHERE id = (SELECT id FROM best ORDER BY points DESC NULLS LAST, id OFFSET 3 LIMIT 1);
INSERT INTO score VALUES (304, 'p5', 400);
UPDATE plays SET points = 5 WHERE ctid = (SELECT min(ctid) FROM plays WHERE player = 'p2');
SELECT st, action FROM refresh_all('score');
SELECT * FROM check_all();

-- Groups crossing the HAVING threshold, duplicates of a keyless table going away one by one.
DELETE FROM score WHERE player = 'p2' AND id > 250;
INSERT INTO score SELECT 400 + g, 'p6', 90 FROM generate_series(1, 5) g;
DELETE FROM plays WHERE ctid = (SELECT min(ctid) FROM plays WHERE player = 'p3' AND points = 3);
SELECT st, action FROM refresh_all('score');
SELECT * FROM check_all();
SELECT player, total, n FROM by_player ORDER BY total DESC NULLS LAST, player;

-- Many rounds of mixed changes.
DO $$
BEGIN
  FOR i IN 1..12 LOOP
    PERFORM setseed(i / 100.0);
    UPDATE score SET points = CASE WHEN random() < 0.2 THEN NULL ELSE (random() * 120)::int END
    WHERE random() < 0.03;
    DELETE FROM score WHERE random() < 0.02;
    INSERT INTO score SELECT 1000 + i * 10 + g, 'p' || (g % 7), (random() * 130)::int
    FROM generate_series(1, 4) g;
    UPDATE plays SET points = (random() * 6)::int WHERE random() < 0.2;
    INSERT INTO plays SELECT 'p' || (g % 3), (random() * 6)::int FROM generate_series(1, 2) g;
    PERFORM pgtrickle.refresh_stream_table('topk.' || pgt_name) FROM pgtrickle.pgt_stream_tables
    WHERE pgt_schema = 'topk';
    IF EXISTS (SELECT 1 FROM check_all() WHERE differences <> 0) THEN
      RAISE EXCEPTION 'round %: a stream table differs from its query', i;
    END IF;
  END LOOP;
END $$;
SELECT * FROM check_all();

-- TRUNCATE of a source: the next refresh is FULL.
TRUNCATE plays;
INSERT INTO plays VALUES ('p1', 1), ('p1', 1);
SELECT st, action FROM refresh_all('score') WHERE st = 'copies';
SELECT * FROM check_all();

-- A join and a subquery in FROM.
CREATE TABLE team (player text PRIMARY KEY, team text NOT NULL);
INSERT INTO team SELECT 'p' || g, CASE WHEN g % 2 = 0 THEN 'red' ELSE 'blue' END FROM generate_series(0, 6) g;
SELECT pgtrickle.create_stream_table('best_red', 'SELECT s.id, s.points, t.team FROM score s JOIN team t USING (player) WHERE t.team = ''red'' ORDER BY s.points DESC NULLS LAST, s.id LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('team_totals', 'SELECT team, total FROM (SELECT t.team, sum(s.points) AS total FROM score s JOIN team t USING (player) GROUP BY t.team) x ORDER BY total DESC, team LIMIT 1', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
UPDATE team SET team = 'red' WHERE player = 'p1';
UPDATE score SET points = 999 WHERE id = 7;
SELECT st, action FROM refresh_all('score') WHERE st IN ('best_red', 'team_totals');
SELECT * FROM check_all();
UPDATE team SET team = 'blue' WHERE player IN ('p0', 'p2', 'p4', 'p6');
SELECT st, action FROM refresh_all('score') WHERE st IN ('best_red', 'team_totals');
SELECT * FROM check_all();

-- Recomputed instead: OFFSET, WITH TIES, an order by an expression not in the select list,
-- DISTINCT ON, groups no index leads (evaluated in one pass: the whole query), a relation read
-- nonlinearly (its terms would evaluate the query twice).
SELECT pgtrickle.create_stream_table('page2', 'SELECT id, points FROM score ORDER BY points DESC NULLS LAST, id LIMIT 3 OFFSET 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('ties', 'SELECT id, points FROM score ORDER BY points DESC NULLS LAST FETCH FIRST 2 ROWS WITH TIES', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('hidden_order', 'SELECT id FROM score ORDER BY points DESC NULLS LAST, id LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('first_per_player', 'SELECT DISTINCT ON (player) player, id, points FROM score ORDER BY player, points DESC NULLS LAST, id LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
CREATE TABLE unindexed (g int, v int);
INSERT INTO unindexed SELECT g % 10, g FROM generate_series(1, 100) g;
SELECT pgtrickle.create_stream_table('unindexed_groups', 'SELECT g, sum(v) AS total FROM unindexed GROUP BY g ORDER BY total DESC, g LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('best_not_red', 'SELECT s.id, s.points FROM score s WHERE NOT EXISTS (SELECT 1 FROM team t WHERE t.player = s.player AND t.team = ''red'') ORDER BY s.points DESC NULLS LAST, s.id LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgt_name, split_part(e.value, ':', 1) AS form
FROM pgtrickle.pgt_stream_tables st, LATERAL pgtrickle.explain_st(st.pgt_name) e
WHERE st.pgt_schema = 'topk' AND e.property = 'operator_tree'
  AND st.pgt_name IN ('page2', 'ties', 'hidden_order', 'first_per_player', 'unindexed_groups', 'best_not_red') ORDER BY st.pgt_id;
UPDATE team SET team = 'red' WHERE player = 'p3';
UPDATE score SET points = 777 WHERE id = 8;
SELECT count(*) AS refreshed FROM refresh_all('score');
SELECT * FROM check_all();

-- A composite value whose fields are all NULL sorts as a value (after the others), not as a
-- NULL, though it IS NULL.
CREATE TYPE pair AS (a int, b int);
CREATE TABLE pairs (id int PRIMARY KEY, c pair);
INSERT INTO pairs VALUES (1, ROW(1, 1)), (2, ROW(2, 2)), (3, ROW(3, 3)), (5, NULL);
CREATE TABLE empty_pairs (id int PRIMARY KEY, c pair);
INSERT INTO empty_pairs VALUES (1, ROW(NULL, NULL)), (2, ROW(NULL, NULL)), (3, ROW(NULL, NULL));
SELECT pgtrickle.create_stream_table('pairs_desc', 'SELECT id, c FROM pairs ORDER BY c DESC NULLS LAST, id LIMIT 2', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('empty_pairs_asc', 'SELECT id, c FROM empty_pairs ORDER BY c NULLS FIRST, id LIMIT 2', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
INSERT INTO pairs VALUES (4, ROW(NULL, NULL));
INSERT INTO empty_pairs VALUES (4, ROW(1, 1));
SELECT pgtrickle.refresh_stream_table('pairs_desc');
SELECT pgtrickle.refresh_stream_table('empty_pairs_asc');
SELECT * FROM check_all() WHERE st LIKE '%pairs%';
SELECT id, c FROM pairs_desc ORDER BY c DESC NULLS LAST, id;
SELECT id, c FROM empty_pairs_asc ORDER BY c NULLS FIRST, id;

-- Output names that hide input columns: the stored query orders by the input columns, as the
-- query given does (printed back with bare names, ORDER BY y would read the output column y).
CREATE TABLE swapped (x int, y int);
INSERT INTO swapped SELECT g, 10 - g FROM generate_series(1, 9) g;
SELECT pgtrickle.create_stream_table('swapped_top', 'SELECT y AS x, x AS y FROM swapped ORDER BY 1, 2 LIMIT 3', schedule => '1h', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('swapped_full', 'SELECT y AS x, x AS y FROM swapped ORDER BY 1, 2 LIMIT 3', schedule => '1h', refresh_mode => 'FULL');
SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'swapped_top';
INSERT INTO swapped VALUES (0, 0), (20, -5);
SELECT pgtrickle.refresh_stream_table('swapped_top');
SELECT pgtrickle.refresh_stream_table('swapped_full');
SELECT x, y FROM swapped_top ORDER BY 1, 2;
SELECT x, y FROM swapped_full ORDER BY 1, 2;
-- A column merged by JOIN ... USING prints without a table name: hidden by an output column, it
-- cannot be ordered by unambiguously, and the query is refused.
CREATE TABLE merged_a (k int PRIMARY KEY, v int);
CREATE TABLE merged_b (k int PRIMARY KEY, w int);
SELECT pgtrickle.create_stream_table('merged_top', 'SELECT merged_a.v AS k, k AS v FROM merged_a FULL JOIN merged_b USING (k) ORDER BY 2 LIMIT 3', schedule => '1h', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('merged_top', 'SELECT merged_a.v AS kv, k AS v FROM merged_a FULL JOIN merged_b USING (k) ORDER BY 2 LIMIT 3', schedule => '1h', refresh_mode => 'FULL');

-- IMMEDIATE: maintained per statement, rolled back with the transaction.
SELECT pgtrickle.create_stream_table('best_now', 'SELECT id, points FROM score ORDER BY points DESC NULLS LAST, id LIMIT 2', refresh_mode => 'IMMEDIATE');
BEGIN;
INSERT INTO score VALUES (2000, 'p1', 5000);
SELECT id, points FROM best_now ORDER BY points DESC NULLS LAST, id;
DELETE FROM score WHERE id = 2000;
UPDATE score SET points = NULL WHERE id = (SELECT id FROM best_now ORDER BY points DESC NULLS LAST, id LIMIT 1);
SELECT * FROM check_all() WHERE st = 'best_now';
ROLLBACK;
SELECT * FROM check_all() WHERE st = 'best_now';
INSERT INTO score VALUES (2001, 'p2', 4000);
SELECT id, points FROM best_now ORDER BY points DESC NULLS LAST, id;

DROP SCHEMA topk CASCADE;
