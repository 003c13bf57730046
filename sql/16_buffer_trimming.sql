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

SELECT pgtrickle.drop_stream_table('of_a');
SELECT pgtrickle.drop_stream_table('of_b');
SELECT pgtrickle.drop_stream_table('src_diff');
SELECT pgtrickle.drop_stream_table('src_full');
DROP SCHEMA trimming CASCADE;
