-- Trimming of change buffers: rows go once every DIFFERENTIAL reader of the source has
-- consumed them. A FULL stream table reads a buffer only to tell whether anything changed, so
-- it does not hold the trimming back; after a trim past what it had seen, its next refresh is
-- FULL, not NO_DATA. A source only FULL stream tables read is trimmed as far as all of them have
-- seen.
SET client_min_messages = notice;
CREATE SCHEMA trimming;
SET search_path = trimming, public;

CREATE TABLE src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO src SELECT g, g FROM generate_series(1, 10) g;
SELECT pgtrickle.create_stream_table('src_full', 'SELECT id, v FROM src',
    refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('src_diff', 'SELECT id, v FROM src',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE FUNCTION buffered(regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM pgtrickle_changes.%I', 'changes_' || $1::oid) INTO n;
    RETURN n;
END $$;

-- The DIFFERENTIAL reader refreshes: the buffer is emptied although src_full has not seen
-- the changes.
INSERT INTO src SELECT g, g FROM generate_series(11, 20) g;
SELECT buffered('src');
SELECT pgtrickle.refresh_stream_table('src_diff');
SELECT buffered('src');

-- src_full learns that changes it had not seen were trimmed: FULL, and right.
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT action FROM pgtrickle.get_refresh_history('src_full', 1);
SELECT count(*) AS rows, sum(v) AS total FROM src_full;
-- Nothing changed since: NO_DATA.
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT action FROM pgtrickle.get_refresh_history('src_full', 1);

-- A change both have to see: src_full refreshes first (the buffer keeps the change for
-- src_diff), then src_diff, which empties it.
UPDATE src SET v = 0 WHERE id = 3;
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT action FROM pgtrickle.get_refresh_history('src_full', 1);
SELECT buffered('src');
SELECT pgtrickle.refresh_stream_table('src_diff');
SELECT action FROM pgtrickle.get_refresh_history('src_diff', 1);
SELECT buffered('src');
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT action FROM pgtrickle.get_refresh_history('src_full', 1);

-- A switch to DIFFERENTIAL: until it commits, other refreshes still see the stream table as
-- FULL and do not wait for it. Its frontier says so (full_reader), also after refreshes in the
-- same transaction, and its next refresh checks that nothing it needs was trimmed meanwhile.
CREATE FUNCTION marked(name) RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce((frontier->>'full_reader')::boolean, false)
    FROM pgtrickle.pgt_stream_tables WHERE pgt_name = $1 $$;
SELECT marked('src_full') AS full_mode, marked('src_diff') AS differential;
SELECT pgtrickle.alter_stream_table('src_full', refresh_mode => 'DIFFERENTIAL');
SELECT marked('src_full');
UPDATE src SET v = v + 1 WHERE id = 4;
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT action FROM pgtrickle.get_refresh_history('src_full', 1);
SELECT marked('src_full');
BEGIN;
SELECT pgtrickle.alter_stream_table('src_full', refresh_mode => 'FULL');
SELECT pgtrickle.alter_stream_table('src_full', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT marked('src_full');
COMMIT;
SELECT marked('src_full');
UPDATE src SET v = v + 1 WHERE id = 5;
SELECT pgtrickle.refresh_stream_table('src_diff');
SELECT pgtrickle.refresh_stream_table('src_full');
SELECT marked('src_full');
(SELECT id, v FROM src_full EXCEPT ALL SELECT id, v FROM src)
UNION ALL (SELECT id, v FROM src EXCEPT ALL SELECT id, v FROM src_full);

-- Only FULL readers: each keeps what the other has not seen.
CREATE TABLE only_full (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO only_full VALUES (1, 1);
SELECT pgtrickle.create_stream_table('of_a', 'SELECT id, v FROM only_full',
    refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('of_b', 'SELECT id, v FROM only_full',
    refresh_mode => 'FULL', schedule => '1h');
INSERT INTO only_full VALUES (2, 2);
SELECT pgtrickle.refresh_stream_table('of_a');
SELECT buffered('only_full');
SELECT pgtrickle.refresh_stream_table('of_b');
SELECT action FROM pgtrickle.get_refresh_history('of_b', 1);
SELECT buffered('only_full');
SELECT pgtrickle.refresh_stream_table('of_a');
SELECT action FROM pgtrickle.get_refresh_history('of_a', 1);
SELECT (SELECT count(*) FROM of_a) AS a_rows, (SELECT count(*) FROM of_b) AS b_rows;

-- A manual refresh outside a transaction block ends its transaction with its statement: like a
-- scheduled one, it empties a big buffer (64 pages or more) all of whose rows are consumed with
-- TRUNCATE (a new file). Inside a transaction block it deletes the rows (the same file), since
-- the transaction and its lock on the buffer could go on long after; so it does with
-- pg_trickle.cleanup_use_truncate off.
-- (Strategy 'differential': AUTO's cost model could compare a slow differential refresh with
-- the FULL one of the empty table at creation, and refresh FULL.)
SET pg_trickle.refresh_strategy = 'differential';
CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
SELECT pgtrickle.create_stream_table('big_diff', 'SELECT id, v, pad FROM big',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- (Autovacuum's ANALYZE of the buffer after the 5,000 inserts below would hold a lock that makes
-- the refresh leave the rows for later instead of waiting: off for this buffer, for a result
-- that does not depend on timing.)
DO $$ BEGIN
    EXECUTE format('ALTER TABLE pgtrickle_changes.%I SET (autovacuum_enabled = off)',
                   'changes_' || 'big'::regclass::oid);
END $$;
CREATE FUNCTION buffer_file(regclass) RETURNS oid LANGUAGE sql AS $$
    SELECT pg_relation_filenode(format('pgtrickle_changes.%I', 'changes_' || $1::oid)::regclass)
$$;
CREATE TABLE files (step text, file oid);
INSERT INTO files VALUES ('start', buffer_file('big'));
INSERT INTO big SELECT g, g, repeat('x', 100) FROM generate_series(1, 5000) g;
SELECT pgtrickle.refresh_stream_table('big_diff');
SELECT buffered('big') AS buffered, buffer_file('big') <> file AS new_file
FROM files WHERE step = 'start';
INSERT INTO files VALUES ('truncated', buffer_file('big'));
UPDATE big SET v = v + 1;
BEGIN;
SELECT pgtrickle.refresh_stream_table('big_diff');
COMMIT;
SELECT buffered('big') AS buffered, buffer_file('big') <> file AS new_file
FROM files WHERE step = 'truncated';
SET pg_trickle.cleanup_use_truncate = off;
UPDATE big SET v = v + 1;
SELECT pgtrickle.refresh_stream_table('big_diff');
SELECT buffered('big') AS buffered, buffer_file('big') <> file AS new_file
FROM files WHERE step = 'truncated';
RESET pg_trickle.cleanup_use_truncate;
RESET pg_trickle.refresh_strategy;
(SELECT id, v, pad FROM big_diff EXCEPT ALL SELECT id, v, pad FROM big)
UNION ALL (SELECT id, v, pad FROM big EXCEPT ALL SELECT id, v, pad FROM big_diff);
SELECT pgtrickle.drop_stream_table('big_diff');

-- Once a buffer has been truncated, shared memory knows an upper bound of the transaction ids in
-- it (its ceiling): when that is older than every reader's frontier, the buffer is truncated
-- without the two scans that otherwise check that every row is consumed. It also knows a lower
-- bound (its floor): a reader whose frontier is older has consumed none of the buffer's rows, and
-- whether they are over 10,000 (pg_trickle.merge_work_mem_mb) is estimated from the buffer's size
-- instead of counted. Two refreshes of the same kind: the second scans the buffer twice less, three
-- times when no other transaction (an autovacuum's ANALYZE) held the trim's snapshot back.
SET pg_trickle.refresh_strategy = 'differential';
CREATE TABLE big2 (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
SELECT pgtrickle.create_stream_table('big2_diff', 'SELECT id, v, pad FROM big2',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE TABLE scans (step int, seq_scan bigint, file oid);
-- (Statistics reach pg_stat_user_tables when the backend goes idle: each note_scans follows a
-- statement of its own that forces that flush.)
CREATE FUNCTION note_scans(int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scans SELECT $1, seq_scan, buffer_file('big2') FROM pg_stat_user_tables
    WHERE relid = format('pgtrickle_changes.%I', 'changes_' || 'big2'::regclass::oid)::regclass;
END $$;
INSERT INTO big2 SELECT g, g, repeat('x', 100) FROM generate_series(1, 5000) g;
SELECT pg_stat_force_next_flush();
SELECT note_scans(0);
SELECT pgtrickle.refresh_stream_table('big2_diff');
SELECT pg_stat_force_next_flush();
SELECT note_scans(1);
INSERT INTO big2 SELECT g, g, repeat('x', 100) FROM generate_series(5001, 10000) g;
SELECT pg_stat_force_next_flush();
SELECT note_scans(2);
SELECT pgtrickle.refresh_stream_table('big2_diff');
SELECT pg_stat_force_next_flush();
SELECT note_scans(3);
SELECT (s1.seq_scan - s0.seq_scan) - (s3.seq_scan - s2.seq_scan) >= 2 AS scans_saved,
       s1.file <> s0.file AS first_truncated, s3.file <> s2.file AS second_truncated,
       buffered('big2') AS buffered
FROM scans s0, scans s1, scans s2, scans s3
WHERE s0.step = 0 AND s1.step = 1 AND s2.step = 2 AND s3.step = 3;
(SELECT id, v, pad FROM big2_diff EXCEPT ALL SELECT id, v, pad FROM big2)
UNION ALL (SELECT id, v, pad FROM big2 EXCEPT ALL SELECT id, v, pad FROM big2_diff);
SELECT pgtrickle.drop_stream_table('big2_diff');
RESET pg_trickle.refresh_strategy;

-- A frontier written by another cluster (pg_dump restores the catalog as it was, transaction
-- ids and all) says nothing of the changes made here: the next refresh is FULL, with a NOTICE.
CREATE TABLE restored (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO restored VALUES (1, 1);
SELECT pgtrickle.create_stream_table('restored_st', 'SELECT id, v FROM restored',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- A snapshot far ahead of this cluster's transactions (a dump of a busier cluster), from before
-- frontiers recorded their cluster: the change below would count as consumed.
UPDATE pgtrickle.pgt_stream_tables
SET frontier = jsonb_set(frontier - 'system', '{snapshot}', '"4000000000:4000000000:"')
WHERE pgt_name = 'restored_st';
INSERT INTO restored VALUES (2, 2);
SELECT pgtrickle.refresh_stream_table('restored_st');
SELECT id, v FROM restored_st ORDER BY id;
-- Another cluster's system identifier.
UPDATE pgtrickle.pgt_stream_tables SET frontier = jsonb_set(frontier, '{system}', '"1"')
WHERE pgt_name = 'restored_st';
INSERT INTO restored VALUES (3, 3);
SELECT pgtrickle.refresh_stream_table('restored_st');
-- The frontier recorded now is this cluster's: the next refresh is DIFFERENTIAL again.
INSERT INTO restored VALUES (4, 4);
SELECT pgtrickle.refresh_stream_table('restored_st');
SELECT action FROM pgtrickle.get_refresh_history('restored_st', 1);
SELECT id, v FROM restored_st ORDER BY id;
SELECT pgtrickle.drop_stream_table('restored_st');

SELECT pgtrickle.drop_stream_table('of_a');
SELECT pgtrickle.drop_stream_table('of_b');
SELECT pgtrickle.drop_stream_table('src_diff');
SELECT pgtrickle.drop_stream_table('src_full');
DROP SCHEMA trimming CASCADE;
