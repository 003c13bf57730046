-- Partitioned tables as sources of DIFFERENTIAL stream tables. The partitioned table's change
-- buffer receives the changes of statements on it and on each of its partitions, at any level
-- (each member of the tree carries the root's capture triggers); partitions created, attached,
-- detached or dropped later are followed, and rows that join or leave the tree without a
-- captured statement make the next refresh FULL.
SET client_min_messages = warning;
-- (The tables are small: a few changed rows pass the change ratio that makes a refresh FULL,
-- and each refresh's mode is what is shown. A partitioned table's rows are estimated from its
-- leaves' statistics: they are analyzed below.)
SET pg_trickle.differential_max_change_ratio = 1;
CREATE SCHEMA partitioned;
SET search_path = partitioned, public;

-- Each stream table of the schema against its query (0 = equal as multisets).
CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'partitioned' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;
-- Refreshes every stream table of the schema and shows how each refresh ran.
CREATE FUNCTION refresh_all() RETURNS TABLE (st text, action text) LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
  FOR r IN SELECT pgt_name FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'partitioned' ORDER BY pgt_id LOOP
    PERFORM pgtrickle.refresh_stream_table('partitioned.' || r.pgt_name);
    st := r.pgt_name;
    SELECT h.action INTO action FROM pgtrickle.pgt_refresh_history h
    JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
    WHERE s.pgt_schema = 'partitioned' AND s.pgt_name = r.pgt_name ORDER BY h.refresh_id DESC LIMIT 1;
    RETURN NEXT;
  END LOOP;
END $f$;
-- Runs a statement; its error as SQLSTATE and message.
CREATE FUNCTION try_sql(statement text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
-- Tables carrying pg_trickle's capture triggers of table `t`, and how many each has enabled.
CREATE FUNCTION capture_of(t regclass) RETURNS TABLE (tbl text, triggers bigint) LANGUAGE sql AS $$
  SELECT tgrelid::regclass::text, count(*) FILTER (WHERE tgenabled = 'A') FROM pg_trigger
  WHERE tgname IN ('pg_trickle_cdc_ins_' || t::oid, 'pg_trickle_cdc_upd_' || t::oid,
                   'pg_trickle_cdc_del_' || t::oid, 'pg_trickle_cdc_trunc_' || t::oid)
  GROUP BY 1 ORDER BY 1
$$;

-- A tree of three levels: sales by region (LIST), the 'eu' partition by id (RANGE).
CREATE TABLE sales (id int NOT NULL, region text NOT NULL, amount int, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu') PARTITION BY RANGE (id);
CREATE TABLE sales_eu_low PARTITION OF sales_eu FOR VALUES FROM (0) TO (1000);
CREATE TABLE sales_eu_high PARTITION OF sales_eu FOR VALUES FROM (1000) TO (5000);
CREATE TABLE regions (region text PRIMARY KEY, manager text);
INSERT INTO regions VALUES ('us', 'ann'), ('eu', 'bob'), ('apac', 'cid');
INSERT INTO sales SELECT g, CASE WHEN g % 2 = 0 THEN 'us' ELSE 'eu' END, g * 10
FROM generate_series(1, 20) g;
INSERT INTO sales VALUES (1500, 'eu', 7);
-- A keyless tree (duplicates kept exact), by hash.
CREATE TABLE events (kind text, n int) PARTITION BY HASH (kind);
CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO events SELECT chr(97 + g % 5), g % 3 FROM generate_series(1, 100) g;
ANALYZE sales, events;

SELECT pgtrickle.create_stream_table('by_region',
    'SELECT region, count(*) AS n, sum(amount) AS total FROM sales GROUP BY region',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('with_manager',
    'SELECT s.id, s.amount, r.manager FROM sales s JOIN regions r USING (region)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('all_events', 'SELECT kind, n FROM events',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- AUTO maintains it differentially too.
SELECT pgtrickle.create_stream_table('event_counts',
    'SELECT kind, count(*) AS c FROM events GROUP BY kind', schedule => '1h');
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables
WHERE pgt_schema = 'partitioned' ORDER BY pgt_id;
-- Every member of each tree carries the root's four capture triggers.
SELECT * FROM capture_of('sales');
SELECT * FROM capture_of('events');
-- Each of them depends on the buffer it writes into (pg_dump restores them after its rows).
SELECT count(*) AS triggers_on_buffer FROM pg_depend d
WHERE d.classid = 'pg_trigger'::regclass
  AND d.refobjid = ('pgtrickle_changes.changes_' || 'sales'::regclass::oid)::regclass;
SELECT * FROM check_all();
-- explain_st describes the partitioned source.
SELECT value FROM pgtrickle.explain_st('partitioned.by_region') WHERE property = 'source_partitions';

-- Writes through the root, to a leaf, to the middle level; an UPDATE through the root that
-- moves rows to another partition; a DELETE on a leaf; INSERT ... ON CONFLICT on a leaf.
INSERT INTO sales VALUES (21, 'us', 5), (1001, 'eu', 6);
INSERT INTO sales_us VALUES (22, 'us', 7);
UPDATE sales_eu SET amount = amount + 1 WHERE id < 10;
UPDATE sales SET region = 'us' WHERE id IN (3, 1001);
DELETE FROM sales_eu_low WHERE id = 5;
INSERT INTO sales_us VALUES (22, 'us', 70) ON CONFLICT (id, region) DO UPDATE SET amount = excluded.amount;
INSERT INTO events_0 SELECT kind, n FROM events_0 ORDER BY kind, n LIMIT 10;
DELETE FROM events_1 WHERE kind = (SELECT min(kind) FROM events_1) AND n = 1;
INSERT INTO events VALUES ('d', 4), ('a', 1);
SELECT * FROM refresh_all();
SELECT * FROM check_all();
SELECT region, n, total FROM by_region ORDER BY region;

-- A MERGE through the partitioned table that moves rows to another partition: PostgreSQL 15
-- leaves those rows out of its transition tables, so a MERGE updating through a partitioned
-- table is recorded as a TRUNCATE (the next refresh is FULL), moving rows or not.
MERGE INTO sales s USING (VALUES (21, 'us'), (1001, 'us')) v(id, region)
  ON s.id = v.id AND s.region = v.region
  WHEN MATCHED THEN UPDATE SET region = 'eu';
SELECT * FROM refresh_all();
SELECT * FROM check_all();
-- (Into a partition, it moves none: captured as usual.)
MERGE INTO sales_us s USING (VALUES (22, 'us')) v(id, region)
  ON s.id = v.id AND s.region = v.region
  WHEN MATCHED THEN UPDATE SET amount = amount + 1;
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- TRUNCATE of one partition: the next refresh of its readers is FULL.
TRUNCATE sales_eu_high;
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A partition created later (at any level) gets the triggers; it is empty, so nothing needs a
-- FULL refresh.
CREATE TABLE sales_apac PARTITION OF sales FOR VALUES IN ('apac');
CREATE TABLE sales_eu_top PARTITION OF sales_eu FOR VALUES FROM (5000) TO (6000);
SELECT * FROM capture_of('sales');
SELECT count(*) AS triggers_on_buffer FROM pg_depend d
WHERE d.classid = 'pg_trigger'::regclass
  AND d.refobjid = ('pgtrickle_changes.changes_' || 'sales'::regclass::oid)::regclass;
INSERT INTO sales_apac VALUES (30, 'apac', 300);
INSERT INTO sales VALUES (1200, 'eu', 12), (5500, 'eu', 55);
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A table attached with rows, its columns in another order and one dropped: capture maps
-- columns by name; the rows it brings make the next refresh FULL.
CREATE TABLE sales_latam (amount int, junk int, region text NOT NULL, id int NOT NULL);
ALTER TABLE sales_latam DROP COLUMN junk;
INSERT INTO sales_latam VALUES (400, 'latam', 40), (500, 'latam', 50);
INSERT INTO regions VALUES ('latam', 'dee');
ALTER TABLE sales ATTACH PARTITION sales_latam FOR VALUES IN ('latam');
ANALYZE sales_latam;
SELECT * FROM capture_of('sales');
SELECT * FROM refresh_all();
SELECT * FROM check_all();
-- Its own writes are captured from then on.
UPDATE sales_latam SET amount = amount * 2 WHERE id = 40;
INSERT INTO sales_latam VALUES (600, 'latam', 60);
DELETE FROM sales WHERE region = 'latam' AND id = 50;
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- Detached: its triggers go, its rows leave the stream tables (FULL), and its later writes
-- are not the source's.
ALTER TABLE sales DETACH PARTITION sales_us;
SELECT * FROM capture_of('sales');
INSERT INTO sales_us VALUES (99, 'us', 99);
SELECT * FROM refresh_all();
SELECT * FROM check_all();
-- Dropped with its rows (a partition of the middle level): FULL again.
DROP TABLE sales_eu_low;
SELECT * FROM refresh_all();
SELECT * FROM check_all();
-- Emptied by statements, then detached: nothing to catch up with. (A DROP of a partition is
-- followed by a FULL refresh whatever it held: its rows are gone when pg_trickle hears of it.)
DELETE FROM sales_apac;
ALTER TABLE sales DETACH PARTITION sales_apac;
SELECT * FROM refresh_all();
SELECT * FROM check_all();
DROP TABLE sales_eu_high;
SELECT * FROM refresh_all();
SELECT * FROM check_all();
INSERT INTO sales VALUES (5300, 'eu', 13);
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A partition's capture switched off by hand: the readers refresh FULL until it is back (and
-- once after); ENABLE sets ours back to ALWAYS.
ALTER TABLE sales_latam DISABLE TRIGGER USER;
-- trigger_inventory() lists each member's triggers (source_oid: the partitioned source).
SELECT source_table, count(*) AS triggers, count(*) FILTER (WHERE present AND enabled) AS working
FROM pgtrickle.trigger_inventory() WHERE source_oid = 'sales'::regclass::oid GROUP BY 1 ORDER BY 1;
INSERT INTO sales_latam VALUES (700, 'latam', 70);
SELECT * FROM refresh_all();
SELECT * FROM check_all();
ALTER TABLE sales_latam ENABLE TRIGGER USER;
SELECT * FROM capture_of('sales');
SELECT * FROM refresh_all();
SELECT * FROM check_all();
-- One dropped by name: FULL; repair_stream_table makes it again.
SELECT try_sql(format('DROP TRIGGER %I ON sales_latam', 'pg_trickle_cdc_ins_' || 'sales'::regclass::oid));
SELECT source_table, trigger_name ~ '^pg_trickle_cdc_ins_' AS ins, present
FROM pgtrickle.trigger_inventory() WHERE NOT present;
INSERT INTO sales_latam VALUES (800, 'latam', 80);
SELECT * FROM refresh_all();
SELECT * FROM check_all();
SELECT regexp_replace(pgtrickle.repair_stream_table('partitioned.by_region'), '[0-9]{4,}', 'N', 'g');
SELECT * FROM capture_of('sales');
INSERT INTO sales_latam VALUES (900, 'latam', 90);
SELECT * FROM refresh_all();
SELECT * FROM check_all();
INSERT INTO sales_latam VALUES (1000, 'latam', 100);
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- DIFFERENTIAL.md's example: a new year's partition, written to directly.
CREATE TABLE readings (sensor int NOT NULL, at date NOT NULL, value numeric(8,2),
                       PRIMARY KEY (sensor, at)) PARTITION BY RANGE (at);
CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO readings VALUES (1, '2025-03-01', 10.5), (2, '2025-03-01', 7.25);
SELECT pgtrickle.create_stream_table('sensor_totals',
    'SELECT sensor, count(*) AS n, sum(value) AS total FROM readings GROUP BY sensor',
    refresh_mode => 'DIFFERENTIAL', schedule => '1m');
CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO readings_2026 VALUES (1, '2026-01-02', 4.00);
SELECT pgtrickle.refresh_stream_table('sensor_totals');
SELECT sensor, n, total FROM sensor_totals ORDER BY sensor;
SELECT pgtrickle.drop_stream_table('sensor_totals');

-- Refused: IMMEDIATE over a partitioned table (a partition's writes fire only its own
-- triggers), a partition as a differential source, a tree with a foreign partition, a foreign
-- partition attached under a differential reader, the source made a partition itself.
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.imm', 'SELECT region, count(*) AS n FROM sales GROUP BY region', refresh_mode => 'IMMEDIATE')$$);
SELECT try_sql($$SELECT pgtrickle.alter_stream_table('partitioned.by_region', refresh_mode => 'IMMEDIATE')$$);
-- (validate_query says so too.)
SELECT check_name, result FROM pgtrickle.validate_query(
    'SELECT region, count(*) AS n FROM partitioned.sales GROUP BY region')
WHERE check_name IN ('differential', 'immediate') ORDER BY 1;
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.leaf', 'SELECT id FROM sales_latam', refresh_mode => 'DIFFERENTIAL')$$);
-- (ONLY on a partitioned table reads no rows, whatever its partitions hold.)
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.only_root', 'SELECT id FROM ONLY sales', refresh_mode => 'DIFFERENTIAL')$$);
CREATE EXTENSION file_fdw;
CREATE SERVER partitioned_server FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE logs (at int, msg text) PARTITION BY RANGE (at);
CREATE TABLE logs_new PARTITION OF logs FOR VALUES FROM (100) TO (200);
CREATE FOREIGN TABLE logs_old PARTITION OF logs FOR VALUES FROM (0) TO (100) SERVER partitioned_server
  OPTIONS (filename '/dev/null', format 'csv');
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.recent', 'SELECT msg FROM logs', refresh_mode => 'DIFFERENTIAL')$$);
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.event_kinds', 'SELECT DISTINCT kind FROM events', refresh_mode => 'DIFFERENTIAL')$$);
CREATE TABLE sales_parent (id int NOT NULL, region text NOT NULL, amount int) PARTITION BY RANGE (id);
SELECT try_sql($$ALTER TABLE sales_parent ATTACH PARTITION sales FOR VALUES FROM (0) TO (100000)$$);
CREATE FOREIGN TABLE events_far (kind text, n int) SERVER partitioned_server
  OPTIONS (filename '/dev/null', format 'csv');
DROP TABLE events_1;
SELECT try_sql($$ALTER TABLE events ATTACH PARTITION events_far FOR VALUES WITH (MODULUS 2, REMAINDER 1)$$);
SELECT * FROM refresh_all();
SELECT * FROM check_all();

-- A view replaced a second time before the stream table over it was refreshed, now to read a
-- partition: refused as the first time would have been (it was let through, and the next
-- refresh recomputed the stream table from the first replacement).
CREATE TABLE plain_a (id int PRIMARY KEY, region text);
CREATE TABLE plain_b (id int PRIMARY KEY, region text);
INSERT INTO plain_a VALUES (1, 'a');
INSERT INTO plain_b VALUES (2, 'b');
CREATE VIEW some_rows AS SELECT id, region FROM plain_a;
SELECT pgtrickle.create_stream_table('via_view', 'SELECT id, region FROM some_rows',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE OR REPLACE VIEW some_rows AS SELECT id, region FROM plain_b;
SELECT try_sql($$CREATE OR REPLACE VIEW some_rows AS SELECT id, region FROM sales_latam$$);
SELECT * FROM refresh_all() WHERE st = 'via_view';
SELECT id, region FROM via_view;
SELECT pgtrickle.drop_stream_table('via_view');
-- Under an IMMEDIATE stream table, replaced to read a partitioned table: refused the same way.
SELECT pgtrickle.create_stream_table('via_view_now', 'SELECT id, region FROM some_rows',
    refresh_mode => 'IMMEDIATE');
SELECT try_sql($$CREATE OR REPLACE VIEW some_rows AS SELECT id, region FROM sales$$);
-- change_buffer_sizes lists each stream table's partitioned source once, and not the
-- IMMEDIATE stream table, which reads no buffer (plain_b has one, for b_rows).
SELECT pgtrickle.create_stream_table('b_rows', 'SELECT id FROM plain_b',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT stream_table, source_table FROM pgtrickle.change_buffer_sizes()
WHERE stream_table LIKE 'partitioned.%' ORDER BY 1, 2;
SELECT pgtrickle.drop_stream_table('b_rows');
SELECT pgtrickle.drop_stream_table('via_view_now');

-- An UNLOGGED partition: a crash empties it without a trigger firing, as it empties UNLOGGED
-- buffers, so its readers record the epoch of the unlogged tables (14_unlogged_buffers), and a
-- crash makes their next refresh FULL. Simulated here: rows deleted, their changes taken out of
-- the buffer, the epoch table emptied, as a crash would.
CREATE TABLE temps (id int NOT NULL, site int NOT NULL, v int) PARTITION BY LIST (site);
CREATE TABLE temps_1 PARTITION OF temps FOR VALUES IN (1);
CREATE UNLOGGED TABLE temps_2 PARTITION OF temps FOR VALUES IN (2);
INSERT INTO temps SELECT g, 1 + g % 2, g FROM generate_series(1, 20) g;
SELECT pgtrickle.create_stream_table('temps_by_site',
    'SELECT site, count(*) AS n FROM temps GROUP BY site',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
INSERT INTO temps VALUES (21, 1, 21);
SELECT * FROM refresh_all() WHERE st = 'temps_by_site';
DELETE FROM temps_2;
DO $$ BEGIN
    EXECUTE format('DELETE FROM pgtrickle_changes.%I', 'changes_' || 'temps'::regclass::oid);
END $$;
DELETE FROM pgtrickle_changes.buffer_epoch;
SELECT * FROM refresh_all() WHERE st = 'temps_by_site';
SELECT * FROM check_all() WHERE st = 'temps_by_site';
INSERT INTO temps VALUES (22, 2, 22);
SELECT * FROM refresh_all() WHERE st = 'temps_by_site';
SELECT * FROM check_all() WHERE st = 'temps_by_site';
-- IMMEDIATE refuses UNLOGGED tables (it has no refresh to catch up after a crash).
CREATE UNLOGGED TABLE scratchpad (id int PRIMARY KEY);
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.scratch_now', 'SELECT count(*) AS n FROM scratchpad', refresh_mode => 'IMMEDIATE')$$);
-- Nor may a source of one be made UNLOGGED.
ALTER TABLE scratchpad SET LOGGED;
SELECT pgtrickle.create_stream_table('scratch_now', 'SELECT count(*) AS n FROM scratchpad',
    refresh_mode => 'IMMEDIATE');
SELECT try_sql($$ALTER TABLE scratchpad SET UNLOGGED$$);
SELECT pgtrickle.drop_stream_table('scratch_now');
SELECT pgtrickle.drop_stream_table('temps_by_site');

-- A table a logical replication subscription applies rows to: the apply worker fires no
-- statement trigger, so its changes are not captured and every refresh is FULL, saying why. (A
-- subscription made without connecting, and the catalog row that subscribing to a table makes,
-- written by hand: the regression cluster has no publisher.)
CREATE TABLE replicated (id int PRIMARY KEY, v int);
INSERT INTO replicated VALUES (1, 1), (2, 2);
SELECT pgtrickle.create_stream_table('replicated_sum', 'SELECT sum(v) AS s FROM replicated',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE SUBSCRIPTION partitioned_sub CONNECTION 'dbname=nowhere' PUBLICATION nothing
  WITH (connect = false);
SET allow_system_table_mods = on;
INSERT INTO pg_subscription_rel (srsubid, srrelid, srsubstate, srsublsn)
SELECT oid, 'replicated'::regclass, 'r', NULL FROM pg_subscription WHERE subname = 'partitioned_sub';
RESET allow_system_table_mods;
UPDATE replicated SET v = v + 1;
SET client_min_messages = notice;
SELECT pgtrickle.refresh_stream_table('partitioned.replicated_sum');
SET client_min_messages = warning;
SELECT * FROM refresh_all() WHERE st = 'replicated_sum';
SELECT * FROM check_all() WHERE st = 'replicated_sum';
-- (Its buffer is emptied by the refreshes: no reader uses what local writes capture.)
SELECT pending_rows FROM pgtrickle.change_buffer_sizes() WHERE stream_table = 'partitioned.replicated_sum';
SELECT try_sql($$SELECT pgtrickle.create_stream_table('partitioned.replicated_now', 'SELECT sum(v) AS s FROM replicated', refresh_mode => 'IMMEDIATE')$$);
ALTER SUBSCRIPTION partitioned_sub SET (slot_name = NONE);
DROP SUBSCRIPTION partitioned_sub;
UPDATE replicated SET v = v + 1;
SELECT * FROM refresh_all() WHERE st = 'replicated_sum';
UPDATE replicated SET v = v + 1;
SELECT * FROM refresh_all() WHERE st = 'replicated_sum';
SELECT * FROM check_all() WHERE st = 'replicated_sum';
SELECT pgtrickle.drop_stream_table('replicated_sum');

-- Dropping the stream tables takes the triggers off every member.
SELECT pgtrickle.drop_stream_table('partitioned.' || pgt_name) FROM pgtrickle.pgt_stream_tables
WHERE pgt_schema = 'partitioned' ORDER BY pgt_id;
SELECT count(*) AS capture_triggers_left FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'partitioned'::regnamespace AND t.tgname LIKE 'pg\_trickle\_%';
SELECT count(*) AS buffers_left FROM pg_class
WHERE relnamespace = 'pgtrickle_changes'::regnamespace
  AND relname IN ('changes_' || 'sales'::regclass::oid, 'changes_' || 'events'::regclass::oid);

DROP SCHEMA partitioned CASCADE;  -- (file_fdw, created in it, too)
