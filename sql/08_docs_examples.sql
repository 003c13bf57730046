SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

-- Every example of docs/SQL_REFERENCE.md, docs/CONFIGURATION.md and docs/DIFFERENTIAL.md, in the
-- order the documents show them. After each example that fails on purpose, the SQLSTATE the
-- documents quote is printed with \echo.
--
-- The background scheduler runs while this file does. Every stream table here therefore has a
-- schedule that cannot come due during the run ('1h' and the like), and nothing printed depends
-- on timing: no timestamps, OIDs or snapshot values (trigger names, which end in an OID, are
-- printed with the OID replaced).
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS shop, team, reports, store CASCADE;
DROP ROLE IF EXISTS pgt_doc_alice;
DROP ROLE IF EXISTS pgt_doc_bob;
DROP EXTENSION IF EXISTS dblink;
RESET client_min_messages;

------------------------------------------------------------------------------------------------
-- SQL_REFERENCE.md: example data
------------------------------------------------------------------------------------------------
CREATE SCHEMA shop;
SET search_path = shop;
CREATE TABLE orders (id int PRIMARY KEY, region text NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'north', 100.00), (2, 'south', 250.00), (3, 'north', 75.50), (4, 'east', 20.00);
CREATE TABLE regions (region text PRIMARY KEY, manager text);
INSERT INTO regions VALUES ('north', 'Ana'), ('south', 'Ben'), ('east', 'Chen');

------------------------------------------------------------------------------------------------
-- create_stream_table
------------------------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('sales_by_region',
    'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY region',
    schedule => '1h');
SELECT region, orders, revenue FROM sales_by_region ORDER BY region;
SELECT refresh_mode, effective_refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'sales_by_region';

-- A stream table may read another one.
SELECT pgtrickle.create_stream_table('region_managers',
    'SELECT r.region, r.manager, s.revenue FROM regions r JOIN sales_by_region s USING (region)',
    schedule => '1h');

-- A FULL stream table: evaluated whole at every refresh.
SELECT pgtrickle.create_stream_table('top2_orders', 'SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 2', schedule => '1h', refresh_mode => 'FULL');
SELECT id, amount FROM top2_orders ORDER BY amount DESC;
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;

-- initialize => false: empty until the first refresh (in one transaction, so that the scheduler
-- never sees it unpopulated).
BEGIN;
SELECT pgtrickle.create_stream_table('order_ids', 'SELECT id FROM orders', schedule => '1h', initialize => false);
SELECT count(*) AS row_count, (SELECT is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'order_ids') FROM order_ids;
SELECT pgtrickle.refresh_stream_table('order_ids');
SELECT count(*) AS row_count, (SELECT is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'order_ids') FROM order_ids;
COMMIT;

-- Errors.
SELECT pgtrickle.create_stream_table('sales_by_region', 'SELECT 1 AS x');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('order_ranks',
    'SELECT o.id, o.xmin AS version FROM orders o', refresh_mode => 'DIFFERENTIAL');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('live_ranks',
    'SELECT o.id, now() AS seen_at FROM orders o', refresh_mode => 'IMMEDIATE');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('any_order', 'SELECT id FROM orders LIMIT 1');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('bad_cols', 'SELECT id, amount AS id FROM orders');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('spread', 'SELECT id FROM orders', partition_by => 'id');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- create_stream_table_if_not_exists
------------------------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table_if_not_exists('sales_by_region', 'SELECT 1 AS x');

------------------------------------------------------------------------------------------------
-- create_or_replace_stream_table
------------------------------------------------------------------------------------------------
SELECT pgtrickle.create_or_replace_stream_table('sales_by_region',
    'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY region',
    schedule => '1h');
SELECT pgtrickle.create_or_replace_stream_table('sales_by_region',
    'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY region',
    schedule => '2h');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'sales_by_region';
SELECT pgtrickle.create_or_replace_stream_table('order_ids', 'SELECT id, amount FROM orders', schedule => '1h');
SELECT count(*) AS row_count FROM order_ids;

------------------------------------------------------------------------------------------------
-- alter_stream_table
------------------------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('sales_by_region', schedule => '1h');
SELECT pgtrickle.alter_stream_table('sales_by_region',
    query => 'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders WHERE amount >= 50 GROUP BY region');
SELECT region, orders, revenue FROM sales_by_region ORDER BY region;
SELECT pgtrickle.alter_stream_table('order_ids', refresh_mode => 'FULL');
SELECT refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'order_ids';
SELECT pgtrickle.alter_stream_table('sales_by_region', status => 'suspended', tier => 'warm');
SELECT schedule, status, refresh_tier FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'sales_by_region';
SELECT pgtrickle.alter_stream_table('top2_orders', query => 'SELECT id, xmin AS version FROM orders', refresh_mode => 'DIFFERENTIAL');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.alter_stream_table('top2_orders', query => 'SELECT id, now() AS seen_at FROM orders', refresh_mode => 'IMMEDIATE');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.alter_stream_table('sales_by_region', query => 'SELECT region, revenue FROM region_managers');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.alter_stream_table('sales_by_region', fuse => 'on');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- drop_stream_table
------------------------------------------------------------------------------------------------
SELECT pgtrickle.create_stream_table('order_count', 'SELECT count(*) AS n FROM order_ids', schedule => '1h');
SELECT pgtrickle.drop_stream_table('order_ids');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.drop_stream_table('order_ids', cascade => true);
SELECT to_regclass('order_ids') AS order_ids, to_regclass('order_count') AS order_count;

------------------------------------------------------------------------------------------------
-- refresh_stream_table
------------------------------------------------------------------------------------------------
INSERT INTO orders VALUES (5, 'east', 60.00);
SELECT pgtrickle.refresh_stream_table('top2_orders');
SELECT pgtrickle.refresh_stream_table('top2_orders');
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('top2_orders');
SELECT pgtrickle.refresh_stream_table('sales_by_region');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.refresh_stream_table('no_such_table');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- resume_stream_table
------------------------------------------------------------------------------------------------
SELECT pgtrickle.resume_stream_table('sales_by_region');
SELECT pgtrickle.refresh_stream_table('sales_by_region');
SELECT region, orders, revenue FROM sales_by_region ORDER BY region;
SELECT pgtrickle.resume_stream_table('sales_by_region');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- pgt_status
------------------------------------------------------------------------------------------------
SELECT name, status, refresh_mode, is_populated, consecutive_errors, schedule FROM pgtrickle.pgt_status();

------------------------------------------------------------------------------------------------
-- get_refresh_history
------------------------------------------------------------------------------------------------
SELECT action, status, rows_inserted, rows_deleted, error_message FROM pgtrickle.get_refresh_history('sales_by_region', 3);

------------------------------------------------------------------------------------------------
-- explain_diff_sql
------------------------------------------------------------------------------------------------
UPDATE orders SET amount = 80.00 WHERE id = 3;
SELECT split_part(pgtrickle.explain_diff_sql('sales_by_region'), ' ', 2) AS first_cte;
SELECT pgtrickle.explain_diff_sql('sales_by_region') LIKE '%pgtrickle_changes.%' AS reads_change_buffers;
SELECT pgtrickle.explain_diff_sql('top2_orders');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- explain_st
------------------------------------------------------------------------------------------------
SELECT property FROM pgtrickle.explain_st('sales_by_region');
SELECT value FROM pgtrickle.explain_st('sales_by_region') WHERE property = 'operator_tree';
SELECT value FROM pgtrickle.explain_st('region_managers') WHERE property = 'operator_tree';
SELECT property, value FROM pgtrickle.explain_st('top2_orders')
WHERE property IN ('refresh_mode', 'dvm_supported', 'dvm_error');
SELECT property, value LIKE '%Execution Time%' AS analyzed
FROM pgtrickle.explain_st('top2_orders', with_analyze => true) WHERE property = 'explain_analyze';
SELECT * FROM pgtrickle.explain_st('no_such_table');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- change_buffer_sizes
------------------------------------------------------------------------------------------------
SELECT stream_table, source_table, cdc_mode, pending_rows FROM pgtrickle.change_buffer_sizes() ORDER BY 1, 2;
SELECT pgtrickle.refresh_stream_table('sales_by_region');
SELECT stream_table, source_table, pending_rows FROM pgtrickle.change_buffer_sizes()
WHERE source_table = 'orders' ORDER BY 1;

------------------------------------------------------------------------------------------------
-- version, parse_duration_seconds, pg_trickle_hash, pg_trickle_hash_multi
------------------------------------------------------------------------------------------------
SELECT pgtrickle.version();
SELECT pgtrickle.parse_duration_seconds('1h30m') AS a, pgtrickle.parse_duration_seconds('2w') AS b,
       pgtrickle.parse_duration_seconds('1d12h') AS c, pgtrickle.parse_duration_seconds('45') AS d;
SELECT pgtrickle.parse_duration_seconds('30m1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.pg_trickle_hash('north') AS h, pgtrickle.pg_trickle_hash(NULL) AS h_null;
SELECT pgtrickle.pg_trickle_hash_multi(ARRAY['north', '42']) AS hm,
       pgtrickle.pg_trickle_hash_multi(ARRAY['ab', 'c']) = pgtrickle.pg_trickle_hash_multi(ARRAY['a', 'bc']) AS same;
SELECT region, __pgt_row_id = pgtrickle.pg_trickle_hash_multi(ARRAY[region]) AS row_id_is_key_hash
FROM sales_by_region ORDER BY region;

------------------------------------------------------------------------------------------------
-- validate_query
------------------------------------------------------------------------------------------------
SELECT * FROM pgtrickle.validate_query('SELECT region, count(*) AS orders, max(amount) AS top FROM orders GROUP BY region');
SELECT * FROM pgtrickle.validate_query('SELECT id, rank() OVER (ORDER BY amount DESC) AS rank FROM orders');
SELECT * FROM pgtrickle.validate_query('SELECT id, now() AS seen_at FROM orders');
SELECT * FROM pgtrickle.validate_query('SELECT region, sum(amount) AS revenue FROM orders GROUP BY region HAVING sum(amount) > (SELECT avg(amount) FROM orders)');

------------------------------------------------------------------------------------------------
-- stream_tables_info and the catalog tables
------------------------------------------------------------------------------------------------
SELECT pgt_name, schedule, stale, is_topk FROM pgtrickle.stream_tables_info ORDER BY pgt_id;
SELECT pgt_name, refresh_mode, effective_refresh_mode, frontier IS NOT NULL AS has_frontier
FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;
SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'region_managers';
SELECT st.pgt_name, d.source_relid::regclass AS source, d.source_type, d.columns_used
FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
ORDER BY st.pgt_name, d.source_relid::regclass::text;
SELECT initiated_by, action, status, count(*) FROM pgtrickle.pgt_refresh_history GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

------------------------------------------------------------------------------------------------
-- Storage tables
------------------------------------------------------------------------------------------------
SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = 'sales_by_region'::regclass AND attnum > 0 ORDER BY attnum;
SELECT region, orders, revenue, __pgt_count, __pgt_aux_count_1, __pgt_aux_sum_1 FROM sales_by_region ORDER BY region;
SELECT indexdef FROM pg_indexes WHERE tablename IN ('sales_by_region', 'region_managers', 'top2_orders') ORDER BY tablename;
SELECT regexp_replace(tgname, '[0-9]+$', '<oid>') AS trigger FROM pg_trigger
WHERE tgrelid = 'sales_by_region'::regclass ORDER BY 1;
DELETE FROM sales_by_region WHERE region = 'east';
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
CREATE INDEX sales_by_region_revenue_idx ON sales_by_region (revenue);

------------------------------------------------------------------------------------------------
-- Change capture
------------------------------------------------------------------------------------------------
SELECT regexp_replace(tgname, '[0-9]+$', '<oid>') AS trigger, tgenabled FROM pg_trigger
WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = ('pgtrickle_changes.changes_' || 'orders'::regclass::oid)::regclass AND attnum > 0
ORDER BY attnum;
CREATE TABLE notes (id int PRIMARY KEY, body text);
SELECT pgtrickle.create_stream_table('note_ids', 'SELECT id FROM notes', schedule => '1h');
SELECT count(*) AS capture_triggers,
       to_regclass('pgtrickle_changes.changes_' || 'notes'::regclass::oid) IS NOT NULL AS has_buffer
FROM pg_trigger WHERE tgrelid = 'notes'::regclass AND tgname LIKE 'pg_trickle_cdc_%';
SELECT pgtrickle.drop_stream_table('note_ids');
SELECT count(*) AS capture_triggers,
       to_regclass('pgtrickle_changes.changes_' || 'notes'::regclass::oid) IS NOT NULL AS has_buffer
FROM pg_trigger WHERE tgrelid = 'notes'::regclass AND tgname LIKE 'pg_trickle_cdc_%';
DROP TABLE notes;

------------------------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------------------------
CREATE SCHEMA reports;
SELECT pgtrickle.create_stream_table('Reports.RegionList', 'SELECT DISTINCT region FROM orders', schedule => '1h');
SELECT pgtrickle.create_stream_table('reports."Region List"', 'SELECT DISTINCT region FROM orders', schedule => '1h');
SELECT pgt_schema, pgt_name FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'reports' ORDER BY pgt_name;
SELECT pgtrickle.refresh_stream_table('REPORTS.REGIONLIST');
SELECT pgtrickle.refresh_stream_table('regionlist');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.refresh_stream_table('reports.Region List');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.drop_stream_table('reports."Region List"');
SELECT pgtrickle.drop_stream_table('reports.regionlist');
DROP SCHEMA reports;

------------------------------------------------------------------------------------------------
-- Schedules
------------------------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '1h30m');
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '*/15 * * * *');
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '30 0 9-17 * * mon-fri');
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '@daily');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'top2_orders';
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => 'calculated');
SELECT schedule IS NULL AS is_calculated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'top2_orders';
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '1h');
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '0 24 * * *');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.alter_stream_table('top2_orders', schedule => '@reboot');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('no_schedule', 'SELECT 1 AS one', schedule => NULL);
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------------------------
CREATE ROLE pgt_doc_alice;
CREATE ROLE pgt_doc_bob;
CREATE SCHEMA team AUTHORIZATION pgt_doc_alice;
GRANT USAGE ON SCHEMA team TO pgt_doc_bob;
GRANT USAGE ON SCHEMA shop TO pgt_doc_alice, pgt_doc_bob;
GRANT SELECT ON orders TO pgt_doc_alice;
SET ROLE pgt_doc_alice;
SELECT pgtrickle.create_stream_table('team.managers', 'SELECT region, manager FROM regions', schedule => '1h');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('team.region_totals',
    'SELECT region, sum(amount) AS total FROM orders GROUP BY region', schedule => '1h', refresh_mode => 'FULL');
SELECT relowner::regrole AS owner FROM pg_class WHERE oid = 'team.region_totals'::regclass;
RESET ROLE;
SET ROLE pgt_doc_bob;
SELECT pgtrickle.refresh_stream_table('team.region_totals');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT region, total FROM team.region_totals ORDER BY region;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON team.region_totals TO pgt_doc_bob;
SET ROLE pgt_doc_bob;
SELECT region, total FROM team.region_totals ORDER BY region;
RESET ROLE;
REVOKE SELECT ON orders FROM pgt_doc_alice;
INSERT INTO orders VALUES (6, 'south', 30.00);
SELECT pgtrickle.refresh_stream_table('team.region_totals');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
GRANT SELECT ON orders TO pgt_doc_alice;
SELECT pgtrickle.refresh_stream_table('team.region_totals');
SET ROLE pgt_doc_alice;
SELECT pgtrickle.drop_stream_table('team.region_totals');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- DDL tracking
------------------------------------------------------------------------------------------------
CREATE TABLE returns (order_id int PRIMARY KEY, reason text);
INSERT INTO returns VALUES (2, 'damaged');
SELECT pgtrickle.create_stream_table('returned_orders',
    'SELECT o.id, o.region, r.reason FROM orders o JOIN returns r ON r.order_id = o.id', schedule => '1h');
SELECT pgtrickle.create_stream_table('returns_by_region',
    'SELECT region, count(*) AS n FROM returned_orders GROUP BY region', schedule => '1h');
DROP TABLE returns;
SELECT pgt_name, status, last_error_message FROM pgtrickle.pgt_stream_tables
WHERE pgt_name IN ('returned_orders', 'returns_by_region') ORDER BY pgt_name;
SELECT pgtrickle.refresh_stream_table('returned_orders');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT count(*) FROM returned_orders;
SELECT pgtrickle.resume_stream_table('returned_orders');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
CREATE TABLE returns (order_id int PRIMARY KEY, reason text);
INSERT INTO returns VALUES (2, 'damaged'), (6, 'late');
SELECT pgtrickle.resume_stream_table('returned_orders');
SELECT pgtrickle.resume_stream_table('returns_by_region');
SELECT name, status FROM pgtrickle.pgt_status() WHERE name LIKE 'shop.return%';
SELECT region, n FROM returns_by_region ORDER BY region;
ALTER TABLE returns DROP COLUMN reason;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
ALTER TABLE returns ADD COLUMN noted_at timestamptz;
DROP TABLE top2_orders;
SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'top2_orders';
ALTER TABLE returned_orders RENAME TO orders_returned;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
ALTER TABLE returns_by_region RENAME TO region_returns;
SELECT pgtrickle.refresh_stream_table('region_returns');
SELECT name FROM pgtrickle.pgt_status() WHERE name LIKE 'shop.%return%';
SELECT name FROM pgtrickle.pgt_status();
DROP EXTENSION pg_trickle;
SELECT relname FROM pg_class WHERE relnamespace = 'shop'::regnamespace AND relkind = 'r' ORDER BY relname;
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgname LIKE 'pg_trickle_cdc_%';
-- Not an example: reinstall for the configuration examples. CREATE EXTENSION records the first
-- schema of search_path as the extension's schema, so run it outside schema shop.
RESET search_path;
CREATE EXTENSION pg_trickle;
SET search_path = shop;

------------------------------------------------------------------------------------------------
-- CONFIGURATION.md
------------------------------------------------------------------------------------------------
SHOW pg_trickle.enabled;
SHOW pg_trickle.min_schedule_seconds;
SHOW pg_trickle.default_schedule_seconds;
SHOW pg_trickle.max_consecutive_errors;
SHOW pg_trickle.differential_max_change_ratio;
SELECT name, setting, unit, vartype, context, min_val, max_val, boot_val
FROM pg_settings WHERE name LIKE 'pg_trickle.%' ORDER BY name;
SET pg_trickle.min_schedule_seconds = '1min';
SHOW pg_trickle.min_schedule_seconds;
SELECT pgtrickle.create_stream_table('order_total', 'SELECT sum(amount) AS total FROM orders', schedule => '10s');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT pgtrickle.create_stream_table('order_total', 'SELECT sum(amount) AS total FROM orders', schedule => '5m');
RESET pg_trickle.min_schedule_seconds;
SET pg_trickle.differential_max_change_ratio = 0;
SHOW pg_trickle.differential_max_change_ratio;
RESET pg_trickle.differential_max_change_ratio;
SET pg_trickle.differential_max_change_ratio = 1.5;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SET pg_trickle.max_consecutive_errors = 0;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SET pg_trickle.schedule_seconds = 5;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SET ROLE pgt_doc_bob;
SET pg_trickle.enabled = off;
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SET ON PARAMETER pg_trickle.enabled TO pgt_doc_bob;
SET ROLE pgt_doc_bob;
SET pg_trickle.enabled = off;
SHOW pg_trickle.enabled;
RESET pg_trickle.enabled;
RESET ROLE;
REVOKE SET ON PARAMETER pg_trickle.enabled FROM pgt_doc_bob;
SET pg_trickle.verify_deltas = on;
SHOW pg_trickle.verify_deltas;
RESET pg_trickle.verify_deltas;
-- Not an example: clean up before DIFFERENTIAL.md.
SELECT pgtrickle.drop_stream_table('order_total');
DROP TABLE orders, regions, returns;
DROP SCHEMA shop;
DROP SCHEMA team;

------------------------------------------------------------------------------------------------
-- DIFFERENTIAL.md
------------------------------------------------------------------------------------------------
CREATE SCHEMA store;
SET search_path = store;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2) NOT NULL,
                     placed_at timestamptz NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g, (ARRAY['DE', 'FR', 'NL'])[1 + g % 3]
FROM generate_series(1, 30) g;
INSERT INTO orders SELECT g, 1 + g % 30, 10 + (g % 50) * 2.5, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour'
FROM generate_series(1, 600) g;
ANALYZE customers, orders;

SELECT pgtrickle.create_stream_table('country_revenue',
    'SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue, avg(o.amount) AS avg_amount
     FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.country',
    schedule => '1h');
SELECT pgtrickle.create_stream_table('big_orders',
    'SELECT o.id, c.name, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.amount >= 130',
    schedule => '1h');
SELECT pgtrickle.create_stream_table('busy_customers',
    'SELECT customer_id, count(*) AS orders, max(amount) AS largest FROM orders
     GROUP BY customer_id HAVING count(*) > 20',
    schedule => '1h');
SELECT pgtrickle.create_stream_table('order_totals',
    'SELECT count(*) AS orders, sum(amount) AS revenue FROM orders', schedule => '1h');
SELECT pgt_name, refresh_mode FROM pgtrickle.pgt_stream_tables ORDER BY pgt_id;
SELECT country, orders, revenue, avg_amount FROM country_revenue ORDER BY country;
SELECT count(*) AS big_orders FROM big_orders;
SELECT count(*) AS busy_customers FROM busy_customers;
SELECT st.pgt_name, e.value AS operator_tree
FROM pgtrickle.pgt_stream_tables st, LATERAL pgtrickle.explain_st(st.pgt_name) e
WHERE e.property = 'operator_tree' ORDER BY st.pgt_id;

-- A few changes: only they are applied.
INSERT INTO orders VALUES (601, 3, 99.00, '2024-02-01 10:00+00');
UPDATE orders SET amount = 135.00 WHERE id = 10;
DELETE FROM orders WHERE id = 20;
UPDATE customers SET country = 'NL' WHERE id = 7;
SELECT pgtrickle.refresh_stream_table('country_revenue');
SELECT pgtrickle.refresh_stream_table('big_orders');
SELECT pgtrickle.refresh_stream_table('busy_customers');
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT st.pgt_name, h.action, h.rows_inserted, h.rows_deleted
FROM pgtrickle.pgt_stream_tables st,
     LATERAL pgtrickle.get_refresh_history(st.pgt_name, 1) h
ORDER BY st.pgt_id;
SELECT country, orders, revenue, avg_amount FROM country_revenue ORDER BY country;
SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue, avg(o.amount) AS avg_amount
FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.country ORDER BY c.country;
SELECT customer_id, orders, largest FROM busy_customers;
SELECT orders, revenue FROM order_totals;

-- Nothing changed: nothing to do.
SELECT pgtrickle.refresh_stream_table('country_revenue');
SELECT action FROM pgtrickle.get_refresh_history('country_revenue', 1);

-- Algebraic state.
SELECT country, orders, __pgt_count, __pgt_aux_count_1, __pgt_aux_sum_1 FROM country_revenue ORDER BY country;

-- Top-K.
CREATE TABLE scores (player text PRIMARY KEY, points int NOT NULL);
INSERT INTO scores SELECT 'p' || g, g * 7 % 101 FROM generate_series(1, 1000) g;
SELECT pgtrickle.create_stream_table('leaders',
    'SELECT player, points FROM scores ORDER BY points DESC, player LIMIT 3', schedule => '1h');
UPDATE scores SET points = points + 1 WHERE player = 'p500';   -- below the top: delta only
UPDATE scores SET points = 200 WHERE player = 'p7';            -- enters the top
SELECT pgtrickle.refresh_stream_table('leaders');
SELECT player, points FROM leaders ORDER BY points DESC, player;
SELECT value FROM pgtrickle.explain_st('leaders') WHERE property = 'operator_tree';
-- Not an example: the stream tables listed below are those of the examples before.
SELECT pgtrickle.drop_stream_table('leaders');
DROP TABLE scores;

-- AUTO and DIFFERENTIAL with a query outside the supported set.
SELECT pgtrickle.create_stream_table('order_ranks',
    'SELECT id, customer_id, xmin AS version FROM orders',
    schedule => '1h');
SELECT pgtrickle.create_stream_table('ranked_orders',
    'SELECT id, xmin AS version FROM orders', refresh_mode => 'DIFFERENTIAL');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

-- A large change: FULL is cheaper.
UPDATE orders SET amount = amount + 1;
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT action, was_full_fallback FROM pgtrickle.pgt_refresh_history
WHERE pgt_id = (SELECT pgt_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'order_totals')
ORDER BY refresh_id DESC LIMIT 1;

-- A late-committing writer is not skipped. The second session is played by dblink here.
CREATE EXTENSION dblink;
SELECT dblink_connect('writer', format('dbname=%s host=%s port=%s user=%s', current_database(),
       split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'),
       current_user));
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'INSERT INTO store.orders VALUES (700, 1, 50.00, ''2024-03-01 12:00+00'')');
INSERT INTO orders VALUES (701, 2, 25.00, '2024-03-01 12:05+00');
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT orders FROM order_totals;
SELECT dblink_exec('writer', 'COMMIT');
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT orders FROM order_totals;
SELECT count(*) AS orders FROM orders;
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('order_totals', 2);
SELECT dblink_disconnect('writer');
DROP EXTENSION dblink;

-- Buffers are consumed only when the refresh commits.
DELETE FROM orders WHERE id IN (700, 701);
BEGIN;
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT orders FROM order_totals;
ROLLBACK;
SELECT orders FROM order_totals;
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT orders FROM order_totals;
SELECT action FROM pgtrickle.get_refresh_history('order_totals', 1);

-- Writes and the refresh in one transaction; later writes wait for the next refresh.
BEGIN;
INSERT INTO orders VALUES (702, 4, 10.00, '2024-03-02 09:00+00');
SELECT pgtrickle.refresh_stream_table('order_totals');
INSERT INTO orders VALUES (703, 4, 10.00, '2024-03-02 09:30+00');
COMMIT;
SELECT orders FROM order_totals;
SELECT pgtrickle.refresh_stream_table('order_totals');
SELECT orders FROM order_totals;

-- Duplicates in a table without a primary key.
CREATE TABLE scans (sku text, qty int);
INSERT INTO scans VALUES ('apple', 1), ('apple', 1), ('pear', 2);
SELECT pgtrickle.create_stream_table('apple_scans', 'SELECT sku, qty FROM scans WHERE sku = ''apple''', schedule => '1h');
DELETE FROM scans WHERE ctid = (SELECT min(ctid) FROM scans WHERE sku = 'apple');
INSERT INTO scans VALUES ('apple', 1), ('apple', 1);
SELECT pgtrickle.refresh_stream_table('apple_scans');
SELECT sku, qty, count(*) AS copies FROM apple_scans GROUP BY sku, qty;
SELECT action FROM pgtrickle.get_refresh_history('apple_scans', 1);

-- Refreshes compute in UTC. (Not an example: pg_regress runs psql with DateStyle 'Postgres, MDY';
-- the document shows dates in PostgreSQL's default ISO style.)
SET DateStyle = 'ISO, MDY';
CREATE TABLE visits (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO visits VALUES (1, '2024-03-01 23:30+00'), (2, '2024-03-02 00:30+00');
SET TimeZone = 'America/New_York';
SELECT pgtrickle.create_stream_table('visits_per_day',
    'SELECT at::date AS day, count(*) AS visits FROM visits GROUP BY 1', schedule => '1h');
SELECT day, visits FROM visits_per_day ORDER BY day;
SELECT at::date AS day, count(*) AS visits FROM visits GROUP BY 1 ORDER BY 1;
RESET TimeZone;
RESET DateStyle;

-- What a refresh does.
SELECT st.pgt_name, h.action, h.rows_inserted, h.rows_deleted
FROM pgtrickle.pgt_stream_tables st,
     LATERAL pgtrickle.get_refresh_history(st.pgt_name, 1) h
WHERE st.pgt_name IN ('country_revenue', 'order_totals', 'order_ranks') ORDER BY st.pgt_id;
UPDATE orders SET amount = 12.50 WHERE id = 1;
SELECT source_table, pending_rows FROM pgtrickle.change_buffer_sizes()
WHERE stream_table = 'store.order_totals';
SELECT pgtrickle.explain_diff_sql('order_totals') LIKE '%pgtrickle_changes.%' AS reads_change_buffers;
SELECT property, value FROM pgtrickle.explain_st('order_ranks') WHERE property LIKE 'dvm%';
SELECT pgtrickle.explain_diff_sql('order_ranks');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE

-- Switching modes.
SELECT pgtrickle.alter_stream_table('big_orders', refresh_mode => 'FULL');
SELECT pgtrickle.alter_stream_table('big_orders', refresh_mode => 'AUTO');
SELECT refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'big_orders';

------------------------------------------------------------------------------------------------
-- Clean up.
------------------------------------------------------------------------------------------------
DROP EXTENSION pg_trickle;
SET client_min_messages = warning;
DROP SCHEMA store CASCADE;
RESET client_min_messages;
RESET search_path;
DROP ROLE pgt_doc_alice;
DROP ROLE pgt_doc_bob;
CREATE EXTENSION pg_trickle;
SELECT count(*) AS stream_tables_left FROM pgtrickle.pgt_stream_tables;
