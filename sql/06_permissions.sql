-- Privileges: creating needs SELECT on every source; altering, refreshing and dropping need
-- ownership of the stream table; refreshes run with the owner's rights.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
DROP ROLE IF EXISTS pgt_alice;
DROP ROLE IF EXISTS pgt_bob;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

CREATE ROLE pgt_alice;
CREATE ROLE pgt_bob;
CREATE SCHEMA perm AUTHORIZATION pgt_alice;
GRANT USAGE, CREATE ON SCHEMA perm TO pgt_bob;
CREATE TABLE perm.secret (id int PRIMARY KEY, v int);
CREATE TABLE perm.open (id int PRIMARY KEY, v int);
INSERT INTO perm.secret VALUES (1, 1);
INSERT INTO perm.open VALUES (1, 1), (2, 2);
GRANT SELECT ON perm.open TO pgt_alice, pgt_bob;
GRANT INSERT ON perm.open TO pgt_alice;

-- Alice may not read perm.secret, so she may not build a stream table over it.
SET ROLE pgt_alice;
SELECT pgtrickle.create_stream_table('perm.leak', 'SELECT id, v FROM perm.secret', refresh_mode => 'FULL', schedule => '1h');
SELECT count(*) FROM pgtrickle.pgt_stream_tables;
-- Over perm.open she may; the storage table is hers.
SELECT pgtrickle.create_stream_table('perm.alice_st', 'SELECT id, v FROM perm.open', refresh_mode => 'FULL', schedule => '1h');
SELECT relowner::regrole FROM pg_class WHERE oid = 'perm.alice_st'::regclass;
-- Writing the catalog directly is not possible for her.
UPDATE pgtrickle.pgt_stream_tables SET status = 'ERROR';
RESET ROLE;

-- Bob does not own alice_st: no alter, refresh, drop or resume.
SET ROLE pgt_bob;
SELECT pgtrickle.alter_stream_table('perm.alice_st', schedule => '5m');
SELECT pgtrickle.refresh_stream_table('perm.alice_st');
SELECT pgtrickle.drop_stream_table('perm.alice_st');
SELECT pgtrickle.resume_stream_table('perm.alice_st');
-- Nor can he write into it.
INSERT INTO perm.alice_st VALUES (5, 5, 5);
RESET ROLE;

-- Alice can do all of it.
SET ROLE pgt_alice;
INSERT INTO perm.open VALUES (3, 3);
SELECT pgtrickle.refresh_stream_table('perm.alice_st');
SELECT count(*) FROM perm.alice_st;
SELECT pgtrickle.alter_stream_table('perm.alice_st', schedule => '5m');
RESET ROLE;

-- Refreshes run as the owner: when alice loses SELECT on the source, even a superuser's
-- refresh of her stream table fails.
REVOKE SELECT ON perm.open FROM pgt_alice;
INSERT INTO perm.open VALUES (4, 4);
SELECT pgtrickle.refresh_stream_table('perm.alice_st');
GRANT SELECT ON perm.open TO pgt_alice;
SELECT pgtrickle.refresh_stream_table('perm.alice_st');

-- Writers need no privilege on the change buffers, for a TRUNCATE (its marker) either.
GRANT TRUNCATE ON perm.open TO pgt_alice;
SET ROLE pgt_alice;
TRUNCATE perm.open;
INSERT INTO perm.open VALUES (5, 5);
SELECT pgtrickle.refresh_stream_table('perm.alice_st');
SELECT id, v FROM perm.alice_st ORDER BY id;
RESET ROLE;

SET ROLE pgt_alice;
SELECT pgtrickle.drop_stream_table('perm.alice_st');
RESET ROLE;
SELECT count(*) FROM pgtrickle.pgt_stream_tables;

DROP SCHEMA perm CASCADE;
DROP ROLE pgt_alice;
DROP ROLE pgt_bob;
