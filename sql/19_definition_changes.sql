-- Functions and views a stream table's query uses, changed after it was created: the stream
-- table is reinitialised (definition derived again, contents recomputed), or the change refused
-- when the query would no longer work.
SET client_min_messages = warning;
CREATE SCHEMA definition_changes;
SET search_path = definition_changes, public;

CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t SELECT i, i FROM generate_series(1, 5) i;
CREATE FUNCTION scaled(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
SELECT pgtrickle.create_stream_table('scaled_diff', 'SELECT id, scaled(v) AS s FROM t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('scaled_sum',
    'SELECT v % 2 AS odd, sum(scaled(v)) AS total FROM t GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('scaled_now', 'SELECT id, scaled(v) AS s FROM t',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('unrelated', 'SELECT id, v FROM t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');

-- Its body replaced: the stored rows were computed with the old one. The IMMEDIATE stream table
-- is recomputed at once; the others at their next refresh (FULL), which the scheduler runs
-- without waiting for their schedule. A stream table that does not call it is left alone.
CREATE OR REPLACE FUNCTION scaled(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 3';
SELECT pgt_name, needs_reinit, frontier IS NULL AS no_frontier FROM pgtrickle.pgt_stream_tables
WHERE pgt_schema = 'definition_changes' ORDER BY pgt_name;
SELECT id, s FROM scaled_now ORDER BY id;
INSERT INTO t VALUES (6, 6);
SELECT pgtrickle.refresh_stream_table('scaled_diff');
SELECT pgtrickle.refresh_stream_table('scaled_sum');
SELECT id, s FROM scaled_diff ORDER BY id;
SELECT odd, total FROM scaled_sum ORDER BY odd;
SELECT id, s FROM scaled_now ORDER BY id;
SELECT action FROM pgtrickle.get_refresh_history('scaled_diff', 1);
-- Later refreshes are differential again.
UPDATE t SET v = 10 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('scaled_sum');
SELECT odd, total FROM scaled_sum ORDER BY odd;
SELECT action FROM pgtrickle.get_refresh_history('scaled_sum', 1);

-- ALTER FUNCTION: renamed, the query no longer resolves (refused while block_source_ddl is on);
-- made VOLATILE, a differential stream table can no longer be maintained (refused too).
ALTER FUNCTION scaled(int) RENAME TO scaled2;
ALTER FUNCTION scaled(int) VOLATILE;
SELECT pgtrickle.drop_stream_table('scaled_now');
SET pg_trickle.block_source_ddl = off;
ALTER FUNCTION scaled(int) VOLATILE;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables
WHERE pgt_schema = 'definition_changes' ORDER BY pgt_name;
ALTER FUNCTION scaled(int) IMMUTABLE;
SELECT pgtrickle.alter_stream_table('scaled_diff', query => 'SELECT id, scaled(v) AS s FROM t');
SELECT pgtrickle.alter_stream_table('scaled_sum',
    query => 'SELECT v % 2 AS odd, sum(scaled(v)) AS total FROM t GROUP BY 1');
RESET pg_trickle.block_source_ddl;

-- DROP FUNCTION and CREATE FUNCTION again (a migration): the stream table follows the new one.
-- An IMMEDIATE stream table's function cannot be dropped (every write would fail).
DROP FUNCTION scaled(int);
SELECT pgtrickle.refresh_stream_table('scaled_diff');
CREATE FUNCTION scaled(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 100';
SELECT pgtrickle.refresh_stream_table('scaled_diff');
SELECT id, s FROM scaled_diff ORDER BY id;
SELECT pgtrickle.create_stream_table('scaled_now', 'SELECT id, scaled(v) AS s FROM t',
    refresh_mode => 'IMMEDIATE');
DROP FUNCTION scaled(int) CASCADE;
SELECT pgtrickle.drop_stream_table('scaled_now');
SELECT pgtrickle.drop_stream_table('scaled_sum');
SELECT pgtrickle.drop_stream_table('scaled_diff');

-- A user-defined operator: its function is followed as well.
CREATE FUNCTION near(int, int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT abs($1 - $2) <= 1';
CREATE OPERATOR ~~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = near);
SELECT pgtrickle.create_stream_table('near_three', 'SELECT id FROM t WHERE v ~~~ 3',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT functions_used FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'near_three';
CREATE OR REPLACE FUNCTION near(int, int) RETURNS boolean IMMUTABLE LANGUAGE sql
    AS 'SELECT abs($1 - $2) <= 2';
SELECT pgtrickle.refresh_stream_table('near_three');
SELECT id FROM near_three ORDER BY id;

-- A view replaced: the stream table read the view's old definition (inlined when it was
-- created). Now it reads the new one, including a table the old one did not read, whose
-- changes are captured from then on.
CREATE TABLE labels (id int PRIMARY KEY, label text);
INSERT INTO labels VALUES (1, 'one'), (2, 'two'), (6, 'six');
CREATE VIEW big AS SELECT id, v, NULL::text AS label FROM t WHERE v > 2;
CREATE VIEW big_labelled AS SELECT id, label FROM big;
SELECT pgtrickle.create_stream_table('big_rows', 'SELECT id, v, label FROM big',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('big_now', 'SELECT id, label FROM big_labelled',
    refresh_mode => 'IMMEDIATE');
CREATE OR REPLACE VIEW big AS
    SELECT t.id, t.v, l.label FROM t LEFT JOIN labels l USING (id) WHERE t.v > 4;
SELECT id, label FROM big_now ORDER BY id;
SELECT pgtrickle.refresh_stream_table('big_rows');
SELECT id, v, label FROM big_rows ORDER BY id;
SELECT s.relname FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
JOIN pg_class s ON s.oid = d.source_relid
WHERE st.pgt_name = 'big_rows' ORDER BY 1;
UPDATE labels SET label = 'SIX' WHERE id = 6;
SELECT id, label FROM big_now ORDER BY id;
SELECT pgtrickle.refresh_stream_table('big_rows');
SELECT id, v, label FROM big_rows ORDER BY id;
-- A column added to a view read with *: the stream table's query would now return another
-- column, so the change is refused (a new query is given with alter_stream_table first).
SELECT pgtrickle.create_stream_table('big_star', 'SELECT * FROM big',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE OR REPLACE VIEW big AS
    SELECT t.id, t.v, l.label, t.v * 2 AS doubled FROM t LEFT JOIN labels l USING (id)
    WHERE t.v > 4;

DROP SCHEMA definition_changes CASCADE;
