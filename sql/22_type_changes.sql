-- Types changed under stream tables. Rows and groups are identified by a hash of the text of
-- their values: when that text changes without the values changing (an enum label renamed, an
-- attribute added to a composite type), the stream tables holding such values are recomputed,
-- or the next delete would not find its row again (a second group, negative counts). A rename
-- that breaks the text of a stored query (a label, type, domain or collation it spells) is
-- refused like one of a function it calls. Values that print as object names (regclass, ...)
-- are not maintained differentially: any rename changes their text.
SET client_min_messages = warning;
CREATE SCHEMA type_changes;
SET search_path = type_changes, public;

-- Each stream table of the schema against its query (0 = equal as multisets).
CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'type_changes' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;

CREATE FUNCTION refresh_all() RETURNS void LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
  FOR r IN SELECT pgt_schema || '.' || pgt_name AS name FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'type_changes' AND refresh_mode <> 'IMMEDIATE' ORDER BY pgt_id LOOP
    PERFORM pgtrickle.refresh_stream_table(r.name);
  END LOOP;
END $f$;

-- An enum label renamed: grouped, DISTINCT and keyless stream tables, DIFFERENTIAL and
-- IMMEDIATE, then rows of the renamed label deleted.
CREATE TYPE colour AS ENUM ('red', 'green');
CREATE TABLE paint (id int PRIMARY KEY, c colour NOT NULL, v int NOT NULL);
INSERT INTO paint VALUES (1, 'red', 1), (2, 'red', 5), (3, 'green', 2);
CREATE TABLE paint_log (c colour, v int);
INSERT INTO paint_log VALUES ('red', 1), ('red', 1), ('green', 2);
SELECT pgtrickle.create_stream_table('by_colour',
    'SELECT c, count(*) AS n, sum(v) AS s FROM paint GROUP BY c', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('by_colour_now',
    'SELECT c, count(*) AS n, sum(v) AS s FROM paint GROUP BY c', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('colours',
    'SELECT DISTINCT c FROM paint', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('log_copy',
    'SELECT c, v FROM paint_log', refresh_mode => 'DIFFERENTIAL');
ALTER TYPE colour RENAME VALUE 'red' TO 'crimson';
-- (ADD VALUE changes no value's text: nothing to recompute.)
ALTER TYPE colour ADD VALUE 'blue';
DELETE FROM paint WHERE id = 1;
DELETE FROM paint_log WHERE v = 1;
SELECT refresh_all();
SELECT c, n, s FROM by_colour ORDER BY c;
SELECT c, n, s FROM by_colour_now ORDER BY c;
SELECT * FROM check_all();

-- A label the query computes from the type itself (no column of the type): its text changes too.
CREATE TABLE ranks (id int PRIMARY KEY, k int NOT NULL);
INSERT INTO ranks VALUES (1, 1), (2, 1), (3, 2);
SELECT pgtrickle.create_stream_table('rank_names',
    'SELECT (enum_range(NULL::colour))[k]::text AS name, count(*) AS n FROM ranks GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL');
ALTER TYPE colour RENAME VALUE 'crimson' TO 'scarlet';
DELETE FROM ranks WHERE id = 1;
SELECT refresh_all();
SELECT name, n FROM rank_names ORDER BY name;
SELECT * FROM check_all();

-- A label a query spells: renaming it would break the query. Refused (55000) for an IMMEDIATE
-- stream table (every write to its source would fail) and while block_source_ddl is on.
SELECT pgtrickle.create_stream_table('greens',
    $$SELECT id FROM paint WHERE c = 'green'$$, refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
ALTER TYPE colour RENAME VALUE 'green' TO 'lime';
\set VERBOSITY terse
INSERT INTO paint VALUES (4, 'green', 7);
SELECT refresh_all();
SELECT * FROM check_all();

-- A composite type gains an attribute: its values print with one more field.
CREATE TYPE point2 AS (x int, y text);
CREATE TABLE spots (id int PRIMARY KEY, p point2);
INSERT INTO spots VALUES (1, '(1,a)'), (2, '(1,a)'), (3, '(2,b)');
SELECT pgtrickle.create_stream_table('by_point',
    'SELECT p, count(*) AS n FROM spots GROUP BY p', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('by_point_now',
    'SELECT p, count(*) AS n FROM spots GROUP BY p', refresh_mode => 'IMMEDIATE');
ALTER TYPE point2 ADD ATTRIBUTE z int;
DELETE FROM spots WHERE id = 1;
SELECT refresh_all();
SELECT p, n FROM by_point ORDER BY n, p::text;
SELECT * FROM check_all();

-- A table's row type used as a column's type elsewhere: ALTER TABLE ... ADD COLUMN changes how
-- those values print too.
CREATE TABLE addr (street text, n int);
CREATE TABLE people (id int PRIMARY KEY, a addr);
INSERT INTO people VALUES (1, '(x,1)'), (2, '(x,1)'), (3, '(y,2)');
SELECT pgtrickle.create_stream_table('by_addr',
    'SELECT a, count(*) AS n FROM people GROUP BY a', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('by_addr_now',
    'SELECT a, count(*) AS n FROM people GROUP BY a', refresh_mode => 'IMMEDIATE');
ALTER TABLE addr ADD COLUMN country text;
DELETE FROM people WHERE id = 1;
SELECT refresh_all();
SELECT a, n FROM by_addr ORDER BY a::text;
SELECT * FROM check_all();
-- Renaming a field of that row type a query spells ((a).street) would break it: refused for an
-- IMMEDIATE stream table; another field, or the table, may be renamed.
SELECT pgtrickle.create_stream_table('streets',
    'SELECT id, (a).street AS street FROM people', refresh_mode => 'IMMEDIATE');
\set VERBOSITY default
ALTER TABLE addr RENAME COLUMN street TO road;
\set VERBOSITY terse
ALTER TABLE addr RENAME COLUMN n TO num;
ALTER TABLE addr RENAME TO address;
INSERT INTO people VALUES (4, '(z,3,)');
SELECT refresh_all();
SELECT * FROM check_all();

-- A domain the query names, renamed: refused for IMMEDIATE; with block_source_ddl off, the
-- others go into ERROR with the reason.
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE amounts (id int PRIMARY KEY, v int);
INSERT INTO amounts VALUES (1, 1);
SELECT pgtrickle.create_stream_table('amounts_now',
    'SELECT id, v::positive AS w FROM amounts', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('amounts_later',
    'SELECT id, v::positive AS w FROM amounts', refresh_mode => 'DIFFERENTIAL');
\set VERBOSITY default
ALTER DOMAIN positive RENAME TO strictly_positive;
\set VERBOSITY terse
SELECT pgtrickle.drop_stream_table('amounts_now');
SET pg_trickle.block_source_ddl = off;
ALTER DOMAIN positive RENAME TO strictly_positive;
RESET pg_trickle.block_source_ddl;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables
WHERE pgt_name = 'amounts_later';
SELECT pgtrickle.alter_stream_table('amounts_later',
    query => 'SELECT id, v::strictly_positive AS w FROM amounts');
SELECT pgt_name, status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'amounts_later';

-- regclass values print as names, which a rename changes: not maintained differentially.
CREATE TABLE named_one (a int);
CREATE TABLE catalogued (id int PRIMARY KEY, r regclass);
INSERT INTO catalogued VALUES (1, 'named_one'), (2, 'named_one');
\set VERBOSITY default
SELECT pgtrickle.create_stream_table('by_relation',
    'SELECT r, count(*) AS n FROM catalogued GROUP BY r', refresh_mode => 'DIFFERENTIAL');
\set VERBOSITY terse
SELECT pgtrickle.create_stream_table('by_relation_auto',
    'SELECT r, count(*) AS n FROM catalogued GROUP BY r');
SELECT refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'by_relation_auto';
-- (Nor text made from one, which also follows the search_path, nor a composite holding one.)
CREATE TABLE oids (id int PRIMARY KEY, o oid);
SELECT pgtrickle.create_stream_table('relation_names',
    'SELECT o::regclass::text AS name, count(*) AS n FROM oids GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL');
CREATE TYPE tagged AS (r regclass, note text);
CREATE TABLE tags (id int PRIMARY KEY, t tagged);
SELECT pgtrickle.create_stream_table('by_tag',
    'SELECT t, count(*) AS n FROM tags GROUP BY t', refresh_mode => 'DIFFERENTIAL');
ALTER TABLE named_one RENAME TO named_two;
DELETE FROM catalogued WHERE id = 1;
SELECT refresh_all();
SELECT * FROM check_all();

-- A domain over an enum: PostgreSQL resolves no = operator for it (GROUP BY does group it), and
-- the delta compares values with =: refused, FULL under AUTO.
CREATE DOMAIN shade AS colour;
CREATE TABLE shaded (id int PRIMARY KEY, c shade);
SELECT pgtrickle.create_stream_table('by_shade',
    'SELECT c, count(*) AS n FROM shaded GROUP BY c', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('by_shade_auto',
    'SELECT c, count(*) AS n FROM shaded GROUP BY c');
INSERT INTO shaded VALUES (1, 'green'), (2, 'green');
DELETE FROM shaded WHERE id = 1;
SELECT refresh_all();
SELECT * FROM check_all();

-- DROP TYPE ... CASCADE drops the columns of that type: refused when a stream table uses one
-- (its storage's, or a source column it reads); allowed when none does.
CREATE TYPE mood AS ENUM ('ok', 'bad');
CREATE TABLE moods (id int PRIMARY KEY, m mood, v int);
INSERT INTO moods VALUES (1, 'ok', 1);
SELECT pgtrickle.create_stream_table('oks',
    $$SELECT id, v FROM moods WHERE m = 'ok'$$, refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('all_moods',
    'SELECT id, v FROM moods', refresh_mode => 'DIFFERENTIAL');
\set VERBOSITY default
DROP TYPE mood CASCADE;
\set VERBOSITY terse
SELECT pgtrickle.drop_stream_table('oks');
DROP TYPE mood CASCADE;
INSERT INTO moods VALUES (2, 2);
SELECT refresh_all();
SELECT * FROM check_all();

-- min / max over arrays of numerics: equal values can print differently ({1.0} = {1.00}), so
-- the extreme is read again from the group rather than kept.
CREATE TABLE readings (id int PRIMARY KEY, g int, a numeric[]);
INSERT INTO readings VALUES (1, 1, '{2.0}');
SELECT pgtrickle.create_stream_table('lowest',
    'SELECT g, min(a) AS m FROM readings GROUP BY g', refresh_mode => 'DIFFERENTIAL');
-- (No running state among its columns: regrouped from the group's rows.)
SELECT string_agg(attname, ', ' ORDER BY attnum) AS storage_columns FROM pg_attribute
WHERE attrelid = 'lowest'::regclass AND attnum > 0 AND NOT attisdropped;
INSERT INTO readings VALUES (2, 1, '{1.00}');
SELECT refresh_all();
SELECT * FROM check_all();

-- (Not a type change: an IMMEDIATE stream table keeps no schedule, also when alter_stream_table
-- is given one with the switch to IMMEDIATE or after it.)
SELECT pgtrickle.alter_stream_table('lowest', refresh_mode => 'IMMEDIATE', schedule => '5m');
SELECT pgtrickle.alter_stream_table('lowest', schedule => '10m');
SELECT refresh_mode, schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'lowest';
-- (A schedule given at creation is checked all the same; switched away from IMMEDIATE without
-- one, it gets '1m', or the minimum when that is longer.)
SELECT pgtrickle.create_stream_table('bad_schedule', 'SELECT id FROM readings',
    refresh_mode => 'IMMEDIATE', schedule => 'bogus!');
SET pg_trickle.min_schedule_seconds = 120;
SELECT pgtrickle.alter_stream_table('lowest', refresh_mode => 'FULL');
RESET pg_trickle.min_schedule_seconds;
SELECT refresh_mode, schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'lowest';

-- A table created OF a composite type changes with ALTER TYPE ... CASCADE, without an ALTER
-- TABLE of its own: checked as one. A column a stream table reads retyped is refused (its
-- capture would break), with the guard off the reader goes into ERROR until it gets its query
-- again, and writes to the table keep working.
CREATE TYPE row_shape AS (id int, v int, w int);
CREATE TABLE shaped OF row_shape (PRIMARY KEY (id));
INSERT INTO shaped VALUES (1, 1, 1), (2, 2, 2);
SELECT pgtrickle.create_stream_table('shaped_rows', 'SELECT id, v FROM shaped',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
ALTER TYPE row_shape ALTER ATTRIBUTE v TYPE numeric(10,2) CASCADE;
SET pg_trickle.block_source_ddl = off;
ALTER TYPE row_shape ALTER ATTRIBUTE v TYPE numeric(10,2) CASCADE;
RESET pg_trickle.block_source_ddl;
SELECT pgt_name, status, needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'shaped_rows';
INSERT INTO shaped VALUES (3, 3.5, 3);
SELECT pgtrickle.alter_stream_table('shaped_rows', query => 'SELECT id, v FROM shaped');
SELECT * FROM check_all() WHERE st = 'shaped_rows';

SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'type_changes';
DROP SCHEMA type_changes CASCADE;
