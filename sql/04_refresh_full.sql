-- FULL refresh: after every refresh the stream table equals its defining query as a multiset,
-- across inserts, updates, deletes and TRUNCATE of its sources, duplicates and NULLs included.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

CREATE TABLE items (id int PRIMARY KEY, cat text, price numeric, qty int);
CREATE TABLE cats (cat text, label text);   -- no key: duplicates allowed
INSERT INTO items SELECT g, 'c' || (g % 5), g * 1.5, g % 7 FROM generate_series(1, 200) g;
INSERT INTO cats SELECT 'c' || g, 'label ' || g FROM generate_series(0, 4) g;
INSERT INTO cats VALUES ('c1', 'label 1'), (NULL, 'no cat');

-- The check: both directions of EXCEPT ALL are empty, so the multisets are equal.
CREATE FUNCTION check_equal(st regclass, query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cols text;
    missing bigint;
    extra bigint;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = st AND attnum > 0 AND NOT attisdropped
      AND attname <> '__pgt_row_id';
    EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL SELECT %s FROM %s) x', query, cols, st) INTO missing;
    EXECUTE format('SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL (%s)) x', cols, st, query) INTO extra;
    RETURN CASE WHEN missing = 0 AND extra = 0 THEN 'equal'
                ELSE format('DIFFERENT: %s missing, %s extra', missing, extra) END;
END $$;

SELECT pgtrickle.create_stream_table('by_cat',
    'SELECT cat, count(*) AS n, sum(price) AS total, avg(qty) AS avg_qty FROM items GROUP BY cat', refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('joined',
    'SELECT i.id, i.price, c.label FROM items i LEFT JOIN cats c ON c.cat = i.cat', refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('dups',
    'SELECT cat, label FROM cats UNION ALL SELECT cat, label FROM cats', refresh_mode => 'FULL', schedule => '1h');
SELECT pgtrickle.create_stream_table('nulls',
    'SELECT NULLIF(qty, 0) AS q, cat FROM items WHERE id <= 20', refresh_mode => 'FULL', schedule => '1h');

CREATE FUNCTION check_all() RETURNS TABLE (st text, result text) LANGUAGE sql AS $$
    SELECT 'by_cat', check_equal('by_cat', 'SELECT cat, count(*) AS n, sum(price) AS total, avg(qty) AS avg_qty FROM items GROUP BY cat')
    UNION ALL SELECT 'joined', check_equal('joined', 'SELECT i.id, i.price, c.label FROM items i LEFT JOIN cats c ON c.cat = i.cat')
    UNION ALL SELECT 'dups', check_equal('dups', 'SELECT cat, label FROM cats UNION ALL SELECT cat, label FROM cats')
    UNION ALL SELECT 'nulls', check_equal('nulls', 'SELECT NULLIF(qty, 0) AS q, cat FROM items WHERE id <= 20')
$$;
CREATE FUNCTION refresh_all() RETURNS void LANGUAGE sql AS $$
    SELECT pgtrickle.refresh_stream_table(n) FROM unnest(ARRAY['by_cat', 'joined', 'dups', 'nulls']) n
$$;

SELECT * FROM check_all();
SELECT count(*) FROM dups;

-- Inserts.
INSERT INTO items SELECT g, 'c' || (g % 3), g, g % 4 FROM generate_series(201, 260) g;
INSERT INTO cats VALUES ('c2', 'label 2'), ('c9', 'orphan');
SELECT * FROM check_all();   -- stale until refreshed: at least one differs
SELECT refresh_all();
SELECT * FROM check_all();

-- Updates, including of the grouping and join keys.
UPDATE items SET price = price * 2 WHERE id % 3 = 0;
UPDATE items SET cat = 'c4' WHERE id BETWEEN 10 AND 30;
UPDATE cats SET label = upper(label) WHERE cat = 'c1';
UPDATE items SET qty = 0 WHERE id <= 5;
SELECT refresh_all();
SELECT * FROM check_all();

-- Deletes, including every row of a group and one copy of a duplicate.
DELETE FROM items WHERE cat = 'c0';
DELETE FROM cats WHERE ctid = (SELECT min(ctid) FROM cats WHERE cat = 'c1');
SELECT refresh_all();
SELECT * FROM check_all();
SELECT count(*) FROM by_cat WHERE cat = 'c0';

-- TRUNCATE of a source.
TRUNCATE cats;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT count(*) FROM dups;
TRUNCATE items;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT count(*) FROM by_cat;

-- Refill after TRUNCATE.
INSERT INTO items SELECT g, 'c' || (g % 2), g, g FROM generate_series(1, 10) g;
INSERT INTO cats VALUES ('c0', 'zero'), ('c0', 'zero');
SELECT refresh_all();
SELECT * FROM check_all();

-- Refresh history: one INITIAL and six MANUAL refreshes per stream table, all completed.
SELECT initiated_by, action, status, count(*) FROM pgtrickle.pgt_refresh_history
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT action, status, rows_inserted, rows_deleted, duration_ms >= 0 AS timed
FROM pgtrickle.get_refresh_history('by_cat', 2);

-- A refresh that fails changes nothing: contents, catalog and history stay as they were.
CREATE TABLE divisor (d int);
INSERT INTO divisor VALUES (1);
SELECT pgtrickle.create_stream_table('fragile', 'SELECT i.id / d.d AS q FROM items i, divisor d', refresh_mode => 'FULL', schedule => '1h');
UPDATE divisor SET d = 0;
SELECT pgtrickle.refresh_stream_table('fragile');
SELECT count(*) FROM fragile;
SELECT count(*) FROM pgtrickle.get_refresh_history('fragile');

-- A FULL stream table over a partition: rows written through the partitioned table are seen
-- (the partition is not captured, so no refresh is skipped for want of recorded changes).
CREATE TABLE parted (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1, 1);
SELECT pgtrickle.create_stream_table('from_partition', 'SELECT id, v FROM parted_1', refresh_mode => 'FULL', schedule => '1h');
INSERT INTO parted VALUES (2, 2);
UPDATE parted SET v = 10 WHERE id = 1;
SELECT pgtrickle.refresh_stream_table('from_partition');
SELECT id, v FROM from_partition ORDER BY id;
SELECT action FROM pgtrickle.get_refresh_history('from_partition', 1);
SELECT pgtrickle.drop_stream_table('from_partition');
DROP TABLE parted;
