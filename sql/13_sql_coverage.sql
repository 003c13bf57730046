-- SQL coverage of DIFFERENTIAL and IMMEDIATE maintenance: window functions, DISTINCT ON,
-- GROUPING SETS / ROLLUP / CUBE, LATERAL, set-returning functions, WITH RECURSIVE and top-K.
-- After every batch of changes each DIFFERENTIAL stream table is refreshed and must equal its
-- defining query as a multiset (0 differences); each IMMEDIATE stream table must equal its
-- defining query right after every writing statement, without any refresh.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
DROP SCHEMA IF EXISTS cov CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;
-- Large changes on these small tables would otherwise make refreshes fall back to FULL.
SET pg_trickle.differential_max_change_ratio = 0;
SET pg_trickle.refresh_strategy = 'differential';
CREATE SCHEMA cov;
SET search_path = cov;

-- cov_check(family): every stream table whose name starts with family || '_', its mode, the
-- action of its last refresh (DIFFERENTIAL ones only) and the number of rows that differ from
-- its defining query (missing plus extra, as multisets).
CREATE FUNCTION cov_check(family text, only_immediate boolean DEFAULT false)
RETURNS TABLE (st text, mode text, last_action text, differences bigint)
LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT s.pgt_name, s.refresh_mode, s.defining_query, s.pgt_relid::regclass AS rel
           FROM pgtrickle.pgt_stream_tables s
           WHERE s.pgt_schema = 'cov' AND starts_with(s.pgt_name, family || '_')
             AND (NOT only_immediate OR s.refresh_mode = 'IMMEDIATE')
           ORDER BY s.pgt_name LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name; mode := r.refresh_mode;
    last_action := CASE WHEN r.refresh_mode = 'IMMEDIATE' THEN NULL ELSE
                   (SELECT h.action FROM pgtrickle.get_refresh_history('cov.' || r.pgt_name, 1) h) END;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;
-- cov_imm(family): the IMMEDIATE stream tables of the family only (checked after each statement).
CREATE FUNCTION cov_imm(family text) RETURNS TABLE (st text, differences bigint)
LANGUAGE sql AS $$ SELECT st, differences FROM cov_check(family, true) $$;
-- cov_refresh(family): refreshes the family's DIFFERENTIAL stream tables.
CREATE FUNCTION cov_refresh(family text) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
  FOR r IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'cov' AND starts_with(pgt_name, family || '_')
             AND refresh_mode = 'DIFFERENTIAL' ORDER BY pgt_name LOOP
    PERFORM pgtrickle.refresh_stream_table('cov.' || r.pgt_name);
  END LOOP;
END $f$;
-- cov_strategy(family): the first line of each stream table's operator tree (how it is
-- maintained) and the second (what each relation contributes), without any id.
CREATE FUNCTION cov_strategy(family text) RETURNS TABLE (st text, strategy text, detail text)
LANGUAGE sql AS $$
  SELECT s.pgt_name, split_part(e.value, E'\n', 1), btrim(split_part(e.value, E'\n', 2))
  FROM pgtrickle.pgt_stream_tables s, LATERAL pgtrickle.explain_st('cov.' || s.pgt_name) e
  WHERE s.pgt_schema = 'cov' AND starts_with(s.pgt_name, family || '_')
    AND e.property = 'operator_tree'
  ORDER BY s.pgt_name
$$;

------------------------------------------------------------------------------------------------
-- 1. Window functions: partitions with a NULL key, ties in the window order, a partition emptied
--    and refilled, rows moving between partitions, a window over a join.
------------------------------------------------------------------------------------------------
CREATE TABLE w_dept (dept text PRIMARY KEY, region text);
CREATE TABLE w_emp (id int PRIMARY KEY, dept text, salary int);
INSERT INTO w_dept VALUES ('eng', 'north'), ('ops', 'north'), ('hr', 'south');
INSERT INTO w_emp VALUES (1, 'eng', 100), (2, 'eng', 100), (3, 'eng', 90), (4, 'ops', 80),
  (5, 'ops', 80), (6, NULL, 50), (7, NULL, 50), (8, 'hr', 70), (9, 'eng', NULL);

-- The INFO line of each creation carries the stream table's id: only its SQLSTATE is shown.
\set VERBOSITY sqlstate
-- rank / dense_rank give tied rows the same value: restricted to the changed partitions.
SELECT pgtrickle.create_stream_table('win_rank', 'SELECT id, dept, salary, rank() OVER w AS rnk, dense_rank() OVER w AS drnk FROM w_emp WINDOW w AS (PARTITION BY dept ORDER BY salary DESC)', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- row_number / lag over an order that includes the primary key: no ties, restricted.
SELECT pgtrickle.create_stream_table('win_rownum', 'SELECT id, dept, row_number() OVER (PARTITION BY dept ORDER BY salary, id) AS rn, lag(id) OVER (PARTITION BY dept ORDER BY salary, id) AS prev_id FROM w_emp', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- Aggregates over whole partitions and over RANGE frames (tied rows share their frame).
SELECT pgtrickle.create_stream_table('win_frame', 'SELECT id, dept, sum(salary) OVER (PARTITION BY dept) AS dept_total, count(*) OVER (PARTITION BY dept ORDER BY salary) AS running, max(salary) OVER (PARTITION BY dept ORDER BY salary RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_max FROM w_emp', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- row_number over an order that can tie: recomputed whole. Only tie-invariant columns are
-- selected (tied rows have the same dept and salary), so the result is deterministic.
SELECT pgtrickle.create_stream_table('win_tied', 'SELECT dept, salary, row_number() OVER (PARTITION BY dept ORDER BY salary) AS rn FROM w_emp', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- A window over a join: the partition key comes from the other table.
SELECT pgtrickle.create_stream_table('win_join', 'SELECT e.id, d.region, rank() OVER (PARTITION BY d.region ORDER BY e.salary DESC NULLS LAST) AS rnk FROM w_emp e JOIN w_dept d ON d.dept = e.dept', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('win_imm', 'SELECT id, dept, rank() OVER (PARTITION BY dept ORDER BY salary) AS rnk, row_number() OVER (PARTITION BY dept ORDER BY salary, id) AS rn FROM w_emp', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('win_imm_rows', 'SELECT id, dept, sum(salary) OVER (PARTITION BY dept ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair_sum FROM w_emp', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'win\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('win') ORDER BY st;
SELECT * FROM cov_check('win') ORDER BY st;
SELECT id, dept, salary, rnk, drnk FROM win_rank ORDER BY dept NULLS FIRST, rnk, id;

-- Ties and the NULL partition: new tie, a row joining a tie, a row moving into the NULL partition.
INSERT INTO w_emp VALUES (10, 'eng', 90), (11, NULL, 60);
SELECT * FROM cov_imm('win') ORDER BY st;
UPDATE w_emp SET salary = 90 WHERE id = 1;
SELECT * FROM cov_imm('win') ORDER BY st;
UPDATE w_emp SET dept = NULL WHERE id = 5;
SELECT * FROM cov_imm('win') ORDER BY st;
-- Before their refresh the DIFFERENTIAL stream tables are stale, and the check says so.
SELECT st, differences FROM cov_check('win') WHERE mode = 'DIFFERENTIAL' ORDER BY st;
SELECT cov_refresh('win');
SELECT * FROM cov_check('win') ORDER BY st;
SELECT id, dept, salary, rnk, drnk FROM win_rank ORDER BY dept NULLS FIRST, rnk, id;

-- Empty partitions: every row of 'ops', of 'hr' and of the NULL partition deleted.
DELETE FROM w_emp WHERE dept IN ('ops', 'hr');
SELECT * FROM cov_imm('win') ORDER BY st;
DELETE FROM w_emp WHERE dept IS NULL;
SELECT * FROM cov_imm('win') ORDER BY st;
SELECT cov_refresh('win');
SELECT * FROM cov_check('win') ORDER BY st;
SELECT dept, count(*) AS rows_left FROM win_rownum GROUP BY dept ORDER BY dept NULLS FIRST;

-- Re-inserted rows (same keys and values as before), a region change on the joined table.
INSERT INTO w_emp VALUES (4, 'ops', 80), (6, NULL, 50), (7, NULL, 50), (8, 'hr', 70);
SELECT * FROM cov_imm('win') ORDER BY st;
UPDATE w_dept SET region = 'north' WHERE dept = 'hr';
SELECT * FROM cov_imm('win') ORDER BY st;
SELECT cov_refresh('win');
SELECT * FROM cov_check('win') ORDER BY st;

-- A row deleted and re-inserted in the same batch, a salary set to NULL, a whole-table update.
DELETE FROM w_emp WHERE id = 2;
SELECT * FROM cov_imm('win') ORDER BY st;
INSERT INTO w_emp VALUES (2, 'eng', 100);
SELECT * FROM cov_imm('win') ORDER BY st;
UPDATE w_emp SET salary = NULL WHERE id = 3;
SELECT * FROM cov_imm('win') ORDER BY st;
UPDATE w_emp SET salary = coalesce(salary, 0) + 5;
SELECT * FROM cov_imm('win') ORDER BY st;
SELECT cov_refresh('win');
SELECT * FROM cov_check('win') ORDER BY st;
SELECT dept, salary, rn FROM win_tied ORDER BY dept NULLS FIRST, rn;

------------------------------------------------------------------------------------------------
-- 2. DISTINCT ON: the chosen row deleted, NULL keys, a group emptied and refilled.
------------------------------------------------------------------------------------------------
CREATE TABLE d_read (id int PRIMARY KEY, sensor text, ts int, val numeric(6,1));
INSERT INTO d_read VALUES (1, 's1', 1, 1.0), (2, 's1', 2, 2.0), (3, 's1', 3, 3.0),
  (4, 's2', 1, 4.0), (5, 's2', 2, 5.0), (6, 's2', 2, 6.0), (7, NULL, 1, 7.0), (8, NULL, 5, NULL);
\set VERBOSITY sqlstate
-- Latest reading per sensor; the order includes the primary key: restricted to changed keys.
SELECT pgtrickle.create_stream_table('don_latest', 'SELECT DISTINCT ON (sensor) sensor, id, ts, val FROM d_read ORDER BY sensor, ts DESC, id DESC', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- First id per (sensor, ts).
SELECT pgtrickle.create_stream_table('don_pair', 'SELECT DISTINCT ON (sensor, ts) sensor, ts, id FROM d_read ORDER BY sensor, ts, id', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- An order that can tie: recomputed; the selected columns do not depend on which tied row wins.
SELECT pgtrickle.create_stream_table('don_tied', 'SELECT DISTINCT ON (sensor) sensor, ts FROM d_read ORDER BY sensor, ts DESC', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('don_imm', 'SELECT DISTINCT ON (sensor) sensor, id, val FROM d_read ORDER BY sensor, val DESC NULLS LAST, id', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'don\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('don') ORDER BY st;
SELECT * FROM cov_check('don') ORDER BY st;
SELECT sensor, id, ts, val FROM don_latest ORDER BY sensor NULLS FIRST;

-- The chosen rows deleted: the next one in order takes their place.
DELETE FROM d_read WHERE id IN (3, 8);
SELECT * FROM cov_imm('don') ORDER BY st;
DELETE FROM d_read WHERE id = 6;
SELECT * FROM cov_imm('don') ORDER BY st;
INSERT INTO d_read VALUES (9, NULL, 3, 9.0), (10, 's3', 1, NULL);
SELECT * FROM cov_imm('don') ORDER BY st;
SELECT cov_refresh('don');
SELECT * FROM cov_check('don') ORDER BY st;
SELECT sensor, id, ts, val FROM don_latest ORDER BY sensor NULLS FIRST;
SELECT sensor, id, val FROM don_imm ORDER BY sensor NULLS FIRST;

-- A group emptied, a row moved to the NULL key, a chosen row overtaken by an update.
DELETE FROM d_read WHERE sensor = 's2';
SELECT * FROM cov_imm('don') ORDER BY st;
UPDATE d_read SET sensor = NULL WHERE id = 2;
SELECT * FROM cov_imm('don') ORDER BY st;
UPDATE d_read SET ts = 10, val = 0.5 WHERE id = 1;
SELECT * FROM cov_imm('don') ORDER BY st;
SELECT cov_refresh('don');
SELECT * FROM cov_check('don') ORDER BY st;
SELECT sensor, id, ts, val FROM don_latest ORDER BY sensor NULLS FIRST;

-- Deleted rows re-inserted.
INSERT INTO d_read VALUES (3, 's1', 3, 3.0), (4, 's2', 1, 4.0), (5, 's2', 2, 5.0), (6, 's2', 2, 6.0), (8, NULL, 5, NULL);
SELECT * FROM cov_imm('don') ORDER BY st;
SELECT cov_refresh('don');
SELECT * FROM cov_check('don') ORDER BY st;
SELECT sensor, id, ts, val FROM don_latest ORDER BY sensor NULLS FIRST;

------------------------------------------------------------------------------------------------
-- 3. GROUPING SETS / ROLLUP / CUBE with GROUPING(): NULL data in the grouped columns (told
--    apart from the NULLs of rolled-up columns by GROUPING()), groups emptied, an empty table.
------------------------------------------------------------------------------------------------
CREATE TABLE g_sale (id int PRIMARY KEY, region text, product text, qty int, price numeric(8,2));
INSERT INTO g_sale VALUES (1, 'east', 'apple', 3, 1.50), (2, 'east', 'pear', 1, 2.00),
  (3, 'west', 'apple', 5, 1.25), (4, 'west', NULL, 2, 3.00), (5, NULL, 'pear', 4, 2.00),
  (6, 'east', 'apple', 1, 1.50);
\set VERBOSITY sqlstate
SELECT pgtrickle.create_stream_table('gs_rollup', 'SELECT region, product, GROUPING(region, product) AS g, count(*) AS n, sum(qty) AS qty, sum(price * qty) AS revenue FROM g_sale GROUP BY ROLLUP (region, product)', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gs_cube', 'SELECT region, product, GROUPING(region) AS gr, GROUPING(product) AS gp, min(qty) AS lo, max(qty) AS hi, count(price) AS priced FROM g_sale GROUP BY CUBE (region, product)', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gs_sets', 'SELECT region, product, GROUPING(region, product) AS g, count(*) AS n, avg(qty) AS mean FROM g_sale GROUP BY GROUPING SETS ((region), (product), ())', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gs_having', 'SELECT region, product, GROUPING(product) AS gp, sum(qty) AS qty FROM g_sale GROUP BY region, ROLLUP (product) HAVING sum(qty) > 2', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gs_imm', 'SELECT region, product, GROUPING(region, product) AS g, count(*) AS n, sum(qty) AS qty FROM g_sale GROUP BY ROLLUP (region, product)', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'gs\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('gs') ORDER BY st;
SELECT * FROM cov_check('gs') ORDER BY st;
SELECT region, product, g, n, qty, revenue FROM gs_rollup ORDER BY g, region NULLS FIRST, product NULLS FIRST;

-- NULL data keys, a product renamed, a sale deleted.
INSERT INTO g_sale VALUES (7, NULL, NULL, 6, 0.50), (8, 'west', 'pear', 2, NULL);
SELECT * FROM cov_imm('gs') ORDER BY st;
UPDATE g_sale SET product = 'plum' WHERE id = 2;
SELECT * FROM cov_imm('gs') ORDER BY st;
DELETE FROM g_sale WHERE id = 3;
SELECT * FROM cov_imm('gs') ORDER BY st;
SELECT cov_refresh('gs');
SELECT * FROM cov_check('gs') ORDER BY st;
SELECT region, product, gr, gp, lo, hi, priced FROM gs_cube ORDER BY gr, gp, region NULLS FIRST, product NULLS FIRST;

-- A region emptied: its detail rows and its subtotal disappear.
DELETE FROM g_sale WHERE region = 'east';
SELECT * FROM cov_imm('gs') ORDER BY st;
SELECT cov_refresh('gs');
SELECT * FROM cov_check('gs') ORDER BY st;
SELECT region, product, g, n, qty, revenue FROM gs_rollup ORDER BY g, region NULLS FIRST, product NULLS FIRST;

-- The table emptied: the grand total of ROLLUP / CUBE / () stays, with count 0 and NULL sums.
DELETE FROM g_sale;
SELECT * FROM cov_imm('gs') ORDER BY st;
SELECT cov_refresh('gs');
SELECT * FROM cov_check('gs') ORDER BY st;
SELECT region, product, g, n, qty, revenue FROM gs_rollup ORDER BY g, region NULLS FIRST, product NULLS FIRST;
SELECT region, product, gr, gp, lo, hi, priced FROM gs_cube ORDER BY gr, gp;
SELECT region, product, g, n, mean FROM gs_sets ORDER BY g;
SELECT count(*) AS having_rows FROM gs_having;
SELECT region, product, g, n, qty FROM gs_imm ORDER BY g;

-- Rows re-inserted into the empty table.
INSERT INTO g_sale VALUES (1, 'east', 'apple', 3, 1.50), (5, NULL, 'pear', 4, 2.00);
SELECT * FROM cov_imm('gs') ORDER BY st;
INSERT INTO g_sale VALUES (6, 'east', 'apple', 1, 1.50);
SELECT * FROM cov_imm('gs') ORDER BY st;
SELECT cov_refresh('gs');
SELECT * FROM cov_check('gs') ORDER BY st;
SELECT region, product, g, n, qty, revenue FROM gs_rollup ORDER BY g, region NULLS FIRST, product NULLS FIRST;

------------------------------------------------------------------------------------------------
-- 4. LATERAL subqueries: top-N per row, aggregates per row, LEFT JOIN LATERAL ... ON true over
--    rows whose subquery returns nothing (padded with NULLs).
------------------------------------------------------------------------------------------------
CREATE TABLE l_cust (cid int PRIMARY KEY, name text);
CREATE TABLE l_ord (oid int PRIMARY KEY, cid int, amount int);
INSERT INTO l_cust VALUES (1, 'ann'), (2, 'bob'), (3, 'cy'), (4, NULL);
INSERT INTO l_ord VALUES (10, 1, 50), (11, 1, 70), (12, 1, 70), (13, 2, 20), (14, NULL, 99),
  (15, 3, 60);
\set VERBOSITY sqlstate
SELECT pgtrickle.create_stream_table('lat_top2', 'SELECT c.cid, t.oid, t.amount FROM l_cust c CROSS JOIN LATERAL (SELECT o.oid, o.amount FROM l_ord o WHERE o.cid = c.cid ORDER BY o.amount DESC, o.oid LIMIT 2) t', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('lat_big', 'SELECT c.cid, c.name, b.oid, b.amount FROM l_cust c LEFT JOIN LATERAL (SELECT o.oid, o.amount FROM l_ord o WHERE o.cid = c.cid AND o.amount >= 50) b ON true', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('lat_agg', 'SELECT c.cid, s.n, s.total FROM l_cust c, LATERAL (SELECT count(*) AS n, sum(o.amount) AS total FROM l_ord o WHERE o.cid = c.cid) s', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('lat_first', 'SELECT c.cid, f.oid AS first_oid FROM l_cust c LEFT JOIN LATERAL (SELECT o.oid FROM l_ord o WHERE o.cid = c.cid ORDER BY o.oid LIMIT 1) f ON true', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('lat_imm', 'SELECT c.cid, c.name, b.oid, b.amount FROM l_cust c LEFT JOIN LATERAL (SELECT o.oid, o.amount FROM l_ord o WHERE o.cid = c.cid ORDER BY o.amount DESC, o.oid LIMIT 1) b ON true', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('lat_imm_agg', 'SELECT c.cid, s.n, s.total FROM l_cust c, LATERAL (SELECT count(*) AS n, sum(o.amount) AS total FROM l_ord o WHERE o.cid = c.cid) s', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'lat\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('lat') ORDER BY st;
SELECT * FROM cov_check('lat') ORDER BY st;
SELECT cid, name, oid, amount FROM lat_big ORDER BY cid, oid;

-- A padded customer gains a matching order, a new customer without orders, an order with a NULL
-- customer, an amount crossing the threshold, a tie at the top.
INSERT INTO l_ord VALUES (16, 2, 55), (17, NULL, 1);
SELECT * FROM cov_imm('lat') ORDER BY st;
INSERT INTO l_cust VALUES (5, 'dee');
SELECT * FROM cov_imm('lat') ORDER BY st;
UPDATE l_ord SET amount = 45 WHERE oid = 10;
SELECT * FROM cov_imm('lat') ORDER BY st;
INSERT INTO l_ord VALUES (18, 3, 60);
SELECT * FROM cov_imm('lat') ORDER BY st;
SELECT cov_refresh('lat');
SELECT * FROM cov_check('lat') ORDER BY st;
SELECT cid, name, oid, amount FROM lat_big ORDER BY cid, oid;

-- Every order of customer 1 deleted: its LATERAL subqueries return nothing (padded in the LEFT
-- JOINs, gone from the inner one, count 0 in the aggregate); an order moved between customers.
DELETE FROM l_ord WHERE cid = 1;
SELECT * FROM cov_imm('lat') ORDER BY st;
UPDATE l_ord SET cid = 4 WHERE oid = 15;
SELECT * FROM cov_imm('lat') ORDER BY st;
SELECT cov_refresh('lat');
SELECT * FROM cov_check('lat') ORDER BY st;
SELECT cid, name, oid, amount FROM lat_big ORDER BY cid, oid;
SELECT cid, n, total FROM lat_agg ORDER BY cid;
SELECT cid, name, oid, amount FROM lat_imm ORDER BY cid;

-- A customer deleted, deleted orders re-inserted, a customer renamed.
DELETE FROM l_cust WHERE cid = 2;
SELECT * FROM cov_imm('lat') ORDER BY st;
INSERT INTO l_ord VALUES (10, 1, 50), (11, 1, 70), (12, 1, 70);
SELECT * FROM cov_imm('lat') ORDER BY st;
UPDATE l_cust SET name = 'anne' WHERE cid = 1;
SELECT * FROM cov_imm('lat') ORDER BY st;
SELECT cov_refresh('lat');
SELECT * FROM cov_check('lat') ORDER BY st;
SELECT cid, oid, amount FROM lat_top2 ORDER BY cid, amount DESC, oid;

------------------------------------------------------------------------------------------------
-- 5. Set-returning functions in FROM (unnest WITH ORDINALITY, generate_series,
--    jsonb_array_elements, jsonb_each) and in the select list; NULL and empty arrays.
------------------------------------------------------------------------------------------------
CREATE TABLE s_doc (id int PRIMARY KEY, tags text[], n int, body jsonb);
INSERT INTO s_doc VALUES
  (1, '{a,b}', 2, '{"items": [1, 2], "attrs": {"k": "v"}}'),
  (2, NULL, NULL, NULL),
  (3, '{}', 0, '{"items": [], "attrs": {}}'),
  (4, '{a,NULL,a}', 3, '{"items": [null, "x"], "attrs": {"k": null, "j": [1]}}');
\set VERBOSITY sqlstate
SELECT pgtrickle.create_stream_table('srf_unnest', 'SELECT d.id, u.tag, u.pos FROM s_doc d, unnest(d.tags) WITH ORDINALITY AS u(tag, pos)', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_left', 'SELECT d.id, u.tag FROM s_doc d LEFT JOIN LATERAL unnest(d.tags) AS u(tag) ON true', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_series', 'SELECT d.id, g.i FROM s_doc d, generate_series(1, d.n) AS g(i)', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_json', 'SELECT d.id, e.value AS item FROM s_doc d, jsonb_array_elements(d.body -> ''items'') AS e', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_each', 'SELECT d.id, a.key, a.value FROM s_doc d, jsonb_each(d.body -> ''attrs'') AS a', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- Two set-returning functions in the select list run in lockstep, the shorter padded with NULL.
SELECT pgtrickle.create_stream_table('srf_select', 'SELECT id, unnest(tags) AS tag, generate_series(1, 2) AS k FROM s_doc', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_agg', 'SELECT u.tag, count(*) AS n FROM s_doc d, unnest(d.tags) AS u(tag) GROUP BY u.tag', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('srf_imm', 'SELECT d.id, u.tag, u.pos FROM s_doc d, unnest(d.tags) WITH ORDINALITY AS u(tag, pos)', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('srf_imm_each', 'SELECT d.id, a.key, a.value FROM s_doc d LEFT JOIN LATERAL jsonb_each(d.body -> ''attrs'') AS a ON true', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'srf\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('srf') ORDER BY st;
SELECT * FROM cov_check('srf') ORDER BY st;
SELECT id, tag FROM srf_left ORDER BY id, tag NULLS FIRST;
SELECT id, tag, k FROM srf_select ORDER BY id, k NULLS LAST, tag NULLS FIRST;

-- Arrays changed: grown, set to NULL, emptied, filled from NULL; new documents.
UPDATE s_doc SET tags = tags || '{c}'::text[] WHERE id = 1;
SELECT * FROM cov_imm('srf') ORDER BY st;
UPDATE s_doc SET tags = NULL, body = '{"note": 1}' WHERE id = 4;
SELECT * FROM cov_imm('srf') ORDER BY st;
UPDATE s_doc SET tags = '{}', n = 1 WHERE id = 1;
SELECT * FROM cov_imm('srf') ORDER BY st;
UPDATE s_doc SET tags = '{NULL,z}', n = 2, body = '{"items": [{"deep": true}], "attrs": {"z": 26}}' WHERE id = 2;
SELECT * FROM cov_imm('srf') ORDER BY st;
INSERT INTO s_doc VALUES (5, '{z,z,z}', -1, '{"items": ["z"], "attrs": {"z": 26}}'), (6, '{NULL}', 1, '{}');
SELECT * FROM cov_imm('srf') ORDER BY st;
SELECT cov_refresh('srf');
SELECT * FROM cov_check('srf') ORDER BY st;
SELECT id, tag FROM srf_left ORDER BY id, tag NULLS FIRST;
SELECT id, tag, k FROM srf_select ORDER BY id, k NULLS LAST, tag NULLS FIRST;
SELECT tag, n FROM srf_agg ORDER BY tag NULLS FIRST;

-- Documents deleted and re-inserted, counts changed.
DELETE FROM s_doc WHERE id IN (1, 5);
SELECT * FROM cov_imm('srf') ORDER BY st;
INSERT INTO s_doc VALUES (1, '{a,b}', 2, '{"items": [1, 2], "attrs": {"k": "v"}}');
SELECT * FROM cov_imm('srf') ORDER BY st;
UPDATE s_doc SET n = n + 1;
SELECT * FROM cov_imm('srf') ORDER BY st;
SELECT cov_refresh('srf');
SELECT * FROM cov_check('srf') ORDER BY st;
SELECT id, i FROM srf_series ORDER BY id, i;
SELECT id, key, value FROM srf_imm_each ORDER BY id, key NULLS FIRST;

------------------------------------------------------------------------------------------------
-- 6. WITH RECURSIVE (UNION: delete and rederive): reachability over a graph with cycles, a
--    delete that disconnects part of the graph, the edge put back.
------------------------------------------------------------------------------------------------
CREATE TABLE r_edge (src int, dst int, PRIMARY KEY (src, dst));
CREATE TABLE r_root (id int PRIMARY KEY);
-- 1 -> 2 -> 3 -> 1 is a cycle, 3 -> 4 -> 5, 5 -> 5 a self-loop, 6 <-> 7 a separate cycle.
INSERT INTO r_edge VALUES (1, 2), (2, 3), (3, 1), (3, 4), (4, 5), (5, 5), (6, 7), (7, 6);
INSERT INTO r_root VALUES (1), (6);
\set VERBOSITY sqlstate
SELECT pgtrickle.create_stream_table('rec_reach', 'WITH RECURSIVE reach(node) AS (SELECT 1 UNION SELECT e.dst FROM r_edge e JOIN reach r ON e.src = r.node) SELECT node FROM reach', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rec_closure', 'WITH RECURSIVE tc(a, b) AS (SELECT src, dst FROM r_edge UNION SELECT tc.a, e.dst FROM tc JOIN r_edge e ON e.src = tc.b) SELECT a, b FROM tc', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rec_count', 'WITH RECURSIVE tc(a, b) AS (SELECT src, dst FROM r_edge UNION SELECT tc.a, e.dst FROM tc JOIN r_edge e ON e.src = tc.b) SELECT a, count(*) AS reachable, bool_or(a = b) AS on_cycle FROM tc GROUP BY a', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rec_imm', 'WITH RECURSIVE reach(root, node) AS (SELECT id, id FROM r_root UNION SELECT r.root, e.dst FROM reach r JOIN r_edge e ON e.src = r.node) SELECT root, node FROM reach', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'rec\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('rec') ORDER BY st;
SELECT * FROM cov_check('rec') ORDER BY st;
SELECT node FROM rec_reach ORDER BY node;
SELECT a, reachable, on_cycle FROM rec_count ORDER BY a;

-- 5 -> 6 joins the 6 <-> 7 cycle to the rest.
INSERT INTO r_edge VALUES (5, 6);
SELECT * FROM cov_imm('rec') ORDER BY st;
SELECT cov_refresh('rec');
SELECT * FROM cov_check('rec') ORDER BY st;
SELECT node FROM rec_reach ORDER BY node;

-- Deleting 3 -> 4 disconnects 4, 5, 6 and 7 from 1.
DELETE FROM r_edge WHERE src = 3 AND dst = 4;
SELECT * FROM cov_imm('rec') ORDER BY st;
SELECT cov_refresh('rec');
SELECT * FROM cov_check('rec') ORDER BY st;
SELECT node FROM rec_reach ORDER BY node;
SELECT a, reachable, on_cycle FROM rec_count ORDER BY a;
SELECT root, node FROM rec_imm ORDER BY root, node;

-- The edge put back, the cycle 1 -> 2 -> 3 -> 1 broken, a root added and one removed.
INSERT INTO r_edge VALUES (3, 4);
SELECT * FROM cov_imm('rec') ORDER BY st;
DELETE FROM r_edge WHERE src = 2 AND dst = 3;
SELECT * FROM cov_imm('rec') ORDER BY st;
INSERT INTO r_root VALUES (4);
SELECT * FROM cov_imm('rec') ORDER BY st;
DELETE FROM r_root WHERE id = 6;
SELECT * FROM cov_imm('rec') ORDER BY st;
SELECT cov_refresh('rec');
SELECT * FROM cov_check('rec') ORDER BY st;
SELECT node FROM rec_reach ORDER BY node;
SELECT a, reachable, on_cycle FROM rec_count ORDER BY a;
SELECT root, node FROM rec_imm ORDER BY root, node;

-- Rederived: 9 is reachable from 1 through 2 and through 8; deleting 2 -> 9 over-deletes 9 (and
-- what follows it), and the path through 8 brings them back. A NULL node is a row like others.
CREATE TABLE r_link (src int, dst int);
INSERT INTO r_link VALUES (1, 2), (2, 9), (1, 8), (8, 9), (9, 10), (10, NULL), (NULL, 11);
SELECT pgtrickle.create_stream_table('recd_from1', 'WITH RECURSIVE reach(node, via) AS (SELECT 1, NULL::int UNION SELECT l.dst, CASE WHEN l.dst > 8 THEN NULL ELSE r.node END FROM reach r JOIN r_link l ON l.src = r.node) SELECT node, via FROM reach', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('recd_imm', 'WITH RECURSIVE reach(node, via) AS (SELECT 1, NULL::int UNION SELECT l.dst, CASE WHEN l.dst > 8 THEN NULL ELSE r.node END FROM reach r JOIN r_link l ON l.src = r.node) SELECT node, via FROM reach', refresh_mode => 'IMMEDIATE');
SELECT node, via FROM recd_from1 ORDER BY node, via;
DELETE FROM r_link WHERE src = 2 AND dst = 9;
SELECT * FROM cov_imm('recd') ORDER BY st;
SELECT cov_refresh('recd');
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('cov.recd_from1', 1);
SELECT * FROM cov_check('recd') ORDER BY st;
-- Now 8 -> 9 goes too: 9, 10 and the NULL node leave; an update moves 1 -> 2 to 1 -> 3.
DELETE FROM r_link WHERE src = 8;
UPDATE r_link SET dst = 3 WHERE src = 1 AND dst = 2;
SELECT * FROM cov_imm('recd') ORDER BY st;
SELECT cov_refresh('recd');
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('cov.recd_from1', 1);
SELECT * FROM cov_check('recd') ORDER BY st;
SELECT node, via FROM recd_from1 ORDER BY node, via;

-- UNION ALL (counting paths): an org chart and a bill of materials. A part used twice in an
-- assembly appears once per path, so rows repeat; deleting a manager removes the subtree's
-- rows, moving an employee moves them, and the bill's quantities multiply along the path.
CREATE TABLE r_emp (id int PRIMARY KEY, name text, manager int);
INSERT INTO r_emp VALUES (1, 'ceo', NULL), (2, 'cto', 1), (3, 'cfo', 1), (4, 'dev', 2),
  (5, 'ops', 2), (6, 'acct', 3), (7, 'intern', 4);
CREATE TABLE r_bom (assembly text, part text, qty int);
INSERT INTO r_bom VALUES ('bike', 'wheel', 2), ('bike', 'frame', 1), ('wheel', 'spoke', 32),
  ('wheel', 'hub', 1), ('hub', 'bolt', 4), ('frame', 'bolt', 4), ('bike', 'bolt', 4), ('bike', 'bolt', 4);
SELECT pgtrickle.create_stream_table('reca_org', 'WITH RECURSIVE chain(id, name, depth, top) AS (SELECT id, name, 0, id FROM r_emp WHERE manager IS NULL UNION ALL SELECT e.id, e.name, c.depth + 1, c.top FROM r_emp e JOIN chain c ON e.manager = c.id) SELECT id, name, depth, top FROM chain', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('reca_bom', 'WITH RECURSIVE need(part, qty) AS (SELECT b.part, b.qty FROM r_bom b WHERE b.assembly = ''bike'' UNION ALL SELECT b.part, n.qty * b.qty FROM need n JOIN r_bom b ON b.assembly = n.part) SELECT part, qty FROM need', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('reca_imm', 'WITH RECURSIVE need(part, qty) AS (SELECT b.part, b.qty FROM r_bom b WHERE b.assembly = ''bike'' UNION ALL SELECT b.part, n.qty * b.qty FROM need n JOIN r_bom b ON b.assembly = n.part) SELECT part, qty FROM need', refresh_mode => 'IMMEDIATE');
SELECT * FROM cov_strategy('reca') ORDER BY st;
SELECT part, qty, count(*) FROM reca_bom GROUP BY part, qty ORDER BY part, qty;
-- The cto leaves (their reports now report to nobody and start their own chart); the intern
-- moves to ops; a hub now needs 6 bolts; one of the two identical bike bolt rows goes.
DELETE FROM r_emp WHERE id = 2;
UPDATE r_emp SET manager = 5 WHERE id = 7;
UPDATE r_emp SET manager = NULL WHERE id IN (4, 5);
UPDATE r_bom SET qty = 6 WHERE assembly = 'hub';
DELETE FROM r_bom WHERE ctid = (SELECT min(ctid) FROM r_bom WHERE assembly = 'bike' AND part = 'bolt');
SELECT * FROM cov_imm('reca') ORDER BY st;
SELECT cov_refresh('reca');
SELECT * FROM cov_check('reca') ORDER BY st;
SELECT id, name, depth, top FROM reca_org ORDER BY top, depth, id;
SELECT part, qty, count(*) FROM reca_bom GROUP BY part, qty ORDER BY part, qty;
-- A new wheel type doubles the paths below wheel; then the wheel goes from the bike.
INSERT INTO r_bom VALUES ('bike', 'wheel', 1);
SELECT * FROM cov_imm('reca') ORDER BY st;
SELECT cov_refresh('reca');
SELECT * FROM cov_check('reca') ORDER BY st;
DELETE FROM r_bom WHERE assembly = 'bike' AND part = 'wheel';
SELECT * FROM cov_imm('reca') ORDER BY st;
SELECT cov_refresh('reca');
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('cov.reca_bom', 1);
SELECT * FROM cov_check('reca') ORDER BY st;
SELECT part, qty, count(*) FROM reca_bom GROUP BY part, qty ORDER BY part, qty;

------------------------------------------------------------------------------------------------
-- 7. Top-K (ORDER BY ... LIMIT; from the inner query's delta, or recomputed: with OFFSET, or
-- grouped by a key no index leads): ties, NULLs, the top row deleted, fewer rows than K.
------------------------------------------------------------------------------------------------
CREATE TABLE k_score (id int PRIMARY KEY, player text, score int);
INSERT INTO k_score VALUES (1, 'ann', 10), (2, 'bob', 30), (3, 'cy', 20), (4, 'ann', 30),
  (5, 'dee', NULL), (6, 'bob', 5);
\set VERBOSITY sqlstate
SELECT pgtrickle.create_stream_table('topk_best', 'SELECT id, player, score FROM k_score ORDER BY score DESC NULLS LAST, id LIMIT 3', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('topk_page', 'SELECT id, score FROM k_score ORDER BY score, id LIMIT 2 OFFSET 2', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- An order that can tie; only the sort column is selected, so the result is deterministic.
SELECT pgtrickle.create_stream_table('topk_tied', 'SELECT score FROM k_score ORDER BY score DESC LIMIT 3', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('topk_groups', 'SELECT player, sum(score) AS total FROM k_score GROUP BY player ORDER BY total DESC NULLS LAST, player LIMIT 2', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('topk_imm', 'SELECT id, player, score FROM k_score ORDER BY score DESC NULLS LAST, id LIMIT 2', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' AND pgt_name LIKE 'topk\_%' ORDER BY pgt_name;
SELECT * FROM cov_strategy('topk') ORDER BY st;
SELECT * FROM cov_check('topk') ORDER BY st;
SELECT id, player, score FROM topk_best ORDER BY score DESC NULLS LAST, id;

-- A new tie at the top, the top row deleted, a NULL score, a score raised past the others.
INSERT INTO k_score VALUES (7, 'eve', 30);
SELECT * FROM cov_imm('topk') ORDER BY st;
DELETE FROM k_score WHERE id = 2;
SELECT * FROM cov_imm('topk') ORDER BY st;
UPDATE k_score SET score = NULL WHERE id = 4;
SELECT * FROM cov_imm('topk') ORDER BY st;
UPDATE k_score SET score = 40 WHERE id = 6;
SELECT * FROM cov_imm('topk') ORDER BY st;
SELECT cov_refresh('topk');
SELECT * FROM cov_check('topk') ORDER BY st;
SELECT id, player, score FROM topk_best ORDER BY score DESC NULLS LAST, id;
SELECT score FROM topk_tied ORDER BY score DESC NULLS FIRST;

-- Fewer rows than K (and than the OFFSET), then rows re-inserted.
DELETE FROM k_score WHERE id <> 3;
SELECT * FROM cov_imm('topk') ORDER BY st;
SELECT cov_refresh('topk');
SELECT * FROM cov_check('topk') ORDER BY st;
SELECT id, player, score FROM topk_best ORDER BY score DESC NULLS LAST, id;
SELECT count(*) AS page_rows FROM topk_page;
INSERT INTO k_score VALUES (1, 'ann', 10), (2, 'bob', 30), (4, 'ann', 30), (5, 'dee', NULL);
SELECT * FROM cov_imm('topk') ORDER BY st;
SELECT cov_refresh('topk');
SELECT * FROM cov_check('topk') ORDER BY st;
SELECT id, player, score FROM topk_best ORDER BY score DESC NULLS LAST, id;
SELECT player, total FROM topk_groups ORDER BY total DESC NULLS LAST, player;

------------------------------------------------------------------------------------------------
-- 8. Subqueries grouped by a key another relation joins by equality (an aggregate over such a
--    subquery, TPC-H Q13's shape): the joined relation's changes reach the groups whose key
--    equals their join column, on the nullable side of a LEFT JOIN too. Customers without
--    orders (count 0), orders without a customer, NULL join columns, customers and orders
--    moving, a second equality in WHERE, a key in a window partition.
------------------------------------------------------------------------------------------------
CREATE TABLE n_cust (id int PRIMARY KEY, seg text);
CREATE TABLE n_ord (id int PRIMARY KEY, cust int, amt int, note text);
INSERT INTO n_cust SELECT g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 12) g;
INSERT INTO n_ord SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 9 + 1 END, g % 7, CASE WHEN g % 4 = 0 THEN 'special' END
FROM generate_series(1, 40) g;
\set VERBOSITY sqlstate
-- Customers per number of orders without a note (Q13).
SELECT pgtrickle.create_stream_table('nest_dist', 'SELECT n, count(*) AS customers FROM (SELECT c.id, count(o.id) AS n FROM n_cust c LEFT JOIN n_ord o ON o.cust = c.id AND o.note IS NULL GROUP BY c.id) x GROUP BY n', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- The same over an inner join with the equality in WHERE, and a sum: totals per bucket.
SELECT pgtrickle.create_stream_table('nest_inner', 'SELECT s / 10 AS bucket, count(*) AS customers, sum(s) AS total FROM (SELECT c.id, c.seg, sum(o.amt) AS s FROM n_cust c, n_ord o WHERE o.cust = c.id AND o.amt > 0 GROUP BY c.id, c.seg) x GROUP BY 1', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- A subquery grouped by the joined relation's key in a join with another table.
SELECT pgtrickle.create_stream_table('nest_join', 'SELECT c2.seg, x.n FROM n_cust c2 JOIN (SELECT c.id, count(o.id) AS n FROM n_cust c LEFT JOIN n_ord o ON c.id = o.cust GROUP BY c.id) x ON x.id = c2.id', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- A window partitioned by the customer's key over the join: each order's rank in its customer.
SELECT pgtrickle.create_stream_table('nest_win', 'SELECT o.id, rank() OVER (PARTITION BY c.id ORDER BY o.amt, o.id) AS r FROM n_cust c JOIN n_ord o ON o.cust = c.id', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('nest_imm', 'SELECT n, count(*) AS customers FROM (SELECT c.id, count(o.id) AS n FROM n_cust c LEFT JOIN n_ord o ON o.cust = c.id GROUP BY c.id) x GROUP BY n', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
SELECT * FROM cov_strategy('nest') ORDER BY st;
-- The grouped subquery's relations, each restricted to the groups its changed rows reach (so
-- that under 'auto' the query is not recomputed whole either).
BEGIN;
SET LOCAL pg_trickle.refresh_strategy = 'auto';
SELECT s.pgt_name, btrim(l) AS line
FROM pgtrickle.pgt_stream_tables s, LATERAL pgtrickle.explain_st('cov.' || s.pgt_name) e,
     LATERAL regexp_split_to_table(e.value, E'\n') l
WHERE s.pgt_name IN ('nest_dist', 'nest_inner') AND e.property = 'operator_tree'
  AND (l LIKE '%input:%' OR l LIKE 'Recomputed%' OR l LIKE 'Grouped%')
ORDER BY 1, 2;
COMMIT;
SELECT * FROM cov_check('nest') ORDER BY st;
SELECT n, customers FROM nest_dist ORDER BY n;

-- Orders moved between customers, to and from NULL, notes set and cleared, amounts changed.
UPDATE n_ord SET cust = 2 WHERE id IN (1, 10);
SELECT * FROM cov_imm('nest') ORDER BY st;
UPDATE n_ord SET cust = 11 WHERE cust IS NULL AND id < 20;
UPDATE n_ord SET cust = NULL WHERE id IN (3, 4);
UPDATE n_ord SET note = CASE WHEN note IS NULL THEN 'x' END WHERE id % 6 = 0;
UPDATE n_ord SET amt = amt + 3 WHERE id % 4 = 1;
SELECT * FROM cov_imm('nest') ORDER BY st;
SELECT cov_refresh('nest');
SELECT * FROM cov_check('nest') ORDER BY st;
SELECT n, customers FROM nest_dist ORDER BY n;

-- Customers without orders added, customers deleted (their orders stay, now without one),
-- a customer's key changed, orders inserted for a new customer and deleted.
INSERT INTO n_cust VALUES (20, 'a'), (21, 'b');
DELETE FROM n_cust WHERE id IN (2, 5);
UPDATE n_cust SET id = 30 WHERE id = 7;
INSERT INTO n_ord VALUES (100, 20, 5, NULL), (101, 20, 6, NULL), (102, 30, 1, NULL), (103, 99, 2, NULL);
DELETE FROM n_ord WHERE id IN (8, 9, 101);
SELECT * FROM cov_imm('nest') ORDER BY st;
SELECT cov_refresh('nest');
SELECT * FROM cov_check('nest') ORDER BY st;
SELECT n, customers FROM nest_dist ORDER BY n;

------------------------------------------------------------------------------------------------
-- Every stream table of every family, a last time.
------------------------------------------------------------------------------------------------
SELECT family, count(*) AS stream_tables, count(*) FILTER (WHERE mode = 'IMMEDIATE') AS immediate,
       sum(differences) AS differences
FROM (SELECT f AS family, c.* FROM unnest(ARRAY['win', 'don', 'gs', 'lat', 'srf', 'rec', 'topk', 'nest']) f,
      LATERAL cov_check(f) c) x
GROUP BY family ORDER BY family;

SET client_min_messages = warning;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov' ORDER BY pgt_name LOOP
    PERFORM pgtrickle.drop_stream_table('cov.' || r.pgt_name);
  END LOOP;
END $$;
SELECT count(*) AS left_in_cov FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'cov';
DROP SCHEMA cov CASCADE;
RESET search_path;
