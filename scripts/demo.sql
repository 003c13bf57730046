-- Demo schema: sales, and stream tables over them that the scheduler keeps fresh.
CREATE EXTENSION pg_trickle;

CREATE TABLE regions (region text PRIMARY KEY, manager text NOT NULL);
CREATE TABLE sales (
    id      bigserial PRIMARY KEY,
    region  text NOT NULL REFERENCES regions,
    amount  numeric(12,2) NOT NULL,
    sold_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO regions VALUES ('north', 'Ada'), ('south', 'Grace'), ('east', 'Edsger'), ('west', 'Barbara');
INSERT INTO sales (region, amount)
SELECT (ARRAY['north','south','east','west'])[1 + i % 4], round((random() * 500)::numeric, 2)
FROM generate_series(1, 1000) AS i;

-- Maintained differentially (AUTO picks DIFFERENTIAL): only what changed is applied.
SELECT pgtrickle.create_stream_table('sales_by_region',
    $$SELECT region, count(*) AS orders, sum(amount) AS revenue FROM sales GROUP BY region$$,
    schedule => '1s');

-- A stream table reading a stream table: refreshed after it, in the same tick.
SELECT pgtrickle.create_stream_table('manager_revenue',
    $$SELECT r.manager, s.revenue FROM sales_by_region s JOIN regions r USING (region)$$);

\echo
\echo Stream tables:
SELECT name, status, refresh_mode, is_populated, schedule FROM pgtrickle.pgt_status();
\echo sales_by_region:
SELECT region, orders, revenue FROM sales_by_region ORDER BY region;

\echo A sale in the north; the scheduler picks it up within about a second:
INSERT INTO sales (region, amount) VALUES ('north', 1000);
SELECT pg_sleep(2.5);
SELECT region, orders, revenue FROM sales_by_region WHERE region = 'north';
SELECT manager, revenue FROM manager_revenue WHERE manager = 'Ada';
\echo How it was refreshed:
SELECT action, rows_inserted, rows_deleted FROM pgtrickle.get_refresh_history('sales_by_region', 1);
