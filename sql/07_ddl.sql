-- DDL on sources and storage tables.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

CREATE TABLE a (id int PRIMARY KEY, v int);
CREATE TABLE b (id int PRIMARY KEY, w int);
INSERT INTO a VALUES (1, 1);
INSERT INTO b VALUES (1, 2);
SELECT pgtrickle.create_stream_table('ab', 'SELECT a.id, a.v, b.w FROM a JOIN b USING (id)', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('ab2', 'SELECT id, v + w AS s FROM ab', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('only_a', 'SELECT id FROM a', refresh_mode => 'FULL');

-- Dropping a source puts every stream table downstream of it into ERROR, with the reason.
DROP TABLE b;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;
SELECT pgtrickle.refresh_stream_table('ab');
SELECT name, status, is_populated FROM pgtrickle.pgt_status();
-- The rows they had stay readable.
SELECT * FROM ab;

-- Dropping a storage table with DROP TABLE removes its stream table from the catalog.
DROP TABLE only_a;
SELECT pgt_name FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;

-- Renaming a storage table: the stream table follows it under its new name.
ALTER TABLE ab2 RENAME TO ab_sum;
SELECT name FROM pgtrickle.pgt_status();
SELECT pgtrickle.resume_stream_table('ab_sum');
SELECT pgtrickle.refresh_stream_table('ab_sum');
SELECT name, status FROM pgtrickle.pgt_status();
SELECT pgt_name, last_error_message FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;
SELECT pgtrickle.drop_stream_table('ab_sum');

-- An IMMEDIATE stream table whose source was dropped and created again: resumed, it is
-- IMMEDIATE again, maintained by the writing statements (no change buffer).
CREATE TABLE imm_src (id int PRIMARY KEY, v int);
INSERT INTO imm_src VALUES (1, 10);
SELECT pgtrickle.create_stream_table('imm', 'SELECT id, v FROM imm_src', refresh_mode => 'IMMEDIATE');
DROP TABLE imm_src;
CREATE TABLE imm_src (id int PRIMARY KEY, v int);
INSERT INTO imm_src VALUES (2, 20);
SELECT pgtrickle.resume_stream_table('imm');
SELECT refresh_mode, status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'imm';
INSERT INTO imm_src VALUES (3, 30);
SELECT id, v FROM imm ORDER BY id;
SELECT count(*) AS change_buffers FROM pg_class
WHERE relnamespace = 'pgtrickle_changes'::regnamespace AND relname = 'changes_' || 'imm_src'::regclass::oid;
SELECT pgtrickle.drop_stream_table('imm');
DROP TABLE imm_src;

-- A view as source: dropping the view is dropping a source.
CREATE VIEW av AS SELECT id, v FROM a;
SELECT pgtrickle.create_stream_table('from_av', 'SELECT id FROM av', refresh_mode => 'FULL');
DROP VIEW av;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'from_av';

-- DROP SCHEMA ... CASCADE with stream tables and sources inside.
CREATE SCHEMA s;
CREATE TABLE s.src (id int);
SELECT pgtrickle.create_stream_table('s.st', 'SELECT id FROM s.src', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('outside', 'SELECT id FROM s.st', refresh_mode => 'FULL');
DROP SCHEMA s CASCADE;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;

-- Dropping a stream table whose storage has user views: refused without cascade.
CREATE VIEW on_ab AS SELECT * FROM ab;
SELECT pgtrickle.drop_stream_table('ab');
SELECT pgtrickle.drop_stream_table('ab', cascade => true);
SELECT count(*) FROM pg_class WHERE relname = 'on_ab';

-- ALTER TABLE on a captured source: column changes that would break change capture are refused
-- (pg_trickle.block_source_ddl); harmless DDL goes through; writes keep working either way.
CREATE TABLE cap (id int PRIMARY KEY, v int, w text);
INSERT INTO cap VALUES (1, 10, 'a'), (2, 20, 'b');
SELECT pgtrickle.create_stream_table('cap_st', 'SELECT id, v FROM cap', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
ALTER TABLE cap RENAME COLUMN v TO v2;
ALTER TABLE cap DROP COLUMN v;
ALTER TABLE cap ALTER COLUMN v TYPE bigint;
ALTER TABLE cap ADD COLUMN extra int;
ALTER TABLE cap DROP COLUMN w;
CREATE INDEX ON cap (v);
INSERT INTO cap VALUES (3, 30, 1);
SELECT pgtrickle.refresh_stream_table('cap_st');
SELECT id, v FROM cap_st ORDER BY id;
-- With the guard off the DDL is allowed: capture is rebuilt, writes keep working, and the
-- stream table, whose query names the old column, goes into ERROR until it gets a new query.
SET pg_trickle.block_source_ddl = off;
ALTER TABLE cap RENAME COLUMN v TO v2;
INSERT INTO cap VALUES (4, 40, 2);
SELECT pgtrickle.refresh_stream_table('cap_st');
SELECT pgtrickle.alter_stream_table('cap_st', query => 'SELECT id, v2 AS v FROM cap');
SELECT id, v FROM cap_st ORDER BY id;
RESET pg_trickle.block_source_ddl;

-- DROP TABLE of a stream table's storage also removes the change capture only it needed.
CREATE TABLE lonely (id int PRIMARY KEY);
SELECT pgtrickle.create_stream_table('lonely_st', 'SELECT id FROM lonely', schedule => '1h');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'lonely'::regclass AND tgname LIKE 'pg_trickle_cdc%';
DROP TABLE lonely_st;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'lonely'::regclass AND tgname LIKE 'pg_trickle_cdc%';
SELECT count(*) AS buffers FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace AND relname = 'changes_' || 'lonely'::regclass::oid;
INSERT INTO lonely VALUES (1);
DROP TABLE lonely;

-- ALTER COLUMN ... TYPE to the column's own type rewrites every value (USING) and fires no
-- trigger: the stream tables reading the column are recomputed, IMMEDIATE ones at once, the
-- others at their next refresh (FULL); those reading other columns only are left alone.
CREATE TABLE rewritten (id int PRIMARY KEY, v int, w int, x varchar(5));
INSERT INTO rewritten VALUES (1, 10, 1, 'a'), (2, 20, 2, 'b');
SELECT pgtrickle.create_stream_table('rewritten_d', 'SELECT id, v FROM rewritten', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rewritten_i', 'SELECT sum(v) AS total FROM rewritten', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('rewritten_f', 'SELECT sum(v) AS total FROM rewritten', refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rewritten_x', 'SELECT id FROM rewritten WHERE x = ''A''', refresh_mode => 'IMMEDIATE');
ALTER TABLE rewritten ALTER COLUMN v TYPE int USING v * 2;
ALTER TABLE rewritten ALTER COLUMN x TYPE varchar(5) USING upper(x);
SELECT pgt_name, needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'rewritten%' ORDER BY pgt_id;
SELECT pgtrickle.refresh_stream_table('rewritten_d');
SELECT pgtrickle.refresh_stream_table('rewritten_f');
SELECT id, v FROM rewritten_d ORDER BY id;
SELECT (SELECT total FROM rewritten_i) AS immediate_total, (SELECT total FROM rewritten_f) AS full_total;
SELECT id FROM rewritten_x;
