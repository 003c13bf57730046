-- Fresh extension for this file.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

-- Names: schema-qualified, quoted, upper case, spaces, dots and quotes inside quotes; and SQL
-- injection attempts, which must stay names.
CREATE TABLE src (id int PRIMARY KEY, v int);
INSERT INTO src VALUES (1, 1), (2, 2);
CREATE SCHEMA "My Schema";

SELECT pgtrickle.create_stream_table('"My Schema"."Mixed.Case Name"', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT count(*) FROM "My Schema"."Mixed.Case Name";
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;

-- Unquoted names fold to lower case, as everywhere in PostgreSQL.
SELECT pgtrickle.create_stream_table('UpperCase', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT count(*) FROM uppercase;
SELECT pgtrickle.refresh_stream_table('UPPERCASE');

-- A double quote inside a quoted name.
SELECT pgtrickle.create_stream_table('"we""ird"', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT count(*) FROM "we""ird";

-- Injection attempts are names, never SQL.
SELECT pgtrickle.create_stream_table('"x; DROP TABLE src; --"', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('"a"" ; DROP TABLE src; --"', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('x; DROP TABLE src; --', 'SELECT id FROM src', refresh_mode => 'FULL');
SELECT pgtrickle.refresh_stream_table('"x; DROP TABLE src; --"');
SELECT count(*) AS src_still_there FROM src;
SELECT relname FROM pg_class WHERE relname LIKE '%DROP TABLE%' ORDER BY 1;

-- Columns with awkward names are quoted too.
SELECT pgtrickle.create_stream_table('cols', 'SELECT id AS "Select", v AS "a""b", id + v AS "with space" FROM src', refresh_mode => 'FULL');
SELECT "Select", "a""b", "with space" FROM cols ORDER BY 1;

-- Malformed names.
SELECT pgtrickle.create_stream_table('a.b.c', 'SELECT 1 AS x');
SELECT pgtrickle.create_stream_table('"unterminated', 'SELECT 1 AS x');
SELECT pgtrickle.create_stream_table('', 'SELECT 1 AS x');
SELECT pgtrickle.create_stream_table('no_such_schema.st', 'SELECT 1 AS x');

-- An unqualified name is created in current_schema(): a stream table of that name in a later
-- schema of the search_path is another one, left alone by create, create-if-not-exists and
-- create-or-replace.
CREATE SCHEMA later;
SELECT pgtrickle.create_stream_table('later.twin', 'SELECT id FROM src', refresh_mode => 'FULL');
SET search_path = public, later;
SELECT pgtrickle.create_stream_table_if_not_exists('twin', 'SELECT id, v FROM src', refresh_mode => 'FULL');
SELECT pgtrickle.create_or_replace_stream_table('twin', 'SELECT id FROM src', refresh_mode => 'FULL');
RESET search_path;
SELECT pgt_schema, pgt_name, regexp_replace(defining_query, '\s+', ' ', 'g') AS query
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'twin' ORDER BY 1;
SELECT pgtrickle.drop_stream_table('public.twin');
SELECT pgtrickle.drop_stream_table('later.twin');
DROP SCHEMA later;

-- Drop them all by their names.
SELECT pgtrickle.drop_stream_table('"My Schema"."Mixed.Case Name"');
SELECT pgtrickle.drop_stream_table('uppercase');
SELECT pgtrickle.drop_stream_table('"we""ird"');
SELECT pgtrickle.drop_stream_table('"x; DROP TABLE src; --"');
SELECT pgtrickle.drop_stream_table('"a"" ; DROP TABLE src; --"');
SELECT pgtrickle.drop_stream_table('public.cols');
SELECT count(*) FROM pgtrickle.pgt_stream_tables;
DROP SCHEMA "My Schema";
