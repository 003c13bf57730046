-- Fresh extension for this file.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

-- create_stream_table and its variants.
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note varchar(20));
INSERT INTO orders VALUES (1, 'ann', 10.50, 'a'), (2, 'bob', 20.00, NULL), (3, 'ann', 5.25, 'c');

SELECT pgtrickle.create_stream_table('customer_totals',
    'SELECT customer, sum(amount) AS total, count(*) AS n FROM orders GROUP BY customer',
    refresh_mode => 'FULL');
SELECT customer, total, n FROM customer_totals ORDER BY customer;

-- The storage table: __pgt_row_id first, then the query's columns with their types.
SELECT attname, format_type(atttypid, atttypmod), attnotnull
FROM pg_attribute WHERE attrelid = 'customer_totals'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexdef FROM pg_indexes WHERE tablename = 'customer_totals';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'customer_totals'::regclass ORDER BY 1;

-- Catalog row and dependencies.
SELECT pgt_schema, pgt_name, schedule, refresh_mode, effective_refresh_mode, status, is_populated,
       diamond_consistency, diamond_schedule_policy, refresh_tier, data_timestamp IS NOT NULL AS has_ts
FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'customer_totals';
SELECT source_relid::regclass, source_type FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st USING (pgt_id) WHERE st.pgt_name = 'customer_totals';
SELECT name, status, refresh_mode, is_populated, consecutive_errors, schedule FROM pgtrickle.pgt_status();

-- Types and modifiers survive: varchar(20), numeric(10,2), an explicit collation.
SELECT pgtrickle.create_stream_table('typed', 'SELECT id, note, amount, customer COLLATE "C" AS c FROM orders',
    refresh_mode => 'FULL');
SELECT attname, format_type(atttypid, atttypmod), attcollation::regcollation
FROM pg_attribute WHERE attrelid = 'typed'::regclass AND attnum > 1 ORDER BY attnum;

-- AUTO (the default) maintains differentially when it can (the first refresh is FULL), and
-- falls back to FULL with a NOTICE saying why when it cannot.
SELECT pgtrickle.create_stream_table('auto_st', 'SELECT id FROM orders');
SELECT refresh_mode, effective_refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'auto_st';
SELECT pgtrickle.create_stream_table('auto_full', 'SELECT id, now() AS seen_at FROM orders');
SELECT refresh_mode, effective_refresh_mode FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'auto_full';

-- initialize => false: created empty, not populated until the first refresh.
SELECT pgtrickle.create_stream_table('lazy', 'SELECT id FROM orders', refresh_mode => 'FULL', initialize => false, schedule => '1h');
SELECT count(*), (SELECT is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'lazy') FROM lazy;
SELECT pgtrickle.refresh_stream_table('lazy');
SELECT count(*), (SELECT is_populated FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'lazy') FROM lazy;

-- Schedules: durations, cron, aliases, calculated.
SELECT pgtrickle.create_stream_table('s1', 'SELECT 1 AS one', schedule => '30s', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('s2', 'SELECT 1 AS one', schedule => '1h30m', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('s3', 'SELECT 1 AS one', schedule => '*/5 * * * *', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('s4', 'SELECT 1 AS one', schedule => '0 */10 * * * *', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('s5', 'SELECT 1 AS one', schedule => '@hourly', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('s6', 'SELECT 1 AS one', schedule => 'CALCULATED', refresh_mode => 'FULL');
SELECT pgt_name, schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name ~ '^s[0-9]$' ORDER BY 1;

-- if_not_exists: a no-op with an INFO when the name is taken.
SELECT pgtrickle.create_stream_table_if_not_exists('s1', 'SELECT 2 AS two');
SELECT * FROM s1;

-- create_or_replace: same definition = no-op; new query = replaced in place (same pgt_id).
SELECT pgt_id AS s1_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 's1' \gset
SELECT pgtrickle.create_or_replace_stream_table('s1', 'SELECT 1 AS one', schedule => '30s', refresh_mode => 'FULL');
SELECT pgtrickle.create_or_replace_stream_table('s1', 'SELECT 1 AS one, 2 AS two', schedule => '30s', refresh_mode => 'FULL');
SELECT one, two FROM s1;
-- (The rebuilt table's row-id index has the name the table's own would have.)
SELECT indexrelid::regclass AS row_id_index FROM pg_index WHERE indrelid = 's1'::regclass;
SELECT pgt_id = :s1_id AS same_id FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 's1';
SELECT pgtrickle.create_or_replace_stream_table('s1', 'SELECT 1 AS one, 2 AS two', schedule => '5m', refresh_mode => 'FULL');
SELECT schedule FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 's1';
SELECT pgtrickle.create_or_replace_stream_table('brand_new', 'SELECT 3 AS three', refresh_mode => 'FULL');
SELECT * FROM brand_new;

-- Options that are accepted and stored.
SELECT pgtrickle.create_stream_table('opts', 'SELECT 1 AS one', refresh_mode => 'FULL',
    diamond_consistency => 'NONE', cdc_mode => 'trigger', pooler_compatibility_mode => true,
    max_differential_joins => 4, max_delta_fraction => 0.5, storage_backend => 'heap');
SELECT diamond_consistency, requested_cdc_mode, pooler_compatibility_mode, max_differential_joins,
       max_delta_fraction FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'opts';

-- ORDER BY without LIMIT: accepted with a warning; ORDER BY ... LIMIT keeps the top rows.
SELECT pgtrickle.create_stream_table('ordered', 'SELECT id FROM orders ORDER BY id', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('top2', 'SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 2', refresh_mode => 'FULL');
SELECT id, amount FROM top2 ORDER BY amount DESC;
SELECT pgtrickle.create_stream_table('limit_all', 'SELECT id FROM orders LIMIT ALL', refresh_mode => 'FULL');

-- Views and stream tables as sources.
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 6;
SELECT pgtrickle.create_stream_table('from_view', 'SELECT id FROM big_orders', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('from_st', 'SELECT customer FROM customer_totals WHERE n > 1', refresh_mode => 'FULL');
SELECT st.pgt_name, d.source_relid::regclass, d.source_type FROM pgtrickle.pgt_dependencies d
JOIN pgtrickle.pgt_stream_tables st USING (pgt_id) WHERE st.pgt_name IN ('from_view', 'from_st') ORDER BY 1;
SELECT * FROM from_st;
-- SELECT * over a stream table stands for its visible columns: its hidden ones (__pgt_row_id,
-- ...) are left out of the star, and of the stored query. Named explicitly, one is refused.
SELECT pgtrickle.create_stream_table('star_st', 'SELECT * FROM customer_totals', refresh_mode => 'DIFFERENTIAL');
SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'star_st';
SELECT pgtrickle.create_stream_table('star_st2', 'SELECT c.*, 1 AS one FROM customer_totals c WHERE c.n > 1', refresh_mode => 'DIFFERENTIAL');
SELECT attname FROM pg_attribute WHERE attrelid = 'star_st2'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT pgtrickle.create_stream_table('star_st3', 'SELECT c.__pgt_row_id AS x, c.* FROM customer_totals c', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('star_st5', 'SELECT c.__pgt_row_id, c.customer FROM customer_totals c', refresh_mode => 'DIFFERENTIAL');
SELECT pgtrickle.create_stream_table('star_st4', 'SELECT DISTINCT * FROM customer_totals', refresh_mode => 'DIFFERENTIAL');
SELECT defining_query FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'star_st4';
SELECT pgtrickle.drop_stream_table('star_st4');
-- (Only a stream table's hidden columns: a table's own column of such a name is refused.)
CREATE TABLE own_hidden (v int, __pgt_note text);
SELECT pgtrickle.create_stream_table('star_st6', 'SELECT * FROM own_hidden', refresh_mode => 'DIFFERENTIAL');
DROP TABLE own_hidden;
SELECT pgtrickle.drop_stream_table('star_st');
SELECT pgtrickle.drop_stream_table('star_st2');
SELECT pgtrickle.drop_stream_table('star_st3');

-- The stored query is schema-qualified, so a different search_path does not change its meaning.
CREATE SCHEMA other;
CREATE TABLE other.orders (id int);
SET search_path = other, public;
SELECT pgtrickle.refresh_stream_table('public.auto_st');
SELECT count(*) FROM public.auto_st;
RESET search_path;
DROP SCHEMA other CASCADE;
