-- Updates that change none of the columns a stream table uses: the capture trigger records in
-- changed_cols which buffer columns an update changed, and a differential refresh leaves out
-- the updated rows whose changed columns it does not read (both rows of such an update are
-- equal in every column it reads: together they change nothing).
SET client_min_messages = warning;
SET pg_trickle.differential_max_change_ratio = 1;
CREATE SCHEMA chg;
SET search_path = chg, public;

-- Each stream table of the schema against its query (0 = equal as multisets).
CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'chg' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;
-- Refreshes every stream table of the schema; how each refresh ran.
CREATE FUNCTION refresh_all() RETURNS TABLE (st text, action text) LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
  FOR r IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'chg'
           ORDER BY pgt_id LOOP
    PERFORM pgtrickle.refresh_stream_table('chg.' || r.pgt_name);
    st := r.pgt_name;
    SELECT h.action INTO action FROM pgtrickle.pgt_refresh_history h
    JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
    WHERE s.pgt_schema = 'chg' AND s.pgt_name = r.pgt_name ORDER BY h.refresh_id DESC LIMIT 1;
    RETURN NEXT;
  END LOOP;
END $f$;
-- The buffer rows of a source: action, and the names of the columns changed_cols marks ('-':
-- NULL, not an update's row).
CREATE FUNCTION buffered(src regclass) RETURNS TABLE (action "char", changed text)
LANGUAGE plpgsql AS $f$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT b.action, CASE WHEN b.changed_cols IS NULL THEN ''-'' ELSE coalesce(
       (SELECT string_agg(a.attname, '','' ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = %L::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND b.changed_cols & (1::bigint << (a.attnum - 1)) <> 0), '''') END
     FROM %s b ORDER BY b.seq, b.action, 2',
    'pgtrickle_changes.changes_' || src::oid, 'pgtrickle_changes.changes_' || src::oid);
END $f$;

CREATE TABLE customers (id int PRIMARY KEY, region text, balance numeric, last_seen timestamptz,
                        profile text);
INSERT INTO customers SELECT g, 'r' || (g % 3), g * 10, '2026-01-01', repeat('p', 5000) || g
FROM generate_series(1, 30) g;
ALTER TABLE customers ALTER COLUMN profile SET STORAGE EXTERNAL;  -- (out of line, uncompressed)
UPDATE customers SET profile = profile;  -- (stored out of line now)
-- Keyed, reading region only; reading balance; FULL, reading last_seen (not captured).
SELECT pgtrickle.create_stream_table('by_region', 'SELECT region, count(*) AS n FROM customers GROUP BY region', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('rich', 'SELECT id, balance FROM customers WHERE balance > 100', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('seen', 'SELECT id, last_seen FROM customers WHERE last_seen > ''2026-06-01''', refresh_mode => 'FULL', schedule => '1h');
SELECT * FROM check_all();

-- An update of a column no DIFFERENTIAL stream table reads (not captured): its rows are not
-- buffered, one 'U' row tells the FULL stream table that the table changed.
UPDATE customers SET last_seen = '2026-07-01' WHERE id <= 2;
SELECT * FROM buffered('customers');
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- balance changes: rich reads them, by_region has nothing to do.
UPDATE customers SET balance = balance + 1 WHERE id IN (5, 20);
SELECT * FROM buffered('customers');
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- One statement, two rows: one changes a captured column, the other only last_seen (left out).
UPDATE customers SET balance = CASE WHEN id = 14 THEN balance + 1 ELSE balance END,
                     last_seen = '2026-07-02' WHERE id IN (14, 16);
SELECT * FROM buffered('customers');
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A region changes: by_region reads it; rich reads id and balance only, and skips it.
UPDATE customers SET region = 'r9' WHERE id = 7;
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- Several statements on one row in one transaction: first a column no one reads, then one
-- rich reads, then back to the value it had; another row gets a new key.
BEGIN;
UPDATE customers SET last_seen = '2026-08-01' WHERE id = 11;
UPDATE customers SET balance = 5 WHERE id = 11;
UPDATE customers SET balance = 110 WHERE id = 11;
UPDATE customers SET id = 100 WHERE id = 12;
COMMIT;
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A large value kept out of line is unchanged when the update kept it; a new one is changed.
SELECT pgtrickle.create_stream_table('profiles', 'SELECT id, length(profile) AS len FROM customers', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
UPDATE customers SET balance = balance + 1 WHERE id = 1;
UPDATE customers SET profile = profile || 'x' WHERE id = 2;
SELECT * FROM buffered('customers');
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A value compressed inline is compared by its stored bytes: kept by the update, unchanged.
CREATE TABLE docs (id int PRIMARY KEY, body text, hits int);
INSERT INTO docs SELECT g, repeat('abc', 1000) || g, 0 FROM generate_series(1, 5) g;
SELECT count(*) FILTER (WHERE pg_column_compression(body) IS NOT NULL) AS compressed FROM docs;
SELECT pgtrickle.create_stream_table('doc_sizes', 'SELECT id, length(body) AS len FROM docs', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('doc_hits', 'SELECT sum(hits) AS hits FROM docs', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
UPDATE docs SET hits = hits + 1;
SELECT * FROM buffered('docs');
SELECT * FROM refresh_all() WHERE st IN ('doc_sizes', 'doc_hits');
UPDATE docs SET body = body || 'x' WHERE id = 1;
SELECT * FROM refresh_all() WHERE st IN ('doc_sizes', 'doc_hits');
SELECT * FROM check_all() WHERE st LIKE 'doc%';

-- Inserts and deletes carry no changed columns: every reader reads them.
INSERT INTO customers VALUES (200, 'r1', 500, '2026-09-01', 'short');
DELETE FROM customers WHERE id = 3;
SELECT * FROM buffered('customers');
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A keyless table read by count(*) only: no column is used, no update matters. kinds reads
-- the one captured column: its reads test no row.
CREATE TABLE events (kind text, payload int);
INSERT INTO events SELECT 'k' || (g % 2), g FROM generate_series(1, 10) g;
SELECT pgtrickle.create_stream_table('event_count', 'SELECT count(*) AS n FROM events', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('kinds', 'SELECT kind, count(*) AS n FROM events GROUP BY kind', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
UPDATE events SET payload = payload + 1;
SELECT * FROM refresh_all() WHERE st IN ('event_count', 'kinds');
-- A refresh ending NO_DATA consumed those rows: the last reader's trims them (else every
-- update of columns no one reads would stay buffered for good).
SELECT count(*) AS buffered_rows FROM buffered('events');
UPDATE events SET kind = 'k9' WHERE payload = 3;
SELECT * FROM refresh_all() WHERE st IN ('event_count', 'kinds');
SELECT * FROM check_all();

-- A partitioned source whose partitions lay their columns out differently (a dropped column
-- in one): the bits are the buffer's columns, whichever partition the update ran on.
CREATE TABLE parts (id int, grp int, val int, note text) PARTITION BY RANGE (id);
CREATE TABLE parts_1 (junk int, id int, grp int, val int, note text);
ALTER TABLE parts_1 DROP COLUMN junk;
ALTER TABLE parts ATTACH PARTITION parts_1 FOR VALUES FROM (0) TO (100);
CREATE TABLE parts_2 PARTITION OF parts FOR VALUES FROM (100) TO (200);
INSERT INTO parts SELECT g, g % 4, g, 'n' FROM generate_series(1, 150, 7) g;
SELECT pgtrickle.create_stream_table('part_sums', 'SELECT grp, sum(val) AS s FROM parts GROUP BY grp', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
UPDATE parts SET note = 'm';
SELECT * FROM refresh_all() WHERE st = 'part_sums';
UPDATE parts_1 SET val = val + 1 WHERE id < 20;
UPDATE parts SET grp = grp + 1 WHERE id > 120;
SELECT action, changed, count(*) FROM buffered('parts') GROUP BY 1, 2 ORDER BY 1, 2;
-- (A row moved to another partition: a delete and an insert in the UPDATE's transition tables.)
UPDATE parts SET id = id + 100 WHERE id = 8;
SELECT * FROM refresh_all() WHERE st = 'part_sums';
SELECT * FROM check_all();

-- An owner who may read only some of the captured columns is not granted changed_cols (its
-- bits name the columns an update changed): its refreshes read every update.
CREATE ROLE pgt_chg_limited;
GRANT USAGE, CREATE ON SCHEMA chg TO pgt_chg_limited;
GRANT SELECT (id, region) ON customers TO pgt_chg_limited;
SET ROLE pgt_chg_limited;
SELECT pgtrickle.create_stream_table('limited', 'SELECT region, count(*) AS n FROM customers GROUP BY region', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
RESET ROLE;
SELECT attname, has_column_privilege('pgt_chg_limited', attrelid, attname, 'SELECT') AS granted
FROM pg_attribute WHERE attrelid = ('pgtrickle_changes.changes_' || 'customers'::regclass::oid)::regclass
  AND attname IN ('changed_cols', 'region', 'balance') ORDER BY attname;
UPDATE customers SET balance = balance + 1 WHERE id = 20;
UPDATE customers SET region = 'r8' WHERE id = 21;
SELECT * FROM refresh_all() WHERE st = 'limited';
SELECT * FROM check_all() WHERE st = 'limited';
SELECT pgtrickle.drop_stream_table('chg.limited');
REVOKE ALL ON customers FROM pgt_chg_limited;
REVOKE ALL ON SCHEMA chg FROM pgt_chg_limited;
DROP ROLE pgt_chg_limited;

-- The change-ratio check counts what a reader has not consumed, not what the buffer's size at
-- its last ANALYZE suggests (pages full of rows another reader's trim deleted).
CREATE TABLE ratio_src (id int PRIMARY KEY, a int, b int);
INSERT INTO ratio_src SELECT g, g % 10, g FROM generate_series(1, 20000) g;
ANALYZE ratio_src;
SELECT pgtrickle.create_stream_table('ratio_a', 'SELECT a, sum(b) AS s FROM ratio_src GROUP BY a', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('ratio_b', 'SELECT id, b FROM ratio_src WHERE b > 100', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SET pg_trickle.differential_max_change_ratio = 1;
UPDATE ratio_src SET b = b + 1 WHERE id <= 5000;
SELECT pgtrickle.refresh_stream_table('chg.ratio_a');
BEGIN;  -- (the last reader's trim: a DELETE inside a transaction block)
SELECT pgtrickle.refresh_stream_table('chg.ratio_b');
COMMIT;
RESET pg_trickle.differential_max_change_ratio;
-- (ratio_b's refresh of 5,000 updates above costs about a FULL one: a busy machine must
-- not make the cost model pick FULL for the refresh below, which tests the ratio check.)
SET pg_trickle.cost_model_safety_margin = 2;
UPDATE ratio_src SET b = b + 1 WHERE id = 3000;
SELECT * FROM refresh_all() WHERE st IN ('ratio_a', 'ratio_b');
SELECT * FROM check_all() WHERE st IN ('ratio_a', 'ratio_b');
RESET pg_trickle.cost_model_safety_margin;

-- IMMEDIATE stream tables read the statement's own rows: unaffected.
SELECT pgtrickle.create_stream_table('imm_region', 'SELECT region, sum(balance) AS total FROM customers GROUP BY region', refresh_mode => 'IMMEDIATE');
UPDATE customers SET balance = balance * 2 WHERE id < 10;
UPDATE customers SET last_seen = now() WHERE id < 10;
SELECT * FROM check_all() WHERE st = 'imm_region';
-- An update of columns it does not read leaves it alone: its storage is not even read. (The
-- transaction's table statistics, before and after; they may hold earlier transactions' too.)
CREATE FUNCTION storage_activity(st regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del
  FROM pg_stat_xact_user_tables WHERE relid = st $$;
BEGIN;
SELECT storage_activity('imm_region') AS before \gset
UPDATE customers SET last_seen = now() WHERE id BETWEEN 10 AND 15;
SELECT storage_activity('imm_region') = :before AS untouched_after_last_seen;
UPDATE customers SET balance = balance + 1, last_seen = now() WHERE id = 16;
SELECT storage_activity('imm_region') > :before AS touched_after_balance;
COMMIT;
SELECT * FROM check_all() WHERE st = 'imm_region';
-- Nor is a stream table maintained as a whole locked for it: its catalog row is not updated
-- (data_timestamp), so concurrent writers of unrelated columns do not wait for each other. (Its
-- first maintenance in a session prepares it: that one locks.)
SELECT pgtrickle.create_stream_table('imm_rich', 'SELECT id, balance FROM customers WHERE balance > 100', refresh_mode => 'IMMEDIATE');
UPDATE customers SET balance = balance + 1 WHERE id = 17;
SELECT data_timestamp AS ts FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'imm_rich' \gset
UPDATE customers SET last_seen = now() WHERE id = 18;
SELECT data_timestamp = :'ts' AS not_locked FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'imm_rich';
UPDATE customers SET balance = balance + 1 WHERE id = 18;
SELECT data_timestamp > :'ts' AS locked FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'imm_rich';
SELECT * FROM check_all() WHERE st LIKE 'imm%';

DROP SCHEMA chg CASCADE;
