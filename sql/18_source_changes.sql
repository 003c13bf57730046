-- Sources whose shape is other than plain columns, or changes after stream tables read them:
-- stored generated columns are captured like any column.
SET client_min_messages = warning;
CREATE SCHEMA source_changes;
SET search_path = source_changes, public;

-- A STORED generated column read by a stream table (its values are in the statement's
-- transition tables, and in the change buffer).
CREATE TABLE gen (id int PRIMARY KEY, a int, g int GENERATED ALWAYS AS (a * 2) STORED);
SELECT pgtrickle.create_stream_table('gen_rows', 'SELECT id, g FROM gen',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gen_sums',
    'SELECT g % 3 AS k, sum(g) AS total FROM gen WHERE g > 2 GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gen_now', 'SELECT id, g FROM gen WHERE g > 2',
    refresh_mode => 'IMMEDIATE');
INSERT INTO gen (id, a) VALUES (1, 10), (2, 3), (3, 1);
UPDATE gen SET a = a + 1 WHERE id = 1;
DELETE FROM gen WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('gen_rows');
SELECT pgtrickle.refresh_stream_table('gen_sums');
SELECT id, g FROM gen_rows ORDER BY id;
SELECT k, total FROM gen_sums ORDER BY k;
SELECT id, g FROM gen_now ORDER BY id;

-- A primary key added later on a column no stream table reads: the rows are identified by it
-- from then on, so its change capture is rebuilt with it (and the next refresh is FULL).
CREATE TABLE late_key (id int, k int NOT NULL, v int);
INSERT INTO late_key SELECT i, 100 + i, i FROM generate_series(1, 100) i;
SELECT pgtrickle.create_stream_table('late_key_rows', 'SELECT id, v FROM late_key',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('late_key_sums', 'SELECT sum(v) AS s FROM late_key',
    refresh_mode => 'IMMEDIATE');
ALTER TABLE late_key ADD PRIMARY KEY (k);
-- (The IMMEDIATE reader reads the statements' own rows, not the rebuilt capture: nothing to
-- reinitialise.)
SELECT pgt_name, needs_reinit FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'late_key%'
ORDER BY 1;
UPDATE late_key SET v = 0 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('late_key_rows');
SELECT action FROM pgtrickle.get_refresh_history('late_key_rows', 1);
UPDATE late_key SET v = -1 WHERE id = 2;
DELETE FROM late_key WHERE id = 3;
SELECT pgtrickle.refresh_stream_table('late_key_rows');
SELECT action FROM pgtrickle.get_refresh_history('late_key_rows', 1);
SELECT id, v FROM late_key_rows WHERE id <= 6 ORDER BY id;
SELECT count(*) AS differing FROM ((SELECT id, v FROM late_key_rows EXCEPT ALL SELECT id, v FROM late_key) UNION ALL (SELECT id, v FROM late_key EXCEPT ALL SELECT id, v FROM late_key_rows)) d;
SELECT s = (SELECT sum(v) FROM late_key) AS sums_equal FROM late_key_sums;
-- ... and when the key moves to another such column.
ALTER TABLE late_key ADD COLUMN k2 int;
UPDATE late_key SET k2 = k + 1000;
ALTER TABLE late_key DROP CONSTRAINT late_key_pkey, ALTER k2 SET NOT NULL, ADD PRIMARY KEY (k2);
UPDATE late_key SET v = 7 WHERE id = 4;
SELECT pgtrickle.refresh_stream_table('late_key_rows');
SELECT action FROM pgtrickle.get_refresh_history('late_key_rows', 1);
UPDATE late_key SET v = 8 WHERE id = 5;
SELECT pgtrickle.refresh_stream_table('late_key_rows');
SELECT action FROM pgtrickle.get_refresh_history('late_key_rows', 1);
SELECT id, v FROM late_key_rows WHERE id <= 6 ORDER BY id;
SELECT count(*) AS differing FROM ((SELECT id, v FROM late_key_rows EXCEPT ALL SELECT id, v FROM late_key) UNION ALL (SELECT id, v FROM late_key EXCEPT ALL SELECT id, v FROM late_key_rows)) d;

-- DDL after which a stream table's query no longer runs, or returns other types: refused (an
-- IMMEDIATE stream table's query runs in every write to the source, which would fail).
SET client_min_messages = notice;
CREATE TABLE acct (id int PRIMARY KEY, a int, amt numeric(10,2));
INSERT INTO acct VALUES (1, 1, 1.25);
SELECT pgtrickle.create_stream_table('acct_now', 'SELECT id, a, amt FROM acct',
    refresh_mode => 'IMMEDIATE');
ALTER TABLE acct RENAME COLUMN a TO a2;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
ALTER TABLE acct RENAME TO acct2;
ALTER TABLE acct ALTER COLUMN amt TYPE numeric(12,4);
SET pg_trickle.block_source_ddl = off;
ALTER TABLE acct RENAME COLUMN a TO a2;
RESET pg_trickle.block_source_ddl;
-- Changes its query does not see pass, and writes go on.
ALTER TABLE acct ADD COLUMN note text;
ALTER TABLE acct ALTER COLUMN note TYPE varchar(20);
INSERT INTO acct VALUES (2, 2, 2.5, 'x');
SELECT id, a, amt FROM acct_now ORDER BY id;
-- The same for a DIFFERENTIAL stream table while block_source_ddl is on: renaming its source
-- (which its query names).
SELECT pgtrickle.create_stream_table('acct_later', 'SELECT id, amt FROM acct',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.drop_stream_table('acct_now');
ALTER TABLE acct RENAME TO acct2;
ALTER TABLE acct SET SCHEMA public;
-- With block_source_ddl off it is allowed, and the stream table goes into ERROR until it is
-- given its query again (a retyped column: its rows would be rounded into numeric(10,2)).
SET pg_trickle.block_source_ddl = off;
ALTER TABLE acct ALTER COLUMN amt TYPE numeric(12,4);
RESET pg_trickle.block_source_ddl;
UPDATE acct SET amt = 1.2345 WHERE id = 1;
SELECT status, last_error_message FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'acct_later';
SELECT pgtrickle.alter_stream_table('acct_later', query => 'SELECT id, amt FROM acct');
SELECT id, amt FROM acct_later ORDER BY id;
-- A column added to the storage table by hand, and a stream table already in ERROR, hold up
-- no DDL on the sources.
ALTER TABLE acct_later ADD COLUMN remark text;
ALTER TABLE acct ADD COLUMN zz int;
CREATE TABLE side (id int PRIMARY KEY, c int);
SELECT pgtrickle.create_stream_table('acct_side', 'SELECT acct.id, side.c FROM acct JOIN side USING (id)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SET pg_trickle.block_source_ddl = off;
ALTER TABLE side RENAME COLUMN c TO c2;
RESET pg_trickle.block_source_ddl;
ALTER TABLE acct ADD COLUMN zz2 int;
SELECT pgt_name, status FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'acct%' ORDER BY 1;
-- A source of a DIFFERENTIAL or IMMEDIATE stream table may not become part of an inheritance
-- tree: writes through the parent would bypass its change capture. (FULL ones may.)
CREATE TABLE plain (id int PRIMARY KEY, v int);
INSERT INTO plain VALUES (1, 1);
SELECT pgtrickle.create_stream_table('plain_d', 'SELECT id, v FROM plain',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('plain_i', 'SELECT id, v FROM plain',
    refresh_mode => 'IMMEDIATE');
CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id);
ALTER TABLE parted ATTACH PARTITION plain FOR VALUES FROM (1) TO (100);
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
CREATE TABLE plain_child () INHERITS (plain);
CREATE TABLE other_parent (id int, v int);
ALTER TABLE plain INHERIT other_parent;
SELECT pgtrickle.drop_stream_table('plain_i');
SELECT pgtrickle.alter_stream_table('plain_d', refresh_mode => 'FULL');
ALTER TABLE parted ATTACH PARTITION plain FOR VALUES FROM (1) TO (100);
INSERT INTO parted VALUES (2, 2);
SELECT pgtrickle.refresh_stream_table('plain_d');
SELECT id, v FROM plain_d ORDER BY id;
-- Sources that cannot be captured: a system catalog table is read FULL only (no trigger may be
-- created on it); pg_trickle's own tables are no sources at all, and its schemas hold no
-- stream tables.
SELECT pgtrickle.create_stream_table('catalog_rels',
    'SELECT count(*) AS n FROM pg_catalog.pg_class WHERE relname = ''acct''',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('catalog_rels',
    'SELECT count(*) AS n FROM pg_catalog.pg_class WHERE relname = ''acct''',
    refresh_mode => 'FULL', schedule => '1h');
SELECT n FROM catalog_rels;
SELECT pgtrickle.create_stream_table('own_catalog', 'SELECT pgt_id FROM pgtrickle.pgt_stream_tables',
    refresh_mode => 'FULL', schedule => '1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('pgtrickle_changes.mine', 'SELECT id FROM acct',
    refresh_mode => 'FULL', schedule => '1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
-- A fraction too small for a normal double is stored and read back like any other.
SELECT pgtrickle.alter_stream_table('acct_later', max_delta_fraction => 1e-310);
SELECT pgtrickle.refresh_stream_table('acct_later');
SELECT max_delta_fraction > 0 AS stored FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'acct_later';
SELECT pgtrickle.alter_stream_table('acct_later', max_delta_fraction => 0.5);
-- An owner who may no longer read a source: the differential refresh fails with 42501, as a
-- FULL one does (it reads change buffers, not the source, so nothing else would check).
CREATE ROLE pgt_src_owner;
GRANT USAGE ON SCHEMA source_changes TO pgt_src_owner;
GRANT CREATE ON SCHEMA source_changes TO pgt_src_owner;
CREATE TABLE guarded (id int PRIMARY KEY, v int);
GRANT SELECT ON guarded TO pgt_src_owner;
SET ROLE pgt_src_owner;
SELECT pgtrickle.create_stream_table('guarded_rows', 'SELECT id, v FROM guarded',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
RESET ROLE;
REVOKE SELECT ON guarded FROM pgt_src_owner;
INSERT INTO guarded VALUES (1, 1);
SELECT pgtrickle.refresh_stream_table('guarded_rows');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_seen FROM guarded_rows;
GRANT SELECT (id, v) ON guarded TO pgt_src_owner;
SELECT pgtrickle.refresh_stream_table('guarded_rows');
SELECT count(*) AS rows_seen FROM guarded_rows;
SET client_min_messages = warning;
SELECT pgtrickle.drop_stream_table('guarded_rows');
REVOKE ALL ON guarded FROM pgt_src_owner;
REVOKE ALL ON SCHEMA source_changes FROM pgt_src_owner;
DROP ROLE pgt_src_owner;
-- explain_st of a stream table whose source was dropped: what the catalog knows, and why the
-- query no longer analyses (it failed with 42P01 as a whole).
CREATE TABLE gone (id int PRIMARY KEY, v int);
SELECT pgtrickle.create_stream_table('gone_rows', 'SELECT id, v FROM gone',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
DROP TABLE gone;
SELECT property, value FROM pgtrickle.explain_st('gone_rows')
WHERE property IN ('status', 'last_error_message', 'analysis_error') ORDER BY property;
-- A stream table read by another gets new columns (its storage table is rebuilt): the reader
-- keeps change capture on the new table, refreshes FULL once, then differentially again.
CREATE TABLE base (id int PRIMARY KEY, v int);
INSERT INTO base SELECT g, g FROM generate_series(1, 10) g;
SELECT pgtrickle.create_stream_table('upper_st', 'SELECT id, v FROM base', schedule => '1h');
SELECT pgtrickle.create_stream_table('lower_st', 'SELECT sum(v) AS s FROM upper_st',
    schedule => '1h');
SELECT pgtrickle.alter_stream_table('upper_st', query => 'SELECT id, v, v * 2 AS w FROM base');
SELECT count(*) AS capture_triggers FROM pg_trigger
WHERE tgrelid = 'upper_st'::regclass AND tgname LIKE 'pg_trickle_cdc%';
SELECT pgtrickle.refresh_stream_table('lower_st');
INSERT INTO base VALUES (11, 11);
SELECT pgtrickle.refresh_stream_table('upper_st');
SELECT pgtrickle.refresh_stream_table('lower_st');
SELECT pgtrickle.refresh_stream_table('lower_st');
SELECT action FROM pgtrickle.get_refresh_history('lower_st', 3) ORDER BY start_time;
SELECT s = (SELECT sum(v) FROM base) AS equal FROM lower_st;
SELECT pgtrickle.drop_stream_table('lower_st');
-- An inheritance child is no DIFFERENTIAL source either (a statement on its parent changes its
-- rows without its triggers).
CREATE TABLE kin_parent (id int, v int);
CREATE TABLE kin_child () INHERITS (kin_parent);
SELECT pgtrickle.create_stream_table('kin_rows', 'SELECT id, v FROM kin_child',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
-- A stream table read by an IMMEDIATE one loses a column the reader reads: refused, as for a
-- table (the storage is rebuilt by alter_stream_table, which is pg_trickle's own DDL).
CREATE TABLE feed (id int PRIMARY KEY, a int, b int);
SELECT pgtrickle.create_stream_table('feed_up', 'SELECT id, a, b FROM feed', schedule => '1h');
SELECT pgtrickle.create_stream_table('feed_now', 'SELECT id, b FROM feed_up',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.alter_stream_table('feed_up', query => 'SELECT id, a FROM feed');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
-- An IMMEDIATE stream table in ERROR is not maintained, and does not hold its source's DDL
-- back; resuming it fails while its query does not run.
SELECT pgtrickle.alter_stream_table('feed_now', status => 'ERROR');
ALTER TABLE feed_up RENAME COLUMN b TO b2;
\set VERBOSITY terse
SELECT pgtrickle.resume_stream_table('feed_now');
\set VERBOSITY default
SELECT status FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'feed_now';
SELECT pgtrickle.drop_stream_table('feed_now');
-- A user-defined STABLE function may read tables that are not sources: a WARNING says so for
-- the modes that follow the sources' changes (not for FULL).
SET client_min_messages = notice;
CREATE TABLE allowed_groups (g int PRIMARY KEY);
CREATE FUNCTION group_allowed(int) RETURNS bool LANGUAGE sql STABLE
    AS 'SELECT EXISTS (SELECT 1 FROM source_changes.allowed_groups WHERE g = $1)';
SELECT pgtrickle.create_stream_table('allowed_rows', 'SELECT id, v FROM base WHERE group_allowed(v)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('allowed_full', 'SELECT id, v FROM base WHERE group_allowed(v)',
    refresh_mode => 'FULL', schedule => '1h');
-- Refreshes pin search_path: a function naming a table unqualified fails at creation, with a
-- hint saying why.
CREATE FUNCTION group_allowed_unqualified(int) RETURNS bool LANGUAGE sql STABLE
    AS 'SELECT EXISTS (SELECT 1 FROM allowed_groups WHERE g = $1)';
\set SHOW_CONTEXT never
SELECT pgtrickle.create_stream_table('unqualified_rows',
    'SELECT id, v FROM base WHERE group_allowed_unqualified(v)',
    refresh_mode => 'FULL', schedule => '1h');
\set SHOW_CONTEXT errors
SELECT count(*) AS left_behind FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'unqualified_rows';
SET client_min_messages = warning;

SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'source_changes' ORDER BY pgt_id;
DROP SCHEMA source_changes CASCADE;
