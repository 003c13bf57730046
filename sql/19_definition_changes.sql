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


-- Reinitialising resolves the query's names under the search_path it was given with, not the
-- one of the session changing the function: here another t and scaled() are first on the path.
CREATE SCHEMA definition_shadow;
CREATE TABLE definition_shadow.t (id int PRIMARY KEY, v int);
INSERT INTO definition_shadow.t VALUES (100, 100);
CREATE FUNCTION definition_shadow.scaled(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT -1';
CREATE OR REPLACE FUNCTION scaled(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
SELECT pgtrickle.create_stream_table('scaled_here', 'SELECT id, scaled(v) AS s FROM t',
    refresh_mode => 'IMMEDIATE');
SET search_path = definition_shadow, definition_changes, public;
CREATE OR REPLACE FUNCTION definition_changes.scaled(int) RETURNS int IMMUTABLE LANGUAGE sql
    AS 'SELECT $1 * 5';
SET search_path = definition_changes, public;
SELECT id, s FROM scaled_here ORDER BY id;

-- One overload renamed: the query now resolves to another (and is recomputed with it).
CREATE FUNCTION scaled(bigint) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT -7';
ALTER FUNCTION scaled(int) RENAME TO scaled_int;
SELECT id, s FROM scaled_here ORDER BY id;
SELECT pgtrickle.drop_stream_table('scaled_here');

-- A function dropped under a DIFFERENTIAL stream table does not hold up ALTER FUNCTION on others.
CREATE FUNCTION vanishing(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1';
SELECT pgtrickle.create_stream_table('vanishing_rows', 'SELECT id, vanishing(v) AS x FROM t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
DROP FUNCTION vanishing(int);
CREATE FUNCTION bystander(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
ALTER FUNCTION bystander(int) IMMUTABLE;
SELECT pgtrickle.drop_stream_table('vanishing_rows');

-- A schema holding a function an IMMEDIATE stream table calls cannot be renamed under it.
CREATE SCHEMA definition_funcs;
CREATE FUNCTION definition_funcs.plus(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 1';
SELECT pgtrickle.create_stream_table('plus_now', 'SELECT id, definition_funcs.plus(v) AS p FROM t',
    refresh_mode => 'IMMEDIATE');
ALTER SCHEMA definition_funcs RENAME TO definition_funcs2;

-- A user-defined aggregate: its state function replaced recomputes the stream table.
CREATE FUNCTION add_twice(bigint, int) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS 'SELECT $1 + 2 * $2';
CREATE AGGREGATE twice_sum(int) (SFUNC = add_twice, STYPE = bigint, INITCOND = '0');
SELECT pgtrickle.create_stream_table('twice_now', 'SELECT v % 2 AS odd, twice_sum(v) AS t FROM t GROUP BY 1',
    refresh_mode => 'IMMEDIATE');
CREATE OR REPLACE FUNCTION add_twice(bigint, int) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS 'SELECT $1 + 3 * $2';
SELECT odd, t FROM twice_now ORDER BY odd;
SELECT v % 2 AS odd, twice_sum(v) FROM t GROUP BY 1 ORDER BY 1;

-- Someone else's function under an IMMEDIATE stream table: recomputed with its owner's rights
-- (the role replacing the function may not even reach the stream table's schema); a suspended
-- one stays suspended.
CREATE ROLE pgt_fn_owner;
CREATE SCHEMA definition_lib AUTHORIZATION pgt_fn_owner;
SET ROLE pgt_fn_owner;
CREATE FUNCTION definition_lib.tag(int) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT ''a'' || $1';
RESET ROLE;
SELECT pgtrickle.create_stream_table('tagged_now', 'SELECT id, definition_lib.tag(v) AS tag FROM t',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.alter_stream_table('tagged_now', status => 'SUSPENDED');
SET ROLE pgt_fn_owner;
CREATE OR REPLACE FUNCTION definition_lib.tag(int) RETURNS text IMMUTABLE LANGUAGE sql
    AS 'SELECT ''b'' || $1';
RESET ROLE;
SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'tagged_now';
SELECT id, tag FROM tagged_now ORDER BY id;
SELECT pgtrickle.drop_stream_table('tagged_now');
DROP SCHEMA definition_lib CASCADE;
DROP ROLE pgt_fn_owner;

-- ALTER ROUTINE is ALTER FUNCTION by another name.
CREATE FUNCTION routine_f(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
SELECT pgtrickle.create_stream_table('routine_now', 'SELECT id, routine_f(v) AS r FROM t',
    refresh_mode => 'IMMEDIATE');
ALTER ROUTINE routine_f(int) RENAME TO routine_g;
-- Nor can DDL that reinitialises an IMMEDIATE stream table run inside a statement writing to its
-- sources (the statement's rows would be counted twice).
CREATE FUNCTION set_routine(k int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE FUNCTION routine_f(int) RETURNS int IMMUTABLE LANGUAGE sql AS %L',
                   'SELECT $1 * ' || k);
    RETURN k;
END $$;
WITH ins AS (INSERT INTO t VALUES (20, 20) RETURNING v) SELECT set_routine(max(v)) FROM ins;
SELECT set_routine(3);
SELECT id, r FROM routine_now ORDER BY id;
SELECT pgtrickle.drop_stream_table('routine_now');

-- A view named by a stream table's query cannot be renamed under it (reinitialising derives
-- the stream table from that query).
CREATE VIEW small AS SELECT id, v FROM t WHERE v < 4;
SELECT pgtrickle.create_stream_table('small_rows', 'SELECT id, v FROM small',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
ALTER VIEW small RENAME TO tiny;
SELECT pgtrickle.drop_stream_table('small_rows');

-- Several functions dropped and created again in one transaction: the stream table waits for
-- the last one, then follows all of them.
CREATE FUNCTION one(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 1';
CREATE FUNCTION two(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 2';
SELECT pgtrickle.create_stream_table('one_two', 'SELECT id, one(v) AS a, two(v) AS b FROM t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
BEGIN;
DROP FUNCTION one(int);
DROP FUNCTION two(int);
CREATE FUNCTION one(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 10';
CREATE FUNCTION two(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 20';
COMMIT;
SELECT pgtrickle.refresh_stream_table('one_two');
SELECT id, a, b FROM one_two WHERE id < 3 ORDER BY id;
SELECT status, needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'one_two';

-- A column a stream table no longer reads (given a query without it) can be dropped from its
-- source: only capture is rebuilt (the next refresh is FULL).
CREATE TABLE wide (id int PRIMARY KEY, a int, b int);
INSERT INTO wide VALUES (1, 1, 1), (2, 2, 2);
SELECT pgtrickle.create_stream_table('wide_rows', 'SELECT id, a, b FROM wide',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.alter_stream_table('wide_rows', query => 'SELECT id, a FROM wide');
ALTER TABLE wide DROP COLUMN b;
INSERT INTO wide VALUES (3, 3);
SELECT pgtrickle.refresh_stream_table('wide_rows');
SELECT id, a FROM wide_rows ORDER BY id;
-- One it still reads cannot.
ALTER TABLE wide DROP COLUMN a;
SELECT pgtrickle.drop_stream_table('wide_rows');

-- The catalog follows renames of storage tables, sources and their schemas (a restore finds
-- them by these names).
CREATE SCHEMA definition_moving;
CREATE TABLE definition_moving.src (id int PRIMARY KEY, v int);
SELECT pgtrickle.create_stream_table('definition_moving.src_rows',
    'SELECT id, v FROM definition_moving.src', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SET pg_trickle.block_source_ddl = off;
ALTER SCHEMA definition_moving RENAME TO definition_moved;
ALTER TABLE definition_moved.src_rows RENAME TO src_copy;
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'src_copy';
SELECT d.source_stable_name FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st USING (pgt_id) WHERE st.pgt_name = 'src_copy';
RESET pg_trickle.block_source_ddl;
SELECT pgtrickle.drop_stream_table('definition_moved.src_copy');
DROP SCHEMA definition_moved CASCADE;

-- A stream table suspended by the failures of a function's absence (DROP FUNCTION, a few
-- scheduler ticks, CREATE FUNCTION) is ACTIVE again once the function is back.
CREATE FUNCTION back(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 1';
SELECT pgtrickle.create_stream_table('back_rows', 'SELECT id, back(v) AS b FROM t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
DROP FUNCTION back(int);
UPDATE pgtrickle.pgt_stream_tables SET status = 'SUSPENDED', consecutive_errors = 3,
    last_error_message = 'function back(integer) does not exist' WHERE pgt_name = 'back_rows';
CREATE FUNCTION back(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 + 2';
SELECT status, consecutive_errors, last_error_message FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'back_rows';
SELECT pgtrickle.drop_stream_table('back_rows');

-- A stream table given another owner: that role reads its sources' change buffers from its next
-- refresh on (granted then; REASSIGN OWNED alike).
CREATE ROLE pgt_new_owner;
GRANT USAGE ON SCHEMA definition_changes TO pgt_new_owner;
GRANT SELECT ON t TO pgt_new_owner;
SELECT pgtrickle.create_stream_table('handed_over', 'SELECT v % 3 AS k, count(*) AS n FROM t GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
ALTER TABLE handed_over OWNER TO pgt_new_owner;
INSERT INTO t VALUES (30, 30);
SELECT pgtrickle.refresh_stream_table('handed_over');
SELECT action FROM pgtrickle.get_refresh_history('handed_over', 1);
SELECT pgtrickle.drop_stream_table('handed_over');
REVOKE ALL ON t FROM pgt_new_owner;
REVOKE ALL ON SCHEMA definition_changes FROM pgt_new_owner;
DROP ROLE pgt_new_owner;

-- restore_stream_tables() leaves stream tables in ERROR for reasons of their own alone, also
-- when a table of their dropped source's name exists again.
CREATE TABLE gone_src (id int PRIMARY KEY, x int);
SELECT pgtrickle.create_stream_table('gone_now', 'SELECT x, count(*) AS c FROM gone_src GROUP BY x',
    refresh_mode => 'IMMEDIATE');
DROP TABLE gone_src;
CREATE TABLE gone_src (note text);
SELECT pgtrickle.restore_stream_tables();
INSERT INTO gone_src VALUES ('unrelated');
ALTER TABLE gone_src RENAME TO gone_src2;
SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'gone_now';
SELECT count(*) AS tied_to_the_new_table FROM pgtrickle.pgt_dependencies
WHERE source_relid = 'gone_src2'::regclass;
SELECT pgtrickle.drop_stream_table('gone_now');

-- Privileges changed: an IMMEDIATE stream table reads its sources' changes from the statement's
-- transition tables, which no privilege guards; its owner must still be allowed to read the
-- columns it uses, or the writes that would maintain it fail (as its query would).
CREATE ROLE pgt_def_owner;
GRANT USAGE, CREATE ON SCHEMA definition_changes TO pgt_def_owner;
CREATE TABLE guarded (id int PRIMARY KEY, v int, secret text);
GRANT SELECT ON guarded TO pgt_def_owner;
-- (Its maintenance runs in every write to the table, as triggers would: it needs TRIGGER too.)
SET ROLE pgt_def_owner;
SELECT pgtrickle.create_stream_table('guarded_now', 'SELECT id, v FROM guarded',
    refresh_mode => 'IMMEDIATE');
RESET ROLE;
GRANT TRIGGER ON guarded TO pgt_def_owner;
SET ROLE pgt_def_owner;
SELECT pgtrickle.create_stream_table('guarded_now', 'SELECT id, v FROM guarded',
    refresh_mode => 'IMMEDIATE');
RESET ROLE;
INSERT INTO guarded VALUES (1, 1, 'a');
REVOKE SELECT ON guarded FROM pgt_def_owner;
INSERT INTO guarded VALUES (2, 2, 'b');
GRANT SELECT (id, secret) ON guarded TO pgt_def_owner;
INSERT INTO guarded VALUES (3, 3, 'c');
GRANT SELECT (v) ON guarded TO pgt_def_owner;
INSERT INTO guarded VALUES (4, 4, 'd');
SELECT id, v FROM guarded_now ORDER BY id;
SELECT pgtrickle.drop_stream_table('guarded_now');

DROP SCHEMA definition_changes CASCADE;
DROP SCHEMA definition_shadow CASCADE;
DROP SCHEMA definition_funcs CASCADE;
DROP ROLE pgt_def_owner;
