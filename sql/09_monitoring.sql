-- Scheduling and monitoring: the settings and SQL functions of docs/SCHEDULING.md, with every
-- example the document shows. The scheduler runs while this file does, so every stream table
-- here has a schedule that cannot come due during the run (5m, 1h), or is frozen or suspended,
-- and no output depends on timing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_trickle CASCADE;
DROP ROLE IF EXISTS pgt_monitor_user;
DROP SCHEMA IF EXISTS sales CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_trickle;

-- Wait (at most 10 s) for the scheduler that CREATE EXTENSION wakes.
CREATE FUNCTION wait_for_scheduler() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..100 LOOP
        IF EXISTS (SELECT 1 FROM pg_stat_activity
                   WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database())
        THEN RETURN true; END IF;
        PERFORM pg_sleep(0.1);
        PERFORM pg_stat_clear_snapshot();   -- activity is read once per transaction otherwise
    END LOOP;
    RETURN false;
END $$;
SELECT wait_for_scheduler();
-- docs: the workers in pg_stat_activity (pids vary, so only counted here).
SELECT count(*) > 0 AS workers_listed FROM (
SELECT pid, datname, backend_type, state, query
FROM pg_stat_activity WHERE backend_type LIKE 'pg_trickle%'
) q;

------------------------------------------------------------------------------------------------
-- Settings
------------------------------------------------------------------------------------------------
SHOW pg_trickle.scheduler_interval_ms;
SHOW pg_trickle.tiered_scheduling;
SET pg_trickle.scheduler_interval_ms = 50;       -- out of range (100 .. 600000)
SET pg_trickle.scheduler_interval_ms = '11min';  -- out of range too

-- docs: tick every half second, and pause every scheduler. (Reloading is left to the end of this
-- section, after the RESETs: the other tests here need the scheduler running.)
ALTER SYSTEM SET pg_trickle.scheduler_interval_ms = 500;
ALTER SYSTEM SET pg_trickle.enabled = off;
-- docs: what the configuration files now say.
SELECT name, setting FROM pg_file_settings
WHERE name LIKE 'pg_trickle.%' AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY name;
ALTER SYSTEM RESET pg_trickle.enabled;
ALTER SYSTEM RESET pg_trickle.scheduler_interval_ms;
SELECT name, setting FROM pg_file_settings
WHERE name LIKE 'pg_trickle.%' AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY name;
SELECT pg_reload_conf();

------------------------------------------------------------------------------------------------
-- docs: example data
------------------------------------------------------------------------------------------------
CREATE SCHEMA sales;
SET search_path = sales, public;
CREATE TABLE orders (id int PRIMARY KEY, region text NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'north', 100.00), (2, 'south', 250.00), (3, 'north', 75.50);
CREATE TABLE regions (region text PRIMARY KEY, manager text);
INSERT INTO regions VALUES ('north', 'Ana'), ('south', 'Ben');

SELECT pgtrickle.create_stream_table('region_totals',
    'SELECT region, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY region',
    schedule => '5m', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('big_regions',
    'SELECT t.region, r.manager FROM region_totals t JOIN regions r USING (region)
     WHERE t.revenue > 150',
    schedule => '1h', refresh_mode => 'FULL');
SELECT pgtrickle.create_stream_table('yearly_orders',
    'SELECT count(*) AS orders FROM orders', schedule => '@yearly', refresh_mode => 'FULL');
-- docs: a stream table the scheduler leaves alone (frozen), created empty.
BEGIN;
SELECT pgtrickle.create_stream_table('archive_copy', 'SELECT id, amount FROM orders',
    schedule => '1m', refresh_mode => 'FULL', initialize => false);
SELECT pgtrickle.alter_stream_table('archive_copy', tier => 'frozen');
COMMIT;

INSERT INTO orders VALUES (4, 'south', 20.00);
SELECT pgtrickle.refresh_stream_table('region_totals');
SELECT pgtrickle.refresh_stream_table('big_regions');
SELECT pgtrickle.refresh_stream_table('big_regions');   -- nothing changed: NO_DATA

------------------------------------------------------------------------------------------------
-- health_check, quick_health
------------------------------------------------------------------------------------------------
SELECT check_name, severity FROM pgtrickle.health_check();
SELECT * FROM pgtrickle.quick_health;

------------------------------------------------------------------------------------------------
-- get_staleness
------------------------------------------------------------------------------------------------
SELECT pgtrickle.get_staleness('region_totals') BETWEEN 0 AND 300 AS fresh;
SELECT pgtrickle.get_staleness('archive_copy') IS NULL AS never_refreshed;
SELECT pgtrickle.get_staleness('sales.yearly_orders') >= 0 AS qualified_name_works;
SELECT pgtrickle.get_staleness('no_such_table');

------------------------------------------------------------------------------------------------
-- refresh_timeline
------------------------------------------------------------------------------------------------
SELECT stream_table, action, status, rows_inserted, rows_deleted, duration_ms >= 0 AS timed,
       error_message
FROM pgtrickle.refresh_timeline(4);
SELECT count(*) FROM pgtrickle.refresh_timeline();
SELECT count(*) FROM pgtrickle.refresh_timeline(0);

------------------------------------------------------------------------------------------------
-- st_refresh_stats
------------------------------------------------------------------------------------------------
SELECT pgt_schema, pgt_name, status, refresh_mode, is_populated, total_refreshes,
       successful_refreshes, failed_refreshes, total_rows_inserted, total_rows_deleted,
       avg_duration_ms >= 0 AS timed, last_refresh_action, last_refresh_status,
       last_refresh_at IS NOT NULL AS refreshed, staleness_secs >= 0 AS has_staleness, stale,
       consecutive_errors, schedule, refresh_tier, last_error_message, downstream_publication
FROM pgtrickle.st_refresh_stats();
-- docs
SELECT pgt_name, status, total_refreshes, successful_refreshes, failed_refreshes,
       last_refresh_action, stale, schedule, refresh_tier
FROM pgtrickle.st_refresh_stats();

------------------------------------------------------------------------------------------------
-- pg_stat_stream_tables
------------------------------------------------------------------------------------------------
SELECT pgt_schema, pgt_name, status, is_populated, schedule, stale, total_refreshes,
       successful_refreshes, failed_refreshes, last_action, last_status, cdc_modes, refresh_tier
FROM pgtrickle.pg_stat_stream_tables ORDER BY pgt_id;
-- docs
SELECT pgt_name, status, schedule, stale, total_refreshes, last_action, refresh_tier
FROM pgtrickle.pg_stat_stream_tables ORDER BY pgt_id;

------------------------------------------------------------------------------------------------
-- dependency_tree
------------------------------------------------------------------------------------------------
SELECT tree_line, node_type, depth, status, refresh_mode FROM pgtrickle.dependency_tree();

------------------------------------------------------------------------------------------------
-- A suspended stream table shows up everywhere.
------------------------------------------------------------------------------------------------
SELECT pgtrickle.alter_stream_table('big_regions', status => 'SUSPENDED');
SELECT check_name, severity, detail FROM pgtrickle.health_check()
WHERE check_name IN ('error_tables', 'consecutive_errors');
SELECT total_stream_tables, error_tables, stale_tables, status FROM pgtrickle.quick_health;
SELECT tree_line, status FROM pgtrickle.dependency_tree() WHERE node = 'sales.big_regions';
SELECT pgtrickle.resume_stream_table('big_regions');
SELECT status FROM pgtrickle.quick_health;

------------------------------------------------------------------------------------------------
-- Column types (the compatibility contract).
------------------------------------------------------------------------------------------------
SELECT p.proname, pg_get_function_result(p.oid) AS result,
       pg_get_function_arguments(p.oid) AS arguments
FROM pg_proc p
WHERE p.pronamespace = 'pgtrickle'::regnamespace
  AND p.proname IN ('health_check', 'refresh_timeline', 'st_refresh_stats', 'dependency_tree',
                    'get_staleness', '_signal_launcher_rescan')
ORDER BY 1;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'pgtrickle'::regnamespace
  AND c.relname IN ('pg_stat_stream_tables', 'quick_health') AND a.attnum > 0
ORDER BY c.relname, a.attnum;

------------------------------------------------------------------------------------------------
-- Who may call what: monitoring is for everyone, waking the launcher for superusers.
------------------------------------------------------------------------------------------------
CREATE ROLE pgt_monitor_user;
SET ROLE pgt_monitor_user;
SELECT count(*) FROM pgtrickle.health_check();
SELECT count(*) FROM pgtrickle.dependency_tree();
SELECT total_stream_tables FROM pgtrickle.quick_health;
SELECT pgtrickle._signal_launcher_rescan();
RESET ROLE;
SELECT pgtrickle._signal_launcher_rescan();
DROP ROLE pgt_monitor_user;

------------------------------------------------------------------------------------------------
-- The scheduler stays clear of these stream tables: nothing but the refreshes above happened.
------------------------------------------------------------------------------------------------
SELECT initiated_by, count(*) FROM pgtrickle.pgt_refresh_history GROUP BY 1 ORDER BY 1;

------------------------------------------------------------------------------------------------
-- buffer_growth: more than 10000 changes waiting for a refresh.
------------------------------------------------------------------------------------------------
INSERT INTO orders SELECT g, 'east', 1 FROM generate_series(100, 10100) g;
SELECT check_name, severity, detail FROM pgtrickle.health_check() WHERE check_name = 'buffer_growth';
SELECT pgtrickle.refresh_stream_table(n) FROM unnest(ARRAY['region_totals', 'yearly_orders']) n;
SELECT check_name, severity, detail FROM pgtrickle.health_check() WHERE check_name = 'buffer_growth';

------------------------------------------------------------------------------------------------
-- The workers: the limits as set, no pool (worker_pool_size 0), and 0 for the counters of what
-- this build does not have.
------------------------------------------------------------------------------------------------
SELECT max_workers, per_db_cap, parallel_mode, idle_workers FROM pgtrickle.worker_pool_status();
SELECT active_workers >= 0 AS counted, ring_overflow_count, citus_failure_total
FROM pgtrickle.worker_pool_status();
SELECT check_name, severity, detail ~ '^[0-9]+ of 4 refresh workers busy' AS detail_ok
FROM pgtrickle.health_check() WHERE check_name = 'worker_pool';
